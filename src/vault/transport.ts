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
 *
 * What a request carries beyond HTTP (its signal, the mount's ledger, its tenant at the gate) is a RequestContext
 * that never passes through node-vault: node-vault's request options are HTTP client options, and it hands on a key
 * it does not know only by accident. The Vault client runs each node-vault call `within` its context, and the
 * transport reads it from there (AsyncLocalStorage: about 2 µs a request).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { BodyTooLargeError, buildConnector, dispatchBuffered, headerObject, headerValue, Pool, type BufferedAnswer, type PoolOptions } from '../http/undici.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { isSuccess, JsonBody } from './json-body.js';
import type { AddressGates } from './rate-limit.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { followRedirect, NO_REDIRECTS, REDIRECT_STATUSES, secondRedirect, type RedirectPolicy } from './redirect.js';

export interface TlsMaterial {
  /** PEM CA certificates; undefined means the system roots. */
  readonly ca: readonly string[] | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
}

/** What travels with one request from the mount to the transport, beside node-vault's call (see `within`). */
export interface RequestContext {
  readonly signal?: AbortSignal;
  /** The mount's memory ledger: the body is charged as it arrives, the parsed form stays charged. */
  readonly memory?: ByteLedger;
  /**
   * What a 429 does: 'wait' (default) waits at the address's gate and sends again (a 429 means Vault did nothing, so
   * even a write may); 'fail' throws it, for a client that has another address to try.
   */
  readonly throttle?: 'wait' | 'fail';
  readonly tenant?: string;
}

/** What node-vault hands to the transport. Every request of one transport has the same timeout (the deadline sweeper relies on it). */
export interface TransportOptions {
  readonly method: string;
  readonly uri: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json?: unknown;
}

const requestContexts = new AsyncLocalStorage<RequestContext>();

/** Runs `call` (a node-vault call over an UndiciTransport) with `context` as the context of the requests it sends. */
export function within<T>(context: RequestContext, call: () => Promise<T>): Promise<T> {
  return requestContexts.run(context, call);
}

/** Times one request is sent again after 429s before the 429 is the answer; the caller's deadline bounds it too. */
export const MAX_THROTTLED_RESENDS = 20;

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

/** A non-2xx answer, thrown here because node-vault drops the response headers, and Retry-After lives there. */
export class VaultHttpError extends Error {
  override readonly name = 'VaultHttpError';
  readonly response: { readonly statusCode: number; readonly body: unknown; readonly headers: TransportResponse['headers'] };
  constructor(statusCode: number, body: unknown, headers: TransportResponse['headers']) {
    super(`Vault answered ${statusCode}`);
    this.response = { statusCode, body, headers };
  }
}

/** The connection could not be set up, so the request was never sent and even a write may go again; only the connector knows. */
export class VaultConnectError extends Error {
  override readonly name = 'VaultConnectError';
  readonly code: string | undefined;
  constructor(cause: Error) {
    super('could not connect to Vault', { cause });
    const code = (cause as { code?: unknown }).code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/** Deeper than any secret needs; the recursive walkers downstream would exhaust the stack first. */
export const MAX_JSON_DEPTH = 512;

export class ResponseTooDeepError extends Error {
  override readonly name = 'ResponseTooDeepError';
  constructor() {
    super(`Vault's response is JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

/**
 * JSON values in one answer, by default (`--vault-response-max-values`): every later step costs in proportion, and a
 * tenant chooses the count (docs/benchmark.md#event-loop-hold-per-step).
 */
export const DEFAULT_MAX_RESPONSE_VALUES = 50_000;

export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  constructor(readonly maxValues: number) {
    super(`Vault's response holds more than ${maxValues} JSON values (--vault-response-max-values)`);
  }
}

export interface UndiciTransportOptions {
  readonly tls: TlsMaterial;
  readonly requestTimeoutMs: number;
  readonly maxResponseBytes?: number;
  /** Responses with more JSON values are refused while they arrive (default DEFAULT_MAX_RESPONSE_VALUES). */
  readonly maxResponseValues?: number;
  readonly connections?: number;
  /** Where a 301/302/307 may lead (redirect.ts); default: nowhere. */
  readonly redirects?: RedirectPolicy;
  /** The provider's per-address gates (rate-limit.ts); none means no limit of our own. */
  readonly gates?: AddressGates;
  /** What request deadlines are measured and swept by (default: the system clock). */
  readonly clock?: Pick<Clock, 'monotonic' | 'after'>;
}

/** `--vault-request-timeout` passed: named like AbortSignal.timeout's error, which the failure classifier knows. */
export class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(timeoutMs: number) {
    super(`no complete answer within ${timeoutMs} ms`);
  }
}

/** Retry-After in seconds (Vault sends an integer), or undefined. */
function retryAfterSeconds(raw: readonly Buffer[]): number | undefined {
  const value = headerValue(raw, 'retry-after')?.trim();
  return value !== undefined && /^\d{1,6}$/.test(value) ? Number(value) : undefined;
}

interface InFlight {
  readonly deadline: number;
  readonly expire: () => void;
}

/** One timer for every request's deadline (checked every tenth of the timeout): a timer per request cost CPU. */
class DeadlineSweeper {
  readonly #inflight = new Set<InFlight>();
  readonly #periodMs: number;
  readonly #clock: Pick<Clock, 'monotonic' | 'after'>;
  #cancel: (() => void) | undefined;

  constructor(timeoutMs: number, clock: Pick<Clock, 'monotonic' | 'after'>) {
    this.#periodMs = Math.max(20, Math.min(1_000, Math.floor(timeoutMs / 10)));
    this.#clock = clock;
  }

  /** A deadline `timeoutMs` from now. */
  deadline(timeoutMs: number): number {
    return this.#clock.monotonic() + timeoutMs;
  }

  add(entry: InFlight): void {
    this.#inflight.add(entry);
    this.#arm();
  }

  delete(entry: InFlight): void {
    this.#inflight.delete(entry);
  }

  #arm(): void {
    if (this.#cancel === undefined && this.#inflight.size > 0) {
      this.#cancel = this.#clock.after(this.#periodMs, () => {
        this.#cancel = undefined;
        this.#sweep();
      });
    }
  }

  #sweep(): void {
    const now = this.#clock.monotonic();
    // Entries are in start order and share one timeout, so the first one still in time ends the sweep.
    for (const entry of this.#inflight) {
      if (entry.deadline > now) break;
      this.#inflight.delete(entry);
      entry.expire();
    }
    this.#arm();
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }
}

