/**
 * One Vault client per ConnectionSettings: node-vault over our undici transport.
 *
 * node-vault traps avoided here (see DEVELOPERS.md): its login helpers write the new token into a shared
 * `client.token`, and a client-level namespace overwrites per-request headers, and both fall back to VAULT_TOKEN /
 * VAULT_NAMESPACE from the environment. The client below pins `token`, `namespace` and `pathPrefix` to empty, so
 * every request carries exactly the token and namespace we give it, and one pod's token can never ride along on
 * another pod's request. Login always names its mount point (without one node-vault posts to `/v1/auth//login`).
 */
import nodeVault from './node-vault.js';
import type NodeVault from 'node-vault';
import { ProviderError } from '../errors.js';
import type { ConnectionSettings } from '../config/types.js';
import { classifyFailure, type ClassifiedFailure, type RequestTarget } from './failures.js';
import { defaultRetryPolicy, timerSleep, withRetries, type RetryPolicy, type Sleep } from './retry.js';
import { loginResponseSchema, secretResponseSchema, type SecretResponse } from './responses.js';
import type { UndiciTransport } from './transport.js';
import { AddressHealth, movesOn, nothingDone } from './address-health.js';

export interface VaultLogin {
  /** Sensitive: never log. */
  readonly token: string;
  readonly accessor: string | undefined;
  /** 0 means the token does not expire (Vault's answer for root-like tokens). */
  readonly leaseDurationSeconds: number;
  readonly renewable: boolean;
}

export interface SecretRequest {
  readonly method: string;
  /** Starts with `/v1/`. */
  readonly requestPath: string;
  /** Without the `?`; '' for none. */
  readonly query: string;
  readonly body: Readonly<Record<string, unknown>> | undefined;
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
  readonly sleep?: Sleep;
  readonly onRequest?: (event: VaultRequestEvent) => void;
  readonly onRetry?: (failure: ClassifiedFailure, attempt: number, delayMs: number) => void;
  /** Which of several addresses are healthy; shared by every client of a provider (default: one of its own). */
  readonly health?: AddressHealth;
  /** A request moved on from a failed address to the next one of the list. */
  readonly onFailover?: (failure: ClassifiedFailure, from: string, to: string) => void;
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

/** What one exchange sends through: the node-vault client of one address, and what a 429 should do there. */
type Send<T> = (vault: NodeVault.client, throttle: 'wait' | 'fail') => Promise<T>;

const SAFE_METHODS = new Set(['GET', 'LIST', 'HEAD']);

/** node-vault's debug hook: what it would print holds request bodies (JWTs, secretArgs) and response codes only. */
function silentDebug(): void {}
const MOUNT_PATH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

export class VaultClient {
  readonly settings: ConnectionSettings;
  /** One node-vault client per address of the list (they share the transport and its pools). */
  readonly #vaults = new Map<string, NodeVault.client>();
  readonly #health: AddressHealth;
  readonly #transport: UndiciTransport;
  readonly #retry: RetryPolicy;
  readonly #sleep: Sleep;
  readonly #options: VaultClientOptions;

  constructor(settings: ConnectionSettings, transport: UndiciTransport, options: VaultClientOptions = {}) {
    this.settings = settings;
    this.#transport = transport;
    this.#retry = options.retry ?? defaultRetryPolicy;
    this.#sleep = options.sleep ?? timerSleep;
    this.#options = options;
    this.#health = options.health ?? new AddressHealth();
    for (const address of settings.addresses) {
      // node-vault logs every request body (the login's JWT included) through `debug` when DEBUG names it, and an
      // operator chasing a problem sets DEBUG=*. Its hook is documented for exactly this: ours says nothing.
      const vault = nodeVault({ endpoint: address, apiVersion: 'v1', 'request-promise': transport, debug: silentDebug });
      // pathPrefix falls back to VAULT_PREFIX from the environment; it must not bend our paths.
      for (const field of ['token', 'namespace', 'pathPrefix'] as const) {
        const pinned = field === 'pathPrefix' ? '' : undefined;
        Object.defineProperty(vault, field, { get: () => pinned, set: () => undefined, configurable: false });
      }
      this.#vaults.set(address, vault);
    }
  }

  #headers(token: string | undefined): Record<string, string> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['X-Vault-Token'] = token;
    if (this.settings.namespace !== undefined && this.settings.namespace !== '') {
      headers['X-Vault-Namespace'] = this.settings.namespace;
    }
    return headers;
  }

