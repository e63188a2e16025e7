/**
 * node-vault's pluggable transport (`request-promise` option), over an undici keep-alive Agent.
 *
 * Why not node-vault's default: it builds on axios without a keep-alive agent (a TLS handshake per request, about a
 * fifth of a bare keep-alive client's throughput here), reads VAULT_SKIP_VERIFY so that even "false" disables TLS
 * checks, and ignores abort signals. This transport gets TLS only from the ConnectionSettings it was built for, keeps
 * connections alive, honours a per-request AbortSignal and a request timeout, and caps response sizes.
 *
 * node-vault calls `defaults(rpDefaults)` once and then the returned function with
 * `{ method, uri, headers, json, ...requestOptions }`, expecting `{ statusCode, body, request: { path } }`.
 */
import { Agent, buildConnector, request as undiciRequest } from 'undici';

export interface TlsMaterial {
  /** PEM CA certificates; undefined means the system roots. */
  readonly ca: readonly string[] | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
}

/** What node-vault hands to the transport; `signal` and `timeoutMs` arrive through its requestOptions. */
export interface TransportOptions {
  readonly method: string;
  readonly uri: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json?: unknown;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export interface TransportResponse {
  readonly statusCode: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly request: { readonly path: string };
}

/** Thrown when the response is not JSON; carries no body text (it could hold a secret). */
export class NonJsonResponseError extends Error {
  override readonly name = 'NonJsonResponseError';
  constructor(readonly statusCode: number) {
    super(`Vault answered ${statusCode} with a body that is not JSON`);
  }
}

/**
 * A non-2xx answer. Thrown by the transport itself (rather than left to node-vault's ApiResponseError) because
 * node-vault drops the response headers, and Retry-After lives there. Same `response` shape as ApiResponseError.
 */
export class VaultHttpError extends Error {
  override readonly name = 'VaultHttpError';
  readonly response: { readonly statusCode: number; readonly body: unknown; readonly headers: TransportResponse['headers'] };
  constructor(statusCode: number, body: unknown, headers: TransportResponse['headers']) {
    super(`Vault answered ${statusCode}`);
    this.response = { statusCode, body, headers };
  }
}

/**
 * The connection to Vault could not be set up (refused, unreachable, connect timeout, TLS handshake failed or cut
 * short): the request itself was never sent, so even a write may be sent again. Raised by our connector, which is
 * the only place that knows for certain that a failure happened before any request byte left.
 */
export class VaultConnectError extends Error {
  override readonly name = 'VaultConnectError';
  /** errno-style code of the underlying failure (ECONNREFUSED, ECONNRESET, DEPTH_ZERO_SELF_SIGNED_CERT, …). */
  readonly code: string | undefined;
  constructor(cause: Error) {
    super('could not connect to Vault', { cause });
    const code = (cause as { code?: unknown }).code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/**
 * JSON nested deeper than any secret needs. Everything downstream (extraction, Go-style marshalling, templates)
 * walks values recursively; a response nested thousands of levels deep (a broken proxy, a hostile endpoint) would
 * exhaust the stack there instead of failing here with a clear message. Go's encoding/json stops at 10000 levels;
 * our recursive walkers do not reach that far, so the bound is lower.
 */
export const MAX_JSON_DEPTH = 512;

export class ResponseTooDeepError extends Error {
  override readonly name = 'ResponseTooDeepError';
  constructor() {
    super(`Vault's response is JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

/** Nesting depth of a parsed JSON value, without recursion, stopping once past `limit`. */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`Vault's response exceeded ${limitBytes} bytes`);
  }
}

export interface UndiciTransportOptions {
  readonly tls: TlsMaterial;
  readonly requestTimeoutMs: number;
  /** Responses above this are refused before they are parsed (default 16 MiB). */
  readonly maxResponseBytes?: number;
  readonly connections?: number;
}

export class UndiciTransport {
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;

  constructor(options: UndiciTransportOptions) {
    const { tls } = options;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#maxBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    const connector = buildConnector({
      ...(tls.ca === undefined ? {} : { ca: [...tls.ca] }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
      rejectUnauthorized: tls.rejectUnauthorized,
      timeout: Math.min(options.requestTimeoutMs, 10_000),
    });
    this.#agent = new Agent({
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      connections: options.connections ?? 32,
      connect: (connectOptions, callback) => {
        connector(connectOptions, (err, socket) => {
          if (err !== null) callback(new VaultConnectError(err), null);
          else callback(null, socket);
        });
      },
    });
  }

  /** The `request-promise` shape node-vault expects; rpDefaults (json, strictSSL from the environment) are ignored. */
  defaults(_rpDefaults: unknown): (options: TransportOptions) => Promise<TransportResponse> {
    return (options) => this.send(options);
  }

  async send(options: TransportOptions): Promise<TransportResponse> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
    const url = new URL(options.uri);
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.json !== undefined && options.json !== null && typeof options.json === 'object') {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    const response = await undiciRequest(url, {
      dispatcher: this.#agent,
      method: options.method as 'GET',
      headers,
      body,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const declared = Number(response.headers['content-length'] ?? '0');
    if (declared > this.#maxBytes) {
      response.body.destroy();
      throw new ResponseTooLargeError(this.#maxBytes);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > this.#maxBytes) {
        response.body.destroy();
        throw new ResponseTooLargeError(this.#maxBytes);
      }
      chunks.push(buf);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown = undefined;
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        // An error page from a proxy in front of Vault is still an error status; only a 2xx must be JSON.
        if (response.statusCode === 200 || response.statusCode === 204) throw new NonJsonResponseError(response.statusCode);
      }
      if (jsonDepthExceeds(parsed, MAX_JSON_DEPTH)) {
        if (response.statusCode === 200 || response.statusCode === 204) throw new ResponseTooDeepError();
        parsed = undefined;
      }
    }
    if (response.statusCode !== 200 && response.statusCode !== 204) {
      throw new VaultHttpError(response.statusCode, parsed, response.headers);
    }
    return { statusCode: response.statusCode, body: parsed, headers: response.headers, request: { path: url.pathname } };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