const NO_HEADERS: TransportResponse['headers'] = Object.freeze({});
const NO_CONTEXT: RequestContext = Object.freeze({});

/** A `.` or `..` segment, plain or percent-encoded, that a URL parser would resolve. */
const DOT_SEGMENT = /\/(?:\.|%2e)/i;

/** Origin and path without a URL parse, unless the path has dot segments: those resolve as Vault's Go client would. */
export function splitUri(uri: string): { origin: string; path: string } {
  const scheme = uri.indexOf('://');
  if (scheme <= 0) throw new TypeError('the Vault request URI is not absolute');
  const slash = uri.indexOf('/', scheme + 3);
  if (slash === -1) return { origin: uri, path: '/' };
  const path = uri.slice(slash);
  if (!DOT_SEGMENT.test(path)) return { origin: uri.slice(0, slash), path };
  const url = new URL(uri);
  return { origin: uri.slice(0, slash), path: `${url.pathname}${url.search}` };
}

/** One request as it goes to one address: the same headers and body are resent on a redirect or a 429. */
interface Outgoing {
  readonly origin: string;
  readonly path: string;
  readonly method: string;
  readonly context: RequestContext;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

/** What came back: the answer and the body it was parsed into as it arrived. */
interface Sent {
  readonly answer: BufferedAnswer;
  readonly body: JsonBody;
}

export class UndiciTransport {
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #maxValues: number;
  readonly #poolOptions: PoolOptions;
  /** One keep-alive pool per Vault origin; a transport serves one ConnectionSettings, so normally one origin. */
  readonly #pools = new Map<string, Pool>();
  readonly #deadlines: DeadlineSweeper;
  readonly #redirects: RedirectPolicy;
  readonly #gates: AddressGates | undefined;

  constructor(options: UndiciTransportOptions) {
    const { tls } = options;
    this.#redirects = options.redirects ?? NO_REDIRECTS;
    this.#gates = options.gates;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#maxBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.#maxValues = options.maxResponseValues ?? DEFAULT_MAX_RESPONSE_VALUES;
    this.#deadlines = new DeadlineSweeper(options.requestTimeoutMs, options.clock ?? systemClock);
    const connector = buildConnector({
      ...(tls.ca === undefined ? {} : { ca: [...tls.ca] }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
      rejectUnauthorized: tls.rejectUnauthorized,
      timeout: Math.min(options.requestTimeoutMs, 10_000),
    });
    this.#poolOptions = {
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      connections: options.connections ?? 32,
      connect: (connectOptions, callback) => {
        connector(connectOptions, (err, socket) => {
          if (err !== null) callback(new VaultConnectError(err), null);
          else callback(null, socket);
        });
      },
    };
  }