  /**
   * One request, retried (retry.ts) and, with several addresses, moved on to the next address of the list as soon
   * as one fails in a way another node may not (address-health.ts), as long as the request may be sent again.
   */
  async #exchange<T>(
    operation: VaultRequestEvent['operation'],
    target: RequestTarget,
    retryable: (failure: ClassifiedFailure) => boolean,
    signal: AbortSignal | undefined,
    send: Send<T>,
  ): Promise<T> {
    const classify = (err: unknown): ClassifiedFailure =>
      err instanceof AtAddress ? classifyFailure(err.failure, { ...target, address: err.address }, signal) : classifyFailure(err, target, signal);
    return withRetries(
      async () => {
        const order = this.#health.order(this.settings.addresses);
        for (let i = 0; ; i++) {
          const address = order[i]!;
          const next = order[i + 1];
          const started = performance.now();
          try {
            const result = await send(this.#vaults.get(address)!, next === undefined ? 'wait' : 'fail');
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
            // Another node is another send of the same request: a write (a PKI issue mints a certificate) only when
            // the failed node certainly did nothing with it.
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

  /** `POST /v1/auth/<mount>/login {role, jwt}`; works for kubernetes and jwt auth mounts alike. */
  async login(role: string, jwt: string, signal?: AbortSignal): Promise<VaultLogin> {
    const mount = this.settings.authMount;
    const target: RequestTarget = { address: this.settings.address, path: `/v1/auth/${mount}/login`, method: 'POST' };
    if (!MOUNT_PATH.test(mount)) {
      throw new ProviderError('INVALID_CONFIG', `auth mount path "${mount}" has characters Vault paths do not use`, {
        parameter: 'vaultAuthMountPath',
      });
    }
    // A login creates a token but changes nothing else, so it is retried like a read.
    const raw: unknown = await this.#exchange('login', target, (f) => f.transient, signal, (vault, throttle) =>
      vault.kubernetesLogin({
        role,
        jwt,
        mount_point: mount,
        requestOptions: { headers: this.#headers(undefined), signal, throttle },
      }) as Promise<unknown>,
    );
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
    };
  }

  /**
   * `GET /v1/auth/token/lookup-self` with `token`: resolves when Vault knows the token, throws PERMISSION_DENIED (403)
   * when it does not (revoked or expired). Vault's `default` policy lets every token look itself up. Nothing of the
   * answer is kept: the question is only whether the token lives.
   */
  async lookupSelf(token: string, signal?: AbortSignal): Promise<void> {
    const path = '/v1/auth/token/lookup-self';
    const target: RequestTarget = { address: this.settings.address, path, method: 'GET' };
    await this.#exchange('lookup', target, (f) => f.transient, signal, (vault, throttle) =>
      vault.request({ path: '/auth/token/lookup-self', method: 'GET', headers: this.#headers(token), signal, throttle }) as Promise<unknown>,
    );
  }

  /** Any secret request: GET for KV and dynamic secrets, PUT/POST with a body for PKI issue and the like. */
  async request(token: string, request: SecretRequest, signal?: AbortSignal): Promise<SecretResponse> {
    // Vault's Go client (and so the reference) sends LIST as `GET ?list=true`; proxies and Node's HTTP parser
    // refuse the custom verb.
    if (request.method === 'LIST') {
      const query = request.query === '' ? 'list=true' : `${request.query}&list=true`;
      return this.request(token, { ...request, method: 'GET', query }, signal);
    }
    const pathAndQuery = request.query === '' ? request.requestPath : `${request.requestPath}?${request.query}`;
    const target: RequestTarget = { address: this.settings.address, path: pathAndQuery, method: request.method };
    // node-vault prefixes `/v1`; our requestPath already carries it.
    const nodeVaultPath = pathAndQuery.replace(/^\/v1(?=\/)/, '');
    const safe = SAFE_METHODS.has(request.method);
    const raw: unknown = await this.#exchange(
      safe ? 'read' : 'write',
      target,
      // A write (a PKI issue mints a certificate) is sent again only when it never reached Vault.
      (f) => f.transient && (safe || f.reach === 'not-sent'),
      signal,
      (vault, throttle) =>
        vault.request({
          path: nodeVaultPath,
          method: request.method,
          headers: this.#headers(token),
          signal,
          throttle,
          ...(request.body === undefined ? {} : { json: request.body }),
        }) as Promise<unknown>,
    );
    if (raw === undefined) {
      throw new ProviderError('SECRET_NOT_FOUND', `Vault returned an empty response for ${request.method} ${target.address}${pathAndQuery}`, {
        vaultAddress: target.address,
        vaultPath: pathAndQuery,
      });
    }
    const parsed = secretResponseSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ProviderError('BAD_VAULT_RESPONSE', `Vault's answer to ${request.method} ${target.address}${pathAndQuery} is not a secret response`, {
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
