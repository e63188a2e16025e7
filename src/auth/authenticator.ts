/**
 * Pod identity + ServiceAccount JWT → Vault token, cached per Vault identity.
 *
 * The cache key holds everything that decides which identity Vault grants: the connection (address, namespace,
 * auth mount, TLS), the role, the pod's namespace and ServiceAccount, the audience — and the pod the JWT is bound to
 * (or "unbound"). A JWT auth role can bind any claim (`bound_claims` on `/kubernetes.io/pod/uid`, a `user_claim` of
 * the pod name) and so tell pods apart, and the provider cannot learn which kind of method an auth mount is: real
 * Vault's login answer has an empty `mount_type` (Vault v1.21, test/real/suite/identity.real.ts), and `sys/auth` is
 * not the pod's to read. So a token earned with one pod's JWT never serves another pod's mount, whatever the method:
 * one login per pod per token lifetime, not per mount (SECURITY.md, "Whose token a mount uses").
 *
 * The other auth methods (approle, userpass, cert: vaultAuthMethod) log in with credentials from the volume's
 * nodePublishSecretRef instead of the pod's token. Their tokens are keyed by an HMAC-SHA256 of those credentials
 * under a key drawn at random when the process starts: a token is shared only by mounts that present the very same
 * credentials (and connection, ServiceAccount and role) — Vault grants the same to anyone holding them — the key
 * reveals nothing of them, and it means nothing to another process.
 *
 * A token is reused until RENEW_FRACTION of its lease has passed; concurrent mounts needing the same login share
 * one request (single-flight). Before a pod-token login the driver's token must be the pod's own (jwt-claims.ts).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { ProviderError } from '../errors.js';
import { usesPodToken, type AuthConfig, type ConnectionSettings, type MountConfig, type PodInfo, type PodTokenMethod } from '../config/types.js';
import type { LoginRequest, VaultClient } from '../vault/client.js';
import { Lru } from '../shared/lru.js';
import { SingleFlight } from '../shared/single-flight.js';
import { checkOwnToken } from './jwt-claims.js';
import { credentialLogin, podTokenLogin } from './login-request.js';
import { systemClock, type Clock } from '../shared/clock.js';

/** What the token cache may hold per entry it may keep (`--cache-size`), keys included. */
export const TOKEN_CACHE_BYTES_PER_ENTRY = 4096;

/**
 * Where a ServiceAccount JWT comes from when the driver sent none (no `tokenRequests` in the CSIDriver): the
 * TokenRequest API, asked for a token bound to the requesting pod. Implemented in src/kubernetes/.
 */
export interface ServiceAccountTokenRequester {
  /** A pod-bound JWT for `audience`, valid for about 15 minutes. Sensitive: never log the result. */
  requestToken(pod: PodInfo, audience: string, signal?: AbortSignal): Promise<string>;
}

/** A cached token is replaced once this fraction of its lease has passed. */
const RENEW_FRACTION = 0.8;

export interface VaultToken {
  /** Sensitive: never log. */
  readonly token: string;
  readonly identityKey: string;
  /** What `credentialScope: workload` shares by: the identity without the pod when servesWorkload, else identityKey. */
  readonly workloadKey: string;
  /** Unique to this token in this process: names it in other caches (leases it obtained) without holding it. */
  readonly serial: number;
  readonly obtainedAt: number;
  /** Infinity for a token without a lease. */
  readonly expiresAt: number;
  /** After this instant a new login is made before the next read. */
  readonly refreshAt: number;
}

/** A token and whether it came from the cache (a 403 on a cached token makes the provider ask Vault about it). */
export interface TokenLease {
  readonly token: VaultToken;
  readonly cached: boolean;
  /** The pod UID what this mount obtains may be kept for; '' for a driver token bound to no pod (the sync controller's). */
  readonly holder: string;
}

/** A cached token as the kept state (src/state/) stores it. Sensitive: never log. */
export interface KeptToken {
  readonly key: string;
  readonly workloadKey: string;
  readonly token: string;
  readonly obtainedAt: number;
  /** Infinity for a token without a lease. */
  readonly expiresAt: number;
  readonly serial: number;
  readonly lastUsed: number;
}

/** What a restore made of a snapshot's tokens, by their serial in the snapshot. */
export interface TokenRestore {
  /** Snapshot serial → serial here, for each token now cached (taken, or the very token already cached). */
  readonly serials: ReadonlyMap<number, number>;
  /** Tokens Vault said are dead in this process: neither they nor what they obtained may come back. */
  readonly refused: ReadonlySet<number>;
  readonly taken: number;
}

type CredentialAuth = Exclude<AuthConfig, { method: PodTokenMethod }>;

interface LoginPlan {
  readonly key: string;
  readonly holder: string;
  readonly login: (key: string, signal: AbortSignal | undefined) => Promise<VaultToken>;
}

