/**
 * The parts of undici the provider uses, loaded one by one, and one buffered request over undici's dispatch API.
 *
 * `import 'undici'` loads all of it (fetch, WebSocket, caches, mocks: 110 files), about 7 MiB more resident memory
 * than the connection pool alone (measured: RssAnon after `require`, 17.9 vs 11.1 MiB over a 6.2 MiB bare Node),
 * in a DaemonSet budget of 100 MiB. undici 7 publishes no exports map, so its own modules can be required by
 * path; test/http/undici.test.ts checks that they are the very classes `undici` exports, so an upgrade that moves
 * them fails there rather than here.
 *
 * dispatchBuffered uses the callbacks undici 7's clients call themselves (onConnect … onComplete). Its typings mark
 * them deprecated in favour of controller-style callbacks, which undici adapts onto these at the cost of parsing
 * every response header into an object; request() adds a response stream on top. One request to Vault is a few
 * hundred bytes each way, so both costs showed in `npm run bench`.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { abortReason } from '../errors.js';

export type { Dispatcher } from 'undici';
/** Options of a Pool (undici's Pool.Options). */
export type PoolOptions = Undici.Pool.Options;

const require = createRequire(import.meta.url);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export type Pool = Undici.Pool;
export const buildConnector = require('undici/lib/core/connect.js') as typeof Undici.buildConnector;

/** An answer read whole: status, raw header list ([name, value, …]) and body bytes. */
export interface BufferedAnswer {
  readonly statusCode: number;
  readonly rawHeaders: readonly Buffer[];
  /** Empty when a sink took it. */
  readonly body: Buffer;
}

/** More bytes than the caller allows, declared or received. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`the answer exceeded ${limitBytes} bytes`);
  }
}

export interface BufferedCall {
  readonly answer: Promise<BufferedAnswer>;
  /** Ends the request now with `err` (a no-op once it settled). */
  cancel(err: Error): void;
}

interface NativeHandler {
  onConnect(abort: (err: Error) => void): void;
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: Buffer[] | null): void;
  onError(err: Error): void;
}

/** The value of one header in a raw [name, value, …] list (`name` lower-case). */
export function headerValue(raw: readonly Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
  }
  return undefined;
}

/** All headers of a raw list, names lower-cased; a repeated header becomes an array. */
export function headerObject(raw: readonly Buffer[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toString('latin1').toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    const existing = headers[key];
    headers[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return headers;
}

/**
 * Where the body goes instead of into a Buffer: the chunks are handed over as they arrive and not kept here. A
 * sink that throws refuses the body: the request ends at once with that error.
 */
export interface BodySink {
  /** The status and the declared Content-Length (undefined when none: a chunked answer), before any byte. */
  start(statusCode: number, declaredBytes: number | undefined): void;
  write(chunk: Buffer): void;
}

export interface BufferedLimits {
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
  /** Takes the body; the answer's `body` is then empty. */
  readonly sink?: BodySink | undefined;
}

/**
 * Sends one request and reads its answer whole, refusing more than `maxBytes` of body. The caller's signal (if
 * any) and cancel() end it early; a request not yet on a connection is dropped when it gets one.
 */
export function dispatchBuffered(dispatcher: Undici.Dispatcher, options: Undici.Dispatcher.DispatchOptions, limits: BufferedLimits): BufferedCall {
  const signal = limits.signal;
  let abortRequest: ((err: Error) => void) | undefined;
  let failure: Error | undefined;
  let settled = false;
  let statusCode = 0;
  let rawHeaders: readonly Buffer[] = [];
  let chunks: Buffer[] = [];
  let size = 0;
  const sink = limits.sink;
  let resolveAnswer!: (answer: BufferedAnswer) => void;
  let rejectAnswer!: (err: Error) => void;
  const answer = new Promise<BufferedAnswer>((resolve, reject) => {
    resolveAnswer = resolve;
    rejectAnswer = reject;
  });
  const onAbort = (): void => cancel(abortReason(signal!));
  const finish = (): void => {
    if (settled) return;
    settled = true;
    signal?.removeEventListener('abort', onAbort);
    if (failure !== undefined) rejectAnswer(failure);
    else resolveAnswer({ statusCode, rawHeaders, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
  };
  const cancel = (err: Error): void => {
    if (settled) return;
    failure ??= err;
    abortRequest?.(err);
    finish();
  };
  /** Runs a sink call; false (and the request cancelled with its error) when it throws. */
  const toSink = (call: () => void): boolean => {
    try {
      call();
      return true;
    } catch (err: unknown) {
      chunks = [];
      cancel(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  };
  if (signal?.aborted === true) {
    failure = abortReason(signal);
    finish();
    return { answer, cancel };
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  const handler: NativeHandler = {
    onConnect: (abort) => {
      abortRequest = abort;
      if (failure !== undefined) abort(failure);
    },
    onHeaders: (status, raw) => {
      statusCode = status;
      rawHeaders = raw;
      const header = headerValue(raw, 'content-length');
      const declared = header === undefined ? undefined : Number(header);
      if (declared !== undefined && declared > limits.maxBytes) cancel(new BodyTooLargeError(limits.maxBytes));
      else if (sink !== undefined) return toSink(() => sink.start(status, declared !== undefined && Number.isSafeInteger(declared) ? declared : undefined));
      return true;
    },
    onData: (chunk) => {
      size += chunk.length;
      if (size > limits.maxBytes) {
        chunks = [];
        cancel(new BodyTooLargeError(limits.maxBytes));
        return false;
      }
      if (sink !== undefined) return toSink(() => sink.write(chunk));
      chunks.push(chunk);
      return true;
    },
    onComplete: () => finish(),
    onError: (err) => {
      failure ??= err;
      finish();
    },
  };
  try {
    dispatcher.dispatch(options, handler as Undici.Dispatcher.DispatchHandler);
  } catch (err: unknown) {
    cancel(err instanceof Error ? err : new Error(String(err)));
  }
  return { answer, cancel };
}
