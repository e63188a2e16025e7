/**
 * One Vault client per ConnectionSettings: node-vault over our undici transport, through its documented extension
 * points only (the `request-promise` transport, its login helpers, `request`, its `debug` hook).
 */
import nodeVault from 'node-vault';
import type NodeVault from 'node-vault';
import { ProviderError } from '../errors.js';
import type { ConnectionSettings } from '../config/types.js';
import { trimSlashes } from '../config/connection.js';
import { classifyFailure, namespaceSuffix, type ClassifiedFailure, type RequestTarget } from './failures.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { loginResponseSchema, secretResponseSchema, type SecretResponse } from './responses.js';
import { within, type RequestContext, type UndiciTransport } from './transport.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { CredentialRedactor } from '../shared/credential-redactor.js';
import { describeBudget, expiredBudget } from '../admission/time-budget.js';

export interface VaultLogin {
  /** Sensitive: never log. */
  readonly token: string;
  readonly accessor: string | undefined;
  /** 0 means the token does not expire (Vault's answer for root-like tokens). */
  readonly leaseDurationSeconds: number;
  readonly renewable: boolean;
  /** The login's `auth.metadata`, its string values only (Kubernetes auth names the ServiceAccount there). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** One login as an auth method's builder made it (src/auth/login-request.ts). */
export interface LoginRequest {
  /** Under `/v1/`, e.g. `auth/approle/login`: what the helper posts to, and what messages name. */
  readonly path: string;
  /** Sensitive: never log. */
  readonly body: Readonly<Record<string, string>>;
  readonly helper: LoginHelper;
  /** PEM client certificate and key (cert auth). Sensitive: never log. */
  readonly clientCertificate?: { readonly cert: string; readonly key: string };
  /** The secret values this login sends: cut out of whatever Vault answers before a message quotes it. Sensitive. */
  readonly secrets: readonly string[];
  /** For messages: the method, and the role or user when it is no secret. */
  readonly describe: string;
}

/**
 * node-vault's login helper for the method; the userpass name is percent-encoded here (the helper does not). `write`
 * serves cert: node-vault's `certLogin` ignores the mount and rejects request options.
 */
export type LoginHelper =
  | { readonly name: 'kubernetesLogin' | 'jwtLogin' | 'approleLogin'; readonly mountPoint: string }
  | { readonly name: 'userpassLogin'; readonly mountPoint: string; readonly username: string }
  | { readonly name: 'write' };

export interface SecretRequest {
  readonly method: string;
  readonly requestPath: string;
  readonly query: string;
  readonly body: Readonly<Record<string, unknown>> | undefined;
  /** The object's secretNamespace, relative to the connection's namespace; absent: the connection's namespace. */
  readonly namespace?: string;
}

/** What the client reports about each HTTP exchange, for metrics and request counting. */
export interface VaultRequestEvent {
  readonly operation: 'login' | 'lookup' | 'read' | 'write';
  readonly outcome: 'ok' | 'error';
  readonly httpStatus: number | undefined;
  readonly durationMs: number;
}

export interface VaultClientOptions {
  readonly retry?: RetryPolicy;
  readonly sleep?: Clock['sleep'];
  readonly onRequest?: (event: VaultRequestEvent) => void;
  readonly onRetry?: (failure: ClassifiedFailure, attempt: number, delayMs: number) => void;
  /** Which of several addresses are healthy; shared by every client of a provider (default: one of its own). */
  readonly health?: AddressHealth;
  /** A request moved on from a failed address to the next one of the list. */
  readonly onFailover?: (failure: ClassifiedFailure, from: string, to: string) => void;
  /** Connections presenting this client certificate, for a cert-auth login only; without it cert logins fail. */
  readonly certificateTransport?: (clientCertificate: { readonly cert: string; readonly key: string }) => UndiciTransport;
}

/** A failure at one address of the list: lets the classifier name the address that failed. */
class AtAddress extends Error {
  override readonly name = 'AtAddress';
  constructor(
    readonly address: string,
    readonly failure: unknown,
  ) {
    super('a Vault request failed');
  }
}

/** What one exchange sends: to one address, and what a 429 should do there. */
type Send<T> = (address: string, throttle: 'wait' | 'fail') => Promise<T>;

const SAFE_METHODS = new Set(['GET', 'LIST', 'HEAD']);

/** node-vault's debug hook: it would print request bodies (JWTs, passwords) when DEBUG names it. */
function silentDebug(): void {}

/**
 * node-vault over `transport`, with `token`, `namespace` and `pathPrefix` pinned empty: its login helpers write the
 * new token into the shared client, and all three fall back to the environment (VAULT_TOKEN, VAULT_NAMESPACE,
 * VAULT_PREFIX). So one pod's token or namespace never rides along on another pod's request.
 */
function pinnedNodeVault(address: string, transport: Pick<UndiciTransport, 'defaults'>): NodeVault.client {
  const vault = nodeVault({ endpoint: address, apiVersion: 'v1', 'request-promise': transport, debug: silentDebug });
  for (const field of ['token', 'namespace', 'pathPrefix'] as const) {
    const pinned = field === 'pathPrefix' ? '' : undefined;
    Object.defineProperty(vault, field, { get: () => pinned, set: () => undefined, configurable: false });
  }
  return vault;
}

/** A login through node-vault's helper for its method (the token it stores goes nowhere: pinned). */
function sendWithHelper(vault: NodeVault.client, request: LoginRequest, requestOptions: Readonly<Record<string, unknown>>): Promise<unknown> {
  const helper = request.helper;
  switch (helper.name) {
    case 'write':
      return vault.write(request.path, request.body, requestOptions) as Promise<unknown>;
    case 'userpassLogin':
      return vault.userpassLogin({ ...request.body, username: helper.username, mount_point: helper.mountPoint, requestOptions }) as Promise<unknown>;
    default:
      return vault[helper.name]({ ...request.body, mount_point: helper.mountPoint, requestOptions }) as Promise<unknown>;
  }
}

export class VaultClient {
  readonly settings: ConnectionSettings;
  readonly #vaults: Map<string, NodeVault.client>;
  readonly #health: AddressHealth;
  readonly #transport: UndiciTransport;
  readonly #retry: RetryPolicy;
  readonly #sleep: Clock['sleep'];
  readonly #options: VaultClientOptions;
  /** Whose requests these are at the address's gates (rate-limit.ts); undefined: NO_TENANT. */
  readonly #tenant: string | undefined;

