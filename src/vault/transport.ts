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
 * it does not know only by accident. A request or token lookup goes `within` its context; a login through a node-vault
 * client `bound` to its context (see both).
 */
import { BodyTooLargeError, buildConnector, dispatchBuffered, headerObject, headerValue, Pool, type BodySink, type BufferedAnswer, type PoolOptions } from '../http/undici.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { ProviderError } from '../errors.js';
import type { AddressGates } from './rate-limit.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { normaliseVaultAddress } from '../config/connection.js';
import { TextDecoder } from 'node:util';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { isAscii } from 'node:buffer';

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

/**
 * The context of the node-vault call being made. node-vault's `request` calls its transport before it returns, so
 * the context is handed over in that synchronous step. Not AsyncLocalStorage: on Node 20 that turns on promise hooks
 * for every promise of the process (docs/benchmark.md#allocation-per-republish).
 */
let handedOver: RequestContext | undefined;

/**
 * Runs `call`, which must send one request through node-vault's `request` over an UndiciTransport before it returns,
 * with `context` as that request's context. A request sent later (a login helper validates first) finds none and
 * fails: use `bound` there.
 */
export function within<T>(context: RequestContext, call: () => Promise<T>): Promise<T> {
  const outer = handedOver;
  handedOver = context;
  try {
    return call();
  } finally {
    handedOver = outer;
  }
}

/** When node-vault sends through the transport outside `within` and not through a `bound` client: our bug, not Vault's. */
export function missingRequestContext(): ProviderError {
  return new ProviderError('INTERNAL', 'a Vault request was about to go without its context (the signal, ledger and tenant of its mount); nothing was sent');
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
  /** Where a 301/302/307 may lead (RedirectPolicy, below); default: nowhere. */
  readonly redirects?: RedirectPolicy;
  /** The provider's per-address gates (rate-limit.ts); none means no limit of our own. */
  readonly gates?: AddressGates;
  /** What request deadlines are measured and swept by (default: the system clock). */
  readonly clock?: Pick<Clock, 'monotonic' | 'after'>;
  /** What makes the one TLS context of the transport's connections (default: tls.createSecureContext). */
  readonly secureContext?: (options: SecureContextOptions) => SecureContext;
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
    const connectorOptions = {
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
      rejectUnauthorized: tls.rejectUnauthorized,
      timeout: Math.min(options.requestTimeoutMs, 10_000),
    };
    // One TLS context for every connection, made at the first: tls.connect given `ca` builds a context of its own
    // each time, with a copy of Node's whole root store (0.6 ms a connection here, 1.9 ms with a client certificate:
    // bench/tls-context.ts).
    const makeContext = options.secureContext ?? createSecureContext;
    let plain: buildConnector.connector | undefined;
    let secure: buildConnector.connector | undefined;
    const connectorFor = (protocol: string): buildConnector.connector => {
      if (protocol !== 'https:') return (plain ??= buildConnector(connectorOptions));
      return (secure ??= buildConnector({
        ...connectorOptions,
        secureContext: makeContext({
          ...(tls.ca === undefined ? {} : { ca: [...tls.ca] }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
        }),
      }));
    };
    this.#poolOptions = {
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      connections: options.connections ?? 32,
      connect: (connectOptions, callback) => {
        let connector: buildConnector.connector;
        try {
          connector = connectorFor(connectOptions.protocol);
        } catch (err: unknown) {
          // A CA, certificate or key that OpenSSL refuses fails each connection as before, not the transport.
          callback(new VaultConnectError(err instanceof Error ? err : new Error(String(err))), null);
          return;
        }
        connector(connectOptions, (err, socket) => {
          if (err !== null) callback(new VaultConnectError(err), null);
          else callback(null, socket);
        });
      },
    };
  }

  /** The `request-promise` shape node-vault expects; rpDefaults (json, strictSSL from the environment) are ignored. */
  defaults(_rpDefaults: unknown): (options: TransportOptions) => Promise<TransportResponse> {
    return (options) => {
      const context = handedOver;
      handedOver = undefined;
      return context === undefined ? Promise.reject(missingRequestContext()) : this.send(options, context);
    };
  }

  /** The `request-promise` shape for a node-vault client whose every request has `context`: one per login. */
  bound(context: RequestContext): Pick<UndiciTransport, 'defaults'> {
    return { defaults: () => (options) => this.send(options, context) };
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
    // Depth and memory were checked while the body arrived (JsonBody), before anything is parsed.
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

// Redirects from Vault, followed as Vault's Go client follows them (vault/api client.go, RawRequestWithContext): a
// 301, 302 or 307 answer is followed once, to its Location, with the same method, headers and body; never from
// https to http; a second redirect is not followed. A performance standby or a standby without request forwarding
// answers this way, pointing at the active node (issue 10 item 4).
// What the Go client does not do, and we must: the request carries the pod's JWT (a login) or a Vault token, so the
// Location is followed only to an address the trust policy lets this mount use (config/connection.ts redirectAllowed).
// A refusal names both addresses and is never sent anywhere.

export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 307]);