  /** The `request-promise` shape node-vault expects; rpDefaults (json, strictSSL from the environment) are ignored. */
  defaults(_rpDefaults: unknown): (options: TransportOptions) => Promise<TransportResponse> {
    return (options) => this.send(options, requestContexts.getStore() ?? NO_CONTEXT);
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, this.#poolOptions);
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async send(options: TransportOptions, context: RequestContext = NO_CONTEXT): Promise<TransportResponse> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.json !== undefined && options.json !== null && typeof options.json === 'object') {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    let uri = options.uri;
    let redirected = false;
    let resends = 0;
    for (;;) {
      const { origin, path } = splitUri(uri);
      const { answer, body: answerBody } = await this.#gated({ origin, path, method: options.method, context, headers, body });
      const { statusCode } = answer;
      if (statusCode === 429 && context.throttle !== 'fail' && resends < MAX_THROTTLED_RESENDS && context.signal?.aborted !== true && this.#gates !== undefined) {
        // The 429's body is dropped unread: nothing of it stays charged to the mount.
        answerBody.settle(false);
        resends++;
        continue;
      }
      if (REDIRECT_STATUSES.has(statusCode)) {
        answerBody.settle(false);
        const location = headerValue(answer.rawHeaders, 'location');
        // Only one, as Vault's Go client: a node pointing on and on (two standbys naming each other) is a failure.
        if (redirected) throw secondRedirect(uri, location);
        // The same method, headers and body, as Vault's Go client resends them.
        uri = followRedirect(uri, location, this.#redirects);
        redirected = true;
        continue;
      }
      // A 2xx needs nothing of its headers; an error keeps them (Retry-After) for the failure classifier.
      return this.#answer(statusCode, statusCode >= 300 ? headerObject(answer.rawHeaders) : NO_HEADERS, answerBody, path);
    }
  }

  /** One request through the address's gate (when there are gates), which learns from its outcome. */
  async #gated(request: Outgoing): Promise<Sent> {
    const { origin, context } = request;
    const { signal, tenant } = context;
    const gate = this.#gates?.for(origin);
    const release = gate === undefined ? undefined : await gate.acquire(signal, tenant);
    try {
      const sent = await this.#dispatch(request);
      const { statusCode } = sent.answer;
      if (statusCode === 429) gate?.throttled(retryAfterSeconds(sent.answer.rawHeaders), tenant);
      else if (statusCode >= 500 && statusCode !== 501) gate?.failed(tenant);
      else gate?.answered(tenant);
      return sent;
    } catch (err: unknown) {
      // An answer merely too big is the tenant's doing, not a fault of the address every mount shares.
      const tooBig = err instanceof BodyTooLargeError || err instanceof ResponseTooLargeError || err instanceof ResponseTooDeepError;
      if (signal?.aborted !== true && !tooBig) gate?.failed(tenant);
      throw err;
    } finally {
      release?.();
    }
  }

  async #dispatch({ origin, path, method, context, headers, body }: Outgoing): Promise<Sent> {
    const timeoutMs = this.#timeoutMs;
    const maxValues = this.#maxValues;
    const answerBody = new JsonBody({
      memory: context.memory,
      maxDepth: MAX_JSON_DEPTH,
      tooDeep: () => new ResponseTooDeepError(),
      maxValues,
      tooMany: () => new ResponseTooLargeError(maxValues),
    });
    const call = dispatchBuffered(
      this.#pool(origin),
      { path, method, headers, body: body ?? null, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
      { maxBytes: this.#maxBytes, signal: context.signal, sink: answerBody },
    );
    const inflight: InFlight = { deadline: this.#deadlines.deadline(timeoutMs), expire: () => call.cancel(new RequestTimeoutError(timeoutMs)) };
    this.#deadlines.add(inflight);
    try {
      return { answer: await call.answer, body: answerBody };
    } catch (err: unknown) {
      // Give the node's budget back now, not at the mount's end (a retry would otherwise hold two copies).
      answerBody.settle(false);
      throw err;
    } finally {
      this.#deadlines.delete(inflight);
    }
  }

  /** The parsed answer, or the error a non-2xx, non-JSON or too deeply nested answer means. */
  #answer(statusCode: number, headers: TransportResponse['headers'], body: JsonBody, path: string): TransportResponse {
    const success = isSuccess(statusCode);
    // Depth and memory were checked while the body arrived (json-body.ts), before anything is parsed.
    const { text, tooDeep } = body.finish();
    if (tooDeep && success) {
      body.settle(false);
      throw new ResponseTooDeepError();
    }
    let parsed: unknown = undefined;
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        // An error page from a proxy in front of Vault is still an error status; only a 2xx must be JSON.
        if (success) {
          body.settle(false);
          throw new NonJsonResponseError(statusCode);
        }
      }
    }
    // The parsed form stays charged while the mount holds it; an error answer's is dropped.
    body.settle(success);
    if (!success) throw new VaultHttpError(statusCode, parsed, headers);
    const queryAt = path.indexOf('?');
    return { statusCode, body: parsed, headers, request: { path: queryAt === -1 ? path : path.slice(0, queryAt) } };
  }

  async close(): Promise<void> {
    this.#deadlines.stop();
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}