  /** `view`: the same client (node-vault clients, health) sending as `view.tenant` (see forTenant). */
  constructor(settings: ConnectionSettings, transport: UndiciTransport, options: VaultClientOptions = {}, view?: { readonly of: VaultClient; readonly tenant: string }) {
    this.settings = settings;
    this.#transport = transport;
    this.#retry = options.retry ?? defaultRetryPolicy;
    this.#sleep = options.sleep ?? systemClock.sleep;
    this.#options = options;
    this.#tenant = view?.tenant;
    if (view !== undefined) {
      this.#vaults = view.of.#vaults;
      this.#health = view.of.#health;
      return;
    }
    this.#health = options.health ?? new AddressHealth();
    this.#vaults = new Map(settings.addresses.map((address) => [address, pinnedNodeVault(address, transport)]));
  }

  /** This client, its requests counted as `tenant`'s at the gates: one mount's view, made per mount (cheap). */
  forTenant(tenant: string): VaultClient {
    return new VaultClient(this.settings, this.#transport, this.#options, { of: this, tenant });
  }

  #vault(address: string): NodeVault.client {
    return this.#vaults.get(address)!;
  }

  /** What the transport needs of a request beyond HTTP; it travels beside node-vault, not through it (transport.ts). */
  #context(signal: AbortSignal | undefined, throttle: 'wait' | 'fail', memory?: ByteLedger): RequestContext {
    return { signal, throttle, memory, tenant: this.#tenant };
  }

  /** Logins and lookups go to the connection's namespace; a read may name a namespace below it (secretNamespace). */
  #headers(token: string | undefined, secretNamespace?: string): Record<string, string> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['X-Vault-Token'] = token;
    const namespace = requestNamespace(this.settings.namespace, secretNamespace);
    if (namespace !== undefined && namespace !== '') headers['X-Vault-Namespace'] = namespace;
    return headers;
  }

