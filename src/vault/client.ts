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
import { requestNamespace } from '../config/secret-namespace.js';
import { classifyFailure, type ClassifiedFailure, type RequestTarget } from './failures.js';
import { defaultRetryPolicy, timerSleep, withRetries, type RetryPolicy, type Sleep } from './retry.js';
import { loginResponseSchema, secretResponseSchema, type SecretResponse } from './responses.js';
import type { UndiciTransport } from './transport.js';

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
  readonly sleep?: Sleep;
  readonly onRequest?: (event: VaultRequestEvent) => void;
  readonly onRetry?: (failure: ClassifiedFailure, attempt: number, delayMs: number) => void;
}

const SAFE_METHODS = new Set(['GET', 'LIST', 'HEAD']);

/** node-vault's debug hook: what it would print holds request bodies (JWTs, secretArgs) and response codes only. */
function silentDebug(): void {}
const MOUNT_PATH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

export class VaultClient {
  readonly settings: ConnectionSettings;
  readonly #vault: NodeVault.client;
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
    // node-vault logs every request body (the login's JWT included) through `debug` when DEBUG names it, and an
    // operator chasing a problem sets DEBUG=*. Its hook is documented for exactly this: ours says nothing.
    this.#vault = nodeVault({ endpoint: settings.address, apiVersion: 'v1', 'request-promise': transport, debug: silentDebug });
    // pathPrefix falls back to VAULT_PREFIX from the environment; it must not bend our paths.
    for (const field of ['token', 'namespace', 'pathPrefix'] as const) {
      const pinned = field === 'pathPrefix' ? '' : undefined;
      Object.defineProperty(this.#vault, field, { get: () => pinned, set: () => undefined, configurable: false });
    }
  }

  /** Logins and lookups go to the connection's namespace; a read may name a namespace below it (secretNamespace). */
  #headers(token: string | undefined, secretNamespace?: string): Record<string, string> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['X-Vault-Token'] = token;
    const namespace = requestNamespace(this.settings.namespace, secretNamespace);
    if (namespace !== undefined && namespace !== '') headers['X-Vault-Namespace'] = namespace;
    return headers;
  }

  async #exchange<T>(
    operation: VaultRequestEvent['operation'],
    target: RequestTarget,
    retryable: (failure: ClassifiedFailure) => boolean,
    signal: AbortSignal | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    return withRetries(
      async () => {
        const started = performance.now();
        try {
          const result = await run();
          this.#options.onRequest?.({ operation, outcome: 'ok', httpStatus: 200, durationMs: performance.now() - started });
          return result;
        } catch (err: unknown) {
          const status = (err as { response?: { statusCode?: unknown } }).response?.statusCode;
          this.#options.onRequest?.({
            operation,
            outcome: 'error',
            httpStatus: typeof status === 'number' ? status : undefined,
            durationMs: performance.now() - started,
          });
          throw err;
        }
      },
      {
        policy: this.#retry,
        sleep: this.#sleep,
        signal,
        retryable,
        classify: (err) => classifyFailure(err, target, signal),
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
    const raw: unknown = await this.#exchange('login', target, (f) => f.transient, signal, () =>
      this.#vault.kubernetesLogin({
        role,
        jwt,
        mount_point: mount,
        requestOptions: { headers: this.#headers(undefined), signal },
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
    await this.#exchange('lookup', target, (f) => f.transient, signal, () =>
      this.#vault.request({ path: '/auth/token/lookup-self', method: 'GET', headers: this.#headers(token), signal }) as Promise<unknown>,
    );
  }

  /** Any secret request: GET for KV and dynamic secrets, PUT/POST with a body for PKI issue and the like. */
  async request(token: string, request: SecretRequest, signal?: AbortSignal): Promise<SecretResponse> {
    if (request.namespace === undefined) return this.#request(token, request, signal);
    try {
      return await this.#request(token, request, signal);
    } catch (err: unknown) {
      // A read in an object's own namespace: say which, since the path alone names a secret in every namespace.
      if (!(err instanceof ProviderError)) throw err;
      const namespace = requestNamespace(this.settings.namespace, request.namespace) ?? '';
      throw new ProviderError(err.code, `${err.message} (Vault namespace ${JSON.stringify(namespace)})`, err.context, { cause: err.cause });
    }
  }

  async #request(token: string, request: SecretRequest, signal: AbortSignal | undefined): Promise<SecretResponse> {
    // Vault's Go client (and so the reference) sends LIST as `GET ?list=true`; proxies and Node's HTTP parser
    // refuse the custom verb.
    if (request.method === 'LIST') {
      const query = request.query === '' ? 'list=true' : `${request.query}&list=true`;
      return this.#request(token, { ...request, method: 'GET', query }, signal);
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
      () =>
        this.#vault.request({
          path: nodeVaultPath,
          method: request.method,
          headers: this.#headers(token, request.namespace),
          signal,
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