/** Whether a redirect may be followed to `target`, a normalised Vault address (origin and any path before /v1/). */
export type RedirectPolicy = (target: string) => boolean;

/** No redirect is followed: the default of a transport built without a policy. */
export const NO_REDIRECTS: RedirectPolicy = () => false;

/** A redirect that was not followed. Carries only addresses, never a query string (it may hold request input). */
export class RedirectRefusedError extends Error {
  override readonly name = 'RedirectRefusedError';
  constructor(
    readonly from: string,
    readonly to: string | undefined,
    readonly reason: 'downgrade' | 'not-allowed' | 'second-redirect' | 'no-location' | 'not-vault',
  ) {
    super(`Vault at ${from} redirected to ${to ?? 'nowhere'} (${reason})`);
  }
}

/** The Vault address of an absolute request URI: its origin and the path before `/v1/`. */
export function vaultAddressOf(uri: URL): string | undefined {
  const at = uri.pathname.indexOf('/v1/');
  if (at === -1) return undefined;
  try {
    return normaliseVaultAddress(`${uri.protocol}//${uri.host}${uri.pathname.slice(0, at)}`, 'Location');
  } catch {
    return undefined;
  }
}

/** Relative references resolve against the request, as Go's resp.Location() does. */
export function followRedirect(requestUri: string, location: string | undefined, policy: RedirectPolicy): string {
  const from = new URL(requestUri);
  const fromAddress = vaultAddressOf(from) ?? from.origin;
  if (location === undefined || location === '') throw new RedirectRefusedError(fromAddress, undefined, 'no-location');
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new RedirectRefusedError(fromAddress, undefined, 'no-location');
  }
  const toAddress = vaultAddressOf(to);
  if (from.protocol === 'https:' && to.protocol !== 'https:') throw new RedirectRefusedError(fromAddress, toAddress ?? to.origin, 'downgrade');
  if (toAddress === undefined) throw new RedirectRefusedError(fromAddress, to.origin, 'not-vault');
  if (!policy(toAddress)) throw new RedirectRefusedError(fromAddress, toAddress, 'not-allowed');
  return to.href;
}

/** The error for a redirect answer to a request that was itself redirected. */
export function secondRedirect(requestUri: string, location: string | undefined): RedirectRefusedError {
  const from = new URL(requestUri);
  let to: string | undefined;
  if (location !== undefined) {
    try {
      const url = new URL(location, from);
      to = vaultAddressOf(url) ?? url.origin;
    } catch {
      to = undefined;
    }
  }
  return new RedirectRefusedError(vaultAddressOf(from) ?? from.origin, to, 'second-redirect');
}

const REASONS: Record<RedirectRefusedError['reason'], string> = {
  downgrade: 'from https to http, a downgrade that is never followed',
  'not-allowed': 'an address this provider may not send tokens to (see --allowed-vault-addresses)',
  'second-redirect': 'after one redirect already (only one is followed)',
  'no-location': 'without a usable Location header',
  'not-vault': 'which is not a Vault API address (no /v1/ path)',
};

/** The sentence an error message gives for a refusal. */
export function refusalReason(err: RedirectRefusedError): string {
  return REASONS[err.reason];
}

// A Vault answer's body decoded to text as it arrives, scanned (JsonScanner, below) and charged to the mount's ledger
// before it is kept: one Buffer would make three copies outside V8's heap, bounded by nothing (docs/benchmark.md#memory).
// A declared Content-Length is charged up front, so a mount over its budget fails at the headers.