  /** One request, retried, and with several addresses moved on to the next one when another node may do better. */
  async #exchange<T>(
    operation: VaultRequestEvent['operation'],
    target: RequestTarget,
    retryable: (failure: ClassifiedFailure) => boolean,
    signal: AbortSignal | undefined,
    send: Send<T>,
    redactor?: CredentialRedactor,
  ): Promise<T> {
    const classify = (err: unknown): ClassifiedFailure =>
      err instanceof AtAddress
        ? classifyFailure(err.failure, { ...target, address: err.address }, signal, redactor)
        : classifyFailure(err, target, signal, redactor);
    return withRetries(
      async () => {
        const order = this.#health.order(this.settings.addresses);
        for (let i = 0; ; i++) {
          const address = order[i]!;
          const next = order[i + 1];
          const started = performance.now();
          try {
            const result = await send(address, next === undefined ? 'wait' : 'fail');
            this.#options.onRequest?.({ operation, outcome: 'ok', httpStatus: 200, durationMs: performance.now() - started });
            this.#health.succeeded(address);
            return result;
          } catch (err: unknown) {
            const status = (err as { response?: { statusCode?: unknown } }).response?.statusCode;
            this.#options.onRequest?.({
              operation,
              outcome: 'error',
              httpStatus: typeof status === 'number' ? status : undefined,
              durationMs: performance.now() - started,
            });
            if (order.length === 1) throw err;
            const failure = classify(new AtAddress(address, err));
            if (!movesOn(failure) || signal?.aborted === true) throw new AtAddress(address, err);
            this.#health.failed(address);
            // Another node is another send: a write (a PKI issue) only when the failed node certainly did nothing.
            if (next === undefined || !(operation !== 'write' || nothingDone(failure))) throw new AtAddress(address, err);
            this.#options.onFailover?.(failure, address, next);
          }
        }
      },
      {
        policy: this.#retry,
        sleep: this.#sleep,
        signal,
        retryable,
        classify,
        ...(this.#options.onRetry === undefined ? {} : { onRetry: this.#options.onRetry }),
      },
    );
  }

  /** A login with a client certificate goes over a transport of its own: its TLS identity is that one login's. */
  async sendLogin(request: LoginRequest, signal?: AbortSignal): Promise<VaultLogin> {
    const target: RequestTarget = { address: this.settings.address, path: `/v1/${request.path}`, method: 'POST' };
    let transport = this.#transport;
    let own: UndiciTransport | undefined;
    if (request.clientCertificate !== undefined) {
      const plain = this.settings.addresses.find((address) => !address.startsWith('https:'));
      if (plain !== undefined) {
        throw new ProviderError('INVALID_CONFIG', `cert auth presents a client certificate, which needs an https:// Vault address, not ${plain}`, {
          parameter: 'vaultAddress',
          vaultAddress: plain,
        });
      }
      const factory = this.#options.certificateTransport;
      if (factory === undefined) throw new ProviderError('INTERNAL', 'this Vault client cannot make client-certificate connections');
      // One transport of its own for this login, reaching whichever address the health order picks.
      own = factory(request.clientCertificate);
      transport = own;
    }
    let raw: unknown;
    try {
      // A login creates a token but changes nothing else, so it is retried like a read.
      raw = await this.#exchange(
        'login',
        target,
        (f) => f.transient,
        signal,
        // A node-vault client per attempt, bound to its context: the login helpers send after validating, so
        // `within` cannot hand the context over (about 0.1 ms per login attempt).
        (address, throttle) =>
          sendWithHelper(pinnedNodeVault(address, transport.bound(this.#context(signal, throttle))), request, { headers: this.#headers(undefined) }),
        new CredentialRedactor(request.secrets),
      );
    } finally {
      if (own !== undefined) void own.close().catch(() => undefined);
    }
    const parsed = loginResponseSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ProviderError('BAD_VAULT_RESPONSE', `Vault's login answer from ${target.address}${target.path} has no usable auth block`, {
        vaultAddress: target.address,
        vaultPath: target.path,
      });
    }
    const auth = parsed.data.auth;
    return {
      token: auth.client_token,
      accessor: auth.accessor ?? undefined,
      leaseDurationSeconds: auth.lease_duration,
      renewable: auth.renewable ?? false,
      metadata: Object.fromEntries(Object.entries(auth.metadata ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string')),
    };
  }

  /** Resolves when Vault knows the token; PERMISSION_DENIED (403) when it does not. Every token may look itself up. */
  async lookupSelf(token: string, signal?: AbortSignal): Promise<void> {
    const path = '/v1/auth/token/lookup-self';
    const target: RequestTarget = { address: this.settings.address, path, method: 'GET' };
    await this.#exchange('lookup', target, (f) => f.transient, signal, (address, throttle) =>
      within(this.#context(signal, throttle), () => this.#vault(address).request({ path: '/auth/token/lookup-self', method: 'GET', headers: this.#headers(token) }) as Promise<unknown>),
    );
  }

  /** Any secret request; `memory` is the mount's ledger, charged as the answer arrives. */
  async request(token: string, request: SecretRequest, signal?: AbortSignal, memory?: ByteLedger): Promise<SecretResponse> {
    // As Vault's Go client does: proxies and Node's HTTP parser refuse the custom verb.
    if (request.method === 'LIST') {
      const query = request.query === '' ? 'list=true' : `${request.query}&list=true`;
      return this.request(token, { ...request, method: 'GET', query }, signal, memory);
    }
    const pathAndQuery = request.query === '' ? request.requestPath : `${request.requestPath}?${request.query}`;
    const target: RequestTarget = {
      address: this.settings.address,
      path: pathAndQuery,
      method: request.method,
      ...(request.namespace === undefined ? {} : { namespace: requestNamespace(this.settings.namespace, request.namespace) ?? '' }),
    };
    // node-vault prefixes `/v1`; our requestPath already carries it.
    const nodeVaultPath = pathAndQuery.replace(/^\/v1(?=\/)/, '');
    const safe = SAFE_METHODS.has(request.method);
    const raw: unknown = await this.#exchange(
      safe ? 'read' : 'write',
      target,
      // A write (a PKI issue mints a certificate) is sent again only when it never reached Vault.
      (f) => f.transient && (safe || f.reach === 'not-sent'),
      signal,
      (address, throttle) =>
        within(
          this.#context(signal, throttle, memory),
          () =>
            this.#vault(address).request({
              path: nodeVaultPath,
              method: request.method,
              headers: this.#headers(token, request.namespace),
              ...(request.body === undefined ? {} : { json: request.body }),
            }) as Promise<unknown>,
        ),
    );
    if (raw === undefined) {
      throw new ProviderError('SECRET_NOT_FOUND', `Vault returned an empty response for ${request.method} ${target.address}${pathAndQuery}${namespaceSuffix(target)}`, {
        vaultAddress: target.address,
        vaultPath: pathAndQuery,
      });
    }
    const parsed = secretResponseSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ProviderError('BAD_VAULT_RESPONSE', `Vault's answer to ${request.method} ${target.address}${pathAndQuery} is not a secret response${namespaceSuffix(target)}`, {
        vaultAddress: target.address,
        vaultPath: pathAndQuery,
      });
    }
    return parsed.data;
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }
}

