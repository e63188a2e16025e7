/**
 * undici's Pool and connector as published, and one buffered request over its dispatch API (undici 7's controller
 * handler): the chunks go straight to a sink or a Buffer, counted against a limit, with no stream in between.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { abortReason } from '../errors.js';

export { Pool, buildConnector };
export type { Dispatcher };
export type PoolOptions = Pool.Options;

export interface BufferedAnswer {
  readonly statusCode: number;
  readonly rawHeaders: readonly Buffer[];
  readonly body: Buffer;
}

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`the answer exceeded ${limitBytes} bytes`);
  }
}

export interface BufferedCall {
  readonly answer: Promise<BufferedAnswer>;
  cancel(err: Error): void;
}

export function headerValue(raw: readonly Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
  }
  return undefined;
}

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

/** undici's HTTP/1 client hands over the list as read; any other shape is rebuilt from the parsed headers. */
function rawHeaderList(raw: Dispatcher.DispatchController['rawHeaders'], parsed: IncomingHttpHeaders): readonly Buffer[] {
  if (Array.isArray(raw)) {
    const items: ReadonlyArray<Buffer | string> = raw;
    return items.every((item) => typeof item !== 'string') ? items : items.map((item) => (typeof item === 'string' ? Buffer.from(item, 'latin1') : item));
  }
  const list: Buffer[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) list.push(Buffer.from(name, 'latin1'), Buffer.from(one, 'latin1'));
  }
  return list;
}

/** A sink that throws refuses the body: the request ends at once with that error. */
export interface BodySink {
  /** The status and the declared Content-Length (undefined when none: a chunked answer), before any byte. */
  start(statusCode: number, declaredBytes: number | undefined): void;
  write(chunk: Buffer): void;
}

export interface BufferedLimits {
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
  readonly sink?: BodySink | undefined;
}

/** A request not yet on a connection when cancelled is dropped when it gets one. */
export function dispatchBuffered(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, limits: BufferedLimits): BufferedCall {
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
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart: (controller) => {
      abortRequest = (err) => controller.abort(err);
      // cancel() came before the request reached a connection.
      if (failure !== undefined) controller.abort(failure);
    },
    onResponseStart: (controller, status, headers) => {
      statusCode = status;
      rawHeaders = rawHeaderList(controller.rawHeaders, headers);
      const header = headerValue(rawHeaders, 'content-length');
      const declared = header === undefined ? undefined : Number(header);
      if (declared !== undefined && declared > limits.maxBytes) cancel(new BodyTooLargeError(limits.maxBytes));
      else if (sink !== undefined) toSink(() => sink.start(status, declared !== undefined && Number.isSafeInteger(declared) ? declared : undefined));
    },
    onResponseData: (_controller, chunk) => {
      if (settled) return;
      size += chunk.length;
      if (size > limits.maxBytes) {
        chunks = [];
        cancel(new BodyTooLargeError(limits.maxBytes));
      } else if (sink !== undefined) toSink(() => sink.write(chunk));
      else chunks.push(chunk);
    },
    onResponseEnd: () => finish(),
    onResponseError: (_controller, err) => {
      failure ??= err;
      finish();
    },
  };
  try {
    dispatcher.dispatch(options, handler);
  } catch (err: unknown) {
    cancel(err instanceof Error ? err : new Error(String(err)));
  }
  return { answer, cancel };
}