function credentialValues(auth: CredentialAuth): readonly string[] {
  switch (auth.method) {
    case 'approle':
      return [auth.roleId.reveal(), auth.secretId.reveal()];
    case 'userpass':
      return [auth.username, auth.password.reveal()];
    case 'cert':
      return [auth.certificate.reveal(), auth.key.reveal()];
  }
}

export interface AuthenticatorOptions {
  readonly cacheSize: number;
  /** Upper bound on the bytes of cached tokens and their keys (default: 4 KiB per entry of `cacheSize`). */
  readonly cacheBytes?: number;
  readonly now?: Clock['now'];
  /** Undefined outside a cluster or without --token-request-fallback: then a mount without a driver token fails with TOKEN_UNAVAILABLE. */
  readonly tokenRequester?: ServiceAccountTokenRequester;
  readonly onLogin?: (outcome: 'ok' | 'error') => void;
  readonly onCache?: (event: 'hit' | 'miss' | 'eviction') => void;
}

/** Who a login speaks for, beyond the ServiceAccount: the pod the JWT is bound to, or `unbound` for an unbound token. */
type Binding = `pod:${string}` | 'unbound';

export function identityKey(mount: MountConfig, settings: ConnectionSettings, binding: Binding | 'workload'): string {
  return JSON.stringify([settings.key, mount.roleName, mount.pod.namespace, mount.pod.serviceAccountName, mount.audience, binding]);
}

/**
 * Whether Vault established this login as the pod's ServiceAccount through Kubernetes auth (only that plugin reports
 * `service_account_*`), so every pod of it is one identity and may share a `credentialScope: workload` credential.
 * Under JWT auth a role may tell pods apart (issue 19, class 10).
 */
export function servesWorkload(mount: MountConfig, metadata: Readonly<Record<string, string>>): boolean {
  return (
    mount.auth.method === 'kubernetes' &&
    (metadata['service_account_uid'] ?? '') !== '' &&
    metadata['service_account_name'] === mount.pod.serviceAccountName &&
    metadata['service_account_namespace'] === mount.pod.namespace
  );
}