// Exponential backoff with full jitter, bounded by the caller's deadline. Which failures are retried is decided by
// the caller from `classifyFailure`: idempotent requests on any transient failure, writes (a PKI issue mints a
// certificate) only when the request never reached Vault.

export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** The four waits add up to at most 3 s, about a Vault leader election; a 5%-failing Vault fails one read in 3 million. */
export const defaultRetryPolicy: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 2_000 };

export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterSeconds: number | undefined, random: () => number): number {
  if (retryAfterSeconds !== undefined) return Math.min(retryAfterSeconds * 1000, policy.maxDelayMs * 2);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  readonly sleep: Clock['sleep'];
  readonly signal: AbortSignal | undefined;
  readonly random?: () => number;
  /** Whether this request may be sent again after this failure. */
  readonly retryable: (failure: ClassifiedFailure) => boolean;
  readonly classify: (err: unknown) => ClassifiedFailure;
  readonly onRetry?: (failure: ClassifiedFailure, attempt: number, delayMs: number) => void;
}

export async function withRetries<T>(run: () => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err: unknown) {
      const failure = options.classify(err);
      const last = attempt + 1 >= options.policy.attempts;
      if (last || !options.retryable(failure) || options.signal?.aborted === true) throw failure.error;
      const delay = backoffDelay(options.policy, attempt, failure.retryAfterSeconds, random);
      options.onRetry?.(failure, attempt + 1, delay);
      try {
        await options.sleep(delay, options.signal);
      } catch {
        // The mount's time budget ran out during the backoff: the last failure is the answer (it names the Vault
        // address and request), said before the caller's deadline. Anything else cut the wait: the caller left.
        const expired = expiredBudget(options.signal);
        if (expired !== undefined) {
          throw new ProviderError(
            'VAULT_UNAVAILABLE',
            `${failure.error.message}; the mount's time budget of ${describeBudget(expired.budget)} ran out before attempt ${attempt + 2}, the driver retries the mount`,
            failure.error.context,
          );
        }
        throw new ProviderError('DEADLINE_EXCEEDED', `the caller's deadline passed while retrying: ${failure.error.message}`, failure.error.context);
      }
    }
  }
}