/** Any 2xx is an answer, as Vault's Go client takes it (a revoke with sync=false is a 202); only a 2xx must be JSON. */
export function isSuccess(statusCode: number): boolean {
  return statusCode >= 200 && statusCode <= 299;
}

export interface JsonBodyOptions {
  readonly memory: ByteLedger | undefined;
  /** Nesting past this is refused (for a 2xx) or the body dropped unparsed (for an error status). */
  readonly maxDepth: number;
  /** Thrown (for a 2xx) as soon as the body nests past maxDepth. */
  readonly tooDeep: () => Error;
  /** More JSON values than this are refused (for a 2xx) or the body dropped unparsed (for an error status). */
  readonly maxValues: number;
  /** Thrown (for a 2xx) as soon as the body holds more than maxValues values. */
  readonly tooMany: () => Error;
}

export interface ReadBody {
  /** The decoded text, '' when the body was empty or dropped for its depth. */
  readonly text: string;
  readonly shape: JsonShape;
  /** Dropped unparsed: nested past maxDepth, or more than maxValues values. */
  readonly tooDeep: boolean;
}

export class JsonBody implements BodySink {
  readonly #options: JsonBodyOptions;
  readonly #scanner = new JsonScanner();
  /** Most answers are one chunk: a decoder starts only when a second arrives. */
  #first: Buffer | undefined;
  #decoder: TextDecoder | undefined;
  #parts: string[] = [];
  #success = false;
  #received = 0;
  /** Body bytes the ledger has been told of (the declared length, or what arrived beyond it). */
  #announced = 0;
  /** What this body holds against the node's budget beyond the announced bytes. */
  #charged = 0;
  #tooDeep = false;

  constructor(options: JsonBodyOptions) {
    this.#options = options;
  }

  start(statusCode: number, declaredBytes: number | undefined): void {
    this.#success = isSuccess(statusCode);
    if (declaredBytes !== undefined) this.#announce(declaredBytes);
  }