export class Authenticator {
  readonly #cache: Lru<VaultToken>;
  /** Key of the credential digests: random per process, or derived from the HMAC key with kept state. */
  #digestKey = randomBytes(32);
  /** When each cached token last served a mount: the kept state's idle bound. */
  readonly #lastUsed = new WeakMap<VaultToken, number>();
  /** Tokens Vault said are dead, by digest: a kept state read later must not bring them back. */
  readonly #dropped: Lru<true>;
  /** Counts every change of the cache (not uses): the kept state writes when it moved. */
  #generation = 0;
  /** Concurrent logins for one identity share one request; each caller's own signal bounds only its own wait. */
  readonly #logins = new SingleFlight<VaultToken>();
  /** Concurrent questions about one token (is it alive?) share one lookup-self. */
  readonly #lookups = new SingleFlight<'alive' | 'dead'>();
  readonly #options: AuthenticatorOptions;
  readonly #now: Clock['now'];
  #nextSerial = 1;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#now = options.now ?? systemClock.now;
    this.#cache = new Lru<VaultToken>({
      maxEntries: options.cacheSize,
      // Keys hold names the SecretProviderClass chooses, so entries are bounded in bytes as well as in number.
      maxBytes: options.cacheBytes ?? options.cacheSize * TOKEN_CACHE_BYTES_PER_ENTRY,
      sizeOf: (t) => Buffer.byteLength(t.identityKey) + Buffer.byteLength(t.token) + 64,
      now: this.#now,
      onEvict: (_k, _v, reason) => {
        this.#generation++;
        if (reason !== 'deleted') options.onCache?.('eviction');
      },
    });
    this.#dropped = new Lru<true>({ maxEntries: options.cacheSize, now: this.#now });
  }

  get generation(): number {
    return this.#generation;
  }

  /** Only while nothing is cached, so that no cached key changes meaning. */
  adoptCredentialDigestKey(key: Buffer): boolean {
    if (this.#cache.size > 0) return false;
    this.#digestKey = Buffer.from(key);
    return true;
  }

  snapshot(): KeptToken[] {
    const now = this.#now();
    const out: KeptToken[] = [];
    for (const [key, t] of this.#cache.entries()) {
      if (!(now < t.refreshAt)) continue;
      out.push({ key, workloadKey: t.workloadKey, token: t.token, obtainedAt: t.obtainedAt, expiresAt: t.expiresAt, serial: t.serial, lastUsed: this.#lastUsed.get(t) ?? t.obtainedAt });
    }
    return out;
  }

  /** Takes back a snapshot's tokens; a cached key keeps its own, and expired or dead ones are left out. */
  restore(tokens: readonly KeptToken[]): TokenRestore {
    const now = this.#now();
    const serials = new Map<number, number>();
    const refused = new Set<number>();
    let taken = 0;
    for (const k of tokens) {
      if (this.#dropped.get(digestOf(k.token)) !== undefined) {
        refused.add(k.serial);
        continue;
      }
      const cached = this.#cache.get(k.key);
      if (cached?.token === k.token) {
        serials.set(k.serial, cached.serial);
        continue;
      }
      if (cached !== undefined && now < cached.refreshAt) continue;
      const life = k.expiresAt - k.obtainedAt;
      const refreshAt = Number.isFinite(k.expiresAt) ? k.obtainedAt + life * RENEW_FRACTION : Number.POSITIVE_INFINITY;
      if (!(life > 0) || !(now < refreshAt)) continue;
      const token: VaultToken = { token: k.token, identityKey: k.key, workloadKey: k.workloadKey, serial: this.#nextSerial++, obtainedAt: k.obtainedAt, expiresAt: k.expiresAt, refreshAt };
      this.#cache.set(k.key, token, Number.isFinite(k.expiresAt) ? k.expiresAt - now : undefined);
      if (this.#cache.get(k.key) !== token) continue;
      this.#generation++;
      this.#lastUsed.set(token, k.lastUsed);
      serials.set(k.serial, token.serial);
      taken++;
    }
    return { serials, refused, taken };
  }

  get cachedTokens(): number {
    return this.#cache.size;
  }

  /** A driver token that is not the pod's own is refused first, whatever is cached (FOREIGN_TOKEN). */
  async token(client: VaultClient, mount: MountConfig, signal?: AbortSignal): Promise<TokenLease> {
    const plan = this.#plan(client, mount);
    const cached = this.#cache.get(plan.key);
    if (cached !== undefined && this.#now() < cached.refreshAt) {
      this.#lastUsed.set(cached, this.#now());
      this.#options.onCache?.('hit');
      return { token: cached, cached: true, holder: plan.holder };
    }
    this.#options.onCache?.('miss');
    return { token: await plan.login(plan.key, signal), cached: false, holder: plan.holder };
  }

  #plan(client: VaultClient, mount: MountConfig): LoginPlan {
    const auth = mount.auth;
    if (usesPodToken(auth)) {
      const own = this.#ownBinding(mount);
      return {
        key: identityKey(mount, client.settings, own),
        holder: own === 'unbound' ? '' : own.slice('pod:'.length),
        login: (key, signal) => this.#login(client, mount, key, signal),
      };
    }
    const digest = createHmac('sha256', this.#digestKey)
      .update(JSON.stringify([auth.method, mount.roleName, ...credentialValues(auth)]))
      .digest('base64url');
    const key = JSON.stringify([client.settings.key, auth.method, mount.pod.namespace, mount.pod.serviceAccountName, `credentials:${digest}`]);
    return {
      key,
      // The kubelet's pod UID: these methods are used from pods (the sync controller sends no nodePublishSecretRef).
      holder: mount.pod.uid,
      login: (k, signal) => this.#logins.run(k, (shared) => this.#credentialLogin(client, mount, auth, k, shared), signal),
    };
  }

  /** `lookup-self` decides: 403 means Vault no longer knows the token; other failures throw, nothing dropped on a guess. */
  async verify(client: VaultClient, token: VaultToken, signal?: AbortSignal): Promise<'alive' | 'dead'> {
    const state = await this.#lookups.run(
      `${token.serial}`,
      async (shared) => {
        try {
          await client.lookupSelf(token.token, shared);
          return 'alive' as const;
        } catch (err: unknown) {
          if (err instanceof ProviderError && err.code === 'PERMISSION_DENIED') return 'dead' as const;
          throw err;
        }
      },
      signal,
    );
    if (state === 'dead') {
      this.#dropped.set(digestOf(token.token), true, Number.isFinite(token.expiresAt) ? Math.max(token.expiresAt - this.#now(), 1) : undefined);
      if (this.#cache.get(token.identityKey)?.serial === token.serial) this.#cache.delete(token.identityKey);
    }
    return state;
  }

  /** After Vault said `rejected` is dead: one shared new login, unless a newer token already replaced it. */
  async replace(client: VaultClient, mount: MountConfig, rejected: VaultToken, signal?: AbortSignal): Promise<VaultToken> {
    const current = this.#cache.get(rejected.identityKey);
    if (current !== undefined && current.serial !== rejected.serial && this.#now() < current.refreshAt) return current;
    if (current?.serial === rejected.serial) this.#cache.delete(rejected.identityKey);
    return this.#plan(client, mount).login(rejected.identityKey, signal);
  }

  #ownBinding(mount: MountConfig): Binding {
    const driverToken = mount.driverToken;
    // A token this provider requests through the TokenRequest API is bound to the pod (src/kubernetes/token-requester.ts).
    if (driverToken === undefined || driverToken.token === '') return `pod:${mount.pod.uid}`;
    const check = checkOwnToken(driverToken.token, mount.pod);
    if (!check.ok) {
      throw new ProviderError('FOREIGN_TOKEN', `refusing the driver's token for audience "${mount.audience}": ${check.reason}`, {
        parameter: 'csi.storage.k8s.io/serviceAccount.tokens',
      });
    }
    return check.token.boundPodUid === undefined ? 'unbound' : `pod:${check.token.boundPodUid}`;
  }

  #login(client: VaultClient, mount: MountConfig, key: string, signal: AbortSignal | undefined): Promise<VaultToken> {
    return this.#logins.run(key, (shared) => this.#doLogin(client, mount, key, shared), signal);
  }

  async #jwt(mount: MountConfig, signal: AbortSignal | undefined): Promise<string> {
    if (mount.driverToken !== undefined && mount.driverToken.token !== '') return mount.driverToken.token;
    const requester = this.#options.tokenRequester;
    if (requester === undefined) {
      throw new ProviderError(
        'TOKEN_UNAVAILABLE',
        `the mount request carries no ServiceAccount token for audience "${mount.audience}": add {audience: "${mount.audience}"} to spec.tokenRequests of the CSIDriver secrets-store.csi.k8s.io (deploy/driver), so that the kubelet sends the pod's token with every mount (the provider requests one itself only with --token-request-fallback)`,
        { parameter: 'csi.storage.k8s.io/serviceAccount.tokens' },
      );
    }
    return requester.requestToken(mount.pod, mount.audience, signal);
  }

  async #doLogin(
    client: VaultClient,
    mount: MountConfig,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<VaultToken> {
    const jwt = await this.#jwt(mount, signal);
    const method = mount.auth.method === 'jwt' ? 'jwt' : 'kubernetes';
    const where = `role "${mount.roleName}" at auth mount "${client.settings.authMount}" of ${client.settings.address}`;
    const login = await this.#send(client, mount, podTokenLogin(method, client.settings.authMount, mount.roleName, jwt), `as ${where}`, signal);
    return this.#keep(key, servesWorkload(mount, login.metadata) ? identityKey(mount, client.settings, 'workload') : key, login);
  }

  /** Its key names no pod, so it is its own workload key. */
  async #credentialLogin(client: VaultClient, mount: MountConfig, auth: CredentialAuth, key: string, signal: AbortSignal): Promise<VaultToken> {
    const request = credentialLogin(auth, client.settings.authMount, mount.roleName);
    const where = `with ${request.describe} at auth mount "${client.settings.authMount}" of ${client.settings.address}`;
    const login = await this.#send(client, mount, request, where, signal);
    return this.#keep(key, key, login);
  }

  /** Vault's refusal becomes AUTH_FAILED; the client cuts the request's credentials out of Vault's text. */
  async #send(client: VaultClient, mount: MountConfig, request: LoginRequest, where: string, signal: AbortSignal | undefined): Promise<VaultLoginResult> {
    const who = `ServiceAccount ${mount.pod.namespace}/${mount.pod.serviceAccountName}`;
    try {
      const login = await client.sendLogin(request, signal);
      this.#options.onLogin?.('ok');
      return login;
    } catch (err: unknown) {
      this.#options.onLogin?.('error');
      if (err instanceof ProviderError && (err.code === 'PERMISSION_DENIED' || err.code === 'VAULT_REQUEST_REJECTED')) {
        const detail = err.context.detail === undefined ? '' : `: ${err.context.detail}`;
        const status = err.context.httpStatus === undefined ? '' : ` (${err.context.httpStatus})`;
        throw new ProviderError('AUTH_FAILED', `Vault login ${where} failed for ${who}${status}${detail}`, err.context, { cause: err });
      }
      throw err;
    }
  }

  #keep(key: string, workloadKey: string, login: VaultLoginResult): VaultToken {
    const now = this.#now();
    const leaseMs = login.leaseDurationSeconds * 1000;
    const token: VaultToken = {
      token: login.token,
      identityKey: key,
      workloadKey,
      serial: this.#nextSerial++,
      obtainedAt: now,
      expiresAt: leaseMs > 0 ? now + leaseMs : Number.POSITIVE_INFINITY,
      refreshAt: leaseMs > 0 ? now + leaseMs * RENEW_FRACTION : Number.POSITIVE_INFINITY,
    };
    this.#cache.set(key, token, leaseMs > 0 ? leaseMs : undefined);
    this.#generation++;
    this.#lastUsed.set(token, now);
    return token;
  }
}

/** Names a token among the dropped ones without holding it. */
function digestOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

type VaultLoginResult = Awaited<ReturnType<VaultClient['sendLogin']>>;