// Several Vault addresses for one HA cluster without a load balancer (vault-csi-provider#164). A mount's requests go
// to the first address that has not failed recently, in the order the list gives; when one fails in a way another
// node may not (connection refused or reset, a timeout, a 5xx such as a sealed node's 503, a 429, a standby that
// answers 472/473 instead of forwarding, or a redirect the provider may not follow), the request moves on to the
// next address at once, and the failed one is remembered for ADDRESS_FAILURE_MEMORY_MS so that the mounts after it
// start with a healthy node instead of paying for the failure again. When every address has failed recently they
// are all still tried, the one that failed longest ago first: a recent failure is a hint, never a ban.
// Shared by every Vault client of the provider (an address's health is the same whoever asks), with an injectable
// clock. Which addresses a mount may use at all is the trust policy's business (config/connection.ts): every address
// of a list is checked before the first request, so the JWT never reaches one the policy does not allow.

/** How long a failed address goes to the back of the list. */
export const ADDRESS_FAILURE_MEMORY_MS = 30_000;
/** Failed addresses remembered at most (the oldest are forgotten first). */
const MAX_REMEMBERED = 256;

/** Statuses of a node that is not the one to ask (sys/health's: 472 DR secondary, 473 performance standby). */
const STANDBY_STATUSES: ReadonlySet<number> = new Set([472, 473]);

/** Whether `failure` is the node's own, so another node of the cluster may answer where it did not. */
export function movesOn(failure: ClassifiedFailure): boolean {
  const { code, context } = failure.error;
  if (code === 'VAULT_UNAVAILABLE' || code === 'VAULT_REDIRECT_REFUSED') return true;
  if (code === 'VAULT_REQUEST_REJECTED') return context.httpStatus !== undefined && STANDBY_STATUSES.has(context.httpStatus);
  return code === 'BAD_VAULT_RESPONSE' && failure.transient;
}

/** The failed node certainly did nothing (never sent, a 429, a standby refusing), so even a write may move on. */
export function nothingDone(failure: ClassifiedFailure): boolean {
  const status = failure.error.context.httpStatus;
  return failure.reach === 'not-sent' || (status !== undefined && STANDBY_STATUSES.has(status) && failure.error.code === 'VAULT_REQUEST_REJECTED');
}

export interface AddressHealthOptions {
  readonly now?: Clock['now'];
  readonly memoryMs?: number;
}

export class AddressHealth {
  readonly #failedAt = new Map<string, number>();
  readonly #now: Clock['now'];
  readonly #memoryMs: number;

  constructor(options: AddressHealthOptions = {}) {
    this.#now = options.now ?? systemClock.now;
    this.#memoryMs = options.memoryMs ?? ADDRESS_FAILURE_MEMORY_MS;
  }

  /** `addresses` in the order to try them: healthy ones as listed, then recently failed ones, oldest failure first. */
  order(addresses: readonly string[]): readonly string[] {
    if (addresses.length === 1 || this.#failedAt.size === 0) return addresses;
    const now = this.#now();
    const healthy: string[] = [];
    const failed: Array<[string, number]> = [];
    for (const address of addresses) {
      const at = this.#failedAt.get(address);
      if (at === undefined || now - at >= this.#memoryMs) healthy.push(address);
      else failed.push([address, at]);
    }
    if (failed.length === 0) return addresses;
    failed.sort((a, b) => a[1] - b[1]);
    return [...healthy, ...failed.map(([address]) => address)];
  }

  /** Whether `address` failed within the memory window. */
  recentlyFailed(address: string): boolean {
    const at = this.#failedAt.get(address);
    return at !== undefined && this.#now() - at < this.#memoryMs;
  }

  failed(address: string): void {
    this.#failedAt.delete(address);
    if (this.#failedAt.size >= MAX_REMEMBERED) this.#failedAt.delete(this.#failedAt.keys().next().value!);
    this.#failedAt.set(address, this.#now());
  }

  succeeded(address: string): void {
    if (this.#failedAt.size > 0) this.#failedAt.delete(address);
  }
}

/** X-Vault-Namespace for a request: the mount's namespace, joined with the object's when it has one. */
export function requestNamespace(mountNamespace: string | undefined, secretNamespace: string | undefined): string | undefined {
  if (secretNamespace === undefined) return mountNamespace;
  const base = trimSlashes(mountNamespace ?? '');
  return base === '' ? secretNamespace : `${base}/${secretNamespace}`;
}