  write(chunk: Buffer): void {
    if (this.#tooDeep) return;
    this.#scanner.push(chunk);
    const shape = this.#scanner.shape;
    const tooMany = shape.values > this.#options.maxValues;
    if (shape.depth > this.#options.maxDepth || tooMany) {
      if (this.#success) throw tooMany ? this.#options.tooMany() : this.#options.tooDeep();
      // An error answer too deep or too large to parse is still an error status: keep nothing of it.
      this.#tooDeep = true;
      this.#parts = [];
      this.#first = undefined;
      return;
    }
    this.#received += chunk.length;
    this.#announce(this.#received);
    // Beyond one byte per byte: two-byte text pieces, and the parsed form the parse will make of them.
    this.#chargeUpTo((shape.wide ? this.#received : 0) + shape.parsedBytes);
    if (this.#decoder === undefined && this.#first === undefined) {
      this.#first = chunk;
      return;
    }
    if (this.#decoder === undefined) {
      this.#decoder = new TextDecoder('utf-8');
      this.#parts.push(this.#decoder.decode(this.#first, { stream: true }));
      this.#first = undefined;
    }
    this.#parts.push(this.#decoder.decode(chunk, { stream: true }));
  }

  /** The whole text, once the body is complete. The pieces are dropped for the one joined string. */
  finish(): ReadBody {
    const shape = this.#scanner.shape;
    if (this.#tooDeep) return { text: '', shape, tooDeep: true };
    if (this.#decoder === undefined) {
      const text = this.#first === undefined ? '' : this.#first.toString('utf8');
      this.#first = undefined;
      return { text, shape, tooDeep: false };
    }
    this.#parts.push(this.#decoder.decode());
    // Joining makes a second copy of the text while the pieces still exist.
    if (this.#parts.length > 1) this.#chargeUpTo(this.#charged + this.#received * (shape.wide ? 2 : 1));
    const text = this.#parts.length === 1 ? this.#parts[0]! : this.#parts.join('');
    this.#parts = [];
    return { text, shape, tooDeep: false };
  }

  /** Keeps only the parsed form's estimate charged (nothing for an error answer, which is quoted and dropped). */
  settle(keepParsed: boolean): void {
    const keep = keepParsed && !this.#tooDeep ? Math.min(this.#charged, this.#scanner.shape.parsedBytes) : 0;
    this.#options.memory?.release(this.#announced + this.#charged - keep);
    this.#announced = 0;
    this.#charged = keep;
  }

  #announce(total: number): void {
    if (total <= this.#announced) return;
    this.#options.memory?.receive(total - this.#announced);
    this.#announced = total;
  }

  #chargeUpTo(total: number): void {
    if (total <= this.#charged) return;
    this.#options.memory?.charge(total - this.#charged);
    this.#charged = total;
  }
}

// A pass over a JSON body's bytes as they arrive: its depth and an estimate of its parsed form, known before the
// parse, since V8 aborts the process when a parse outgrows the heap. Allocates nothing. The estimate errs high
// (measured against V8: docs/benchmark.md#memory).

/** Heap bytes charged per JSON value or property: a V8 object, array or heap number and the slot that holds it. */
export const PER_VALUE_BYTES = 64;

export interface JsonShape {
  /** Deepest nesting of objects and arrays (0 for a bare scalar). */
  readonly depth: number;
  /** Upper estimate of the parsed value's heap size, in bytes. */
  readonly parsedBytes: number;
  /** Bytes at or above 0x80 occur: the decoded text and its strings may be two bytes per character. */
  readonly wide: boolean;
  /** What the parse, the validation and every later walk cost in proportion to. */
  readonly values: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

export class JsonScanner {
  #depth = 0;
  #maxDepth = 0;
  /** Strings, containers and separators seen; the top-level value itself counts one. */
  #values = 1;
  #stringBytes = 0;
  #wideStringBytes = 0;
  #wide = false;
  #inString = false;
  /** Inside a string, the previous byte was an escaping backslash (possibly in the previous chunk). */
  #escaped = false;

  /** Scans the next bytes of the body. */
  push(chunk: Buffer): void {
    // Native checks and searches where they can do the work: a Vault response is mostly string contents, which
    // the loop below jumps over with indexOf instead of visiting byte by byte. Each search's answer is kept until
    // the scan passes it, so no stretch of the chunk is searched twice (strings full of escapes stay linear).
    const wide = !isAscii(chunk);
    if (wide) this.#wide = true;
    let nextQuote = -2;
    let nextBackslash = -2;
    const next = (byte: number, known: number, from: number): number => (known !== -2 && (known === -1 || known >= from) ? known : chunk.indexOf(byte, from));
    let i = 0;
    while (i < chunk.length) {
      if (this.#inString) {
        if (this.#escaped) {
          // The byte after a backslash is escaped, whatever it is (it may open the next chunk).
          this.#escaped = false;
          this.#countString(1, wide);
          i++;
          continue;
        }
        nextQuote = next(QUOTE, nextQuote, i);
        nextBackslash = next(BACKSLASH, nextBackslash, i);
        if (nextBackslash !== -1 && (nextQuote === -1 || nextBackslash < nextQuote)) {
          this.#countString(nextBackslash + 1 - i, wide);
          this.#escaped = true;
          i = nextBackslash + 1;
          continue;
        }
        if (nextQuote === -1) {
          this.#countString(chunk.length - i, wide);
          return;
        }
        this.#countString(nextQuote - i, wide);
        this.#inString = false;
        i = nextQuote + 1;
        continue;
      }
      switch (chunk[i]) {
        case QUOTE:
          // Every string (a key or a value) is a heap object of its own besides its characters.
          this.#values++;
          this.#inString = true;
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          this.#values++;
          this.#depth++;
          if (this.#depth > this.#maxDepth) this.#maxDepth = this.#depth;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          if (this.#depth > 0) this.#depth--;
          break;
        case COMMA:
          this.#values++;
          break;
      }
      i++;
    }
  }

  get shape(): JsonShape {
    return {
      depth: this.#maxDepth,
      parsedBytes: this.#stringBytes + 2 * this.#wideStringBytes + this.#values * PER_VALUE_BYTES,
      wide: this.#wide,
      values: this.#values,
    };
  }

  #countString(bytes: number, wide: boolean): void {
    if (wide) this.#wideStringBytes += bytes;
    else this.#stringBytes += bytes;
  }
}

/** The shape of a whole body at once. */
export function scanJson(body: Buffer): JsonShape {
  const scanner = new JsonScanner();
  scanner.push(body);
  return scanner.shape;
}
