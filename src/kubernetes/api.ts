/** The Kubernetes calls' request signal, and descriptions of failures safe for a ProviderError message. */
import { abortReason, errnoCode, sanitizeVaultMessage } from '../errors.js';
import { BodyTooLargeError } from '../http/undici.js';
import { KubeAnswerError, KubeApiError } from './kube-client.js';
import { isPlainObject } from '../shared/plain-object.js';
import { systemClock, type Clock } from '../shared/clock.js';

/** A Kubernetes API call that has not answered in this long is treated as failed; the caller (or kubelet) retries. */
export const DEFAULT_KUBE_REQUEST_TIMEOUT_MS = 10_000;

/** Starts a timer that calls `onExpire` after `ms`; returns its cancel. Injectable so tests need not wait. */
/** The request timeout passed: named as AbortSignal.timeout's error is, which describeApiFailure knows. */
export class KubeRequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/**
 * Not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: Node 20 holds the timeout only weakly from the composite,
 * so after a GC it never fires (found by the real suite: a TokenRequest waited on a stalled API server).
 */
export async function withRequestTimeout<T>(
  signal: AbortSignal | undefined,
  timeoutMs: number,
  work: (signal: AbortSignal) => Promise<T>,
  startTimer: Clock['after'] = systemClock.after,
): Promise<T> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(abortReason(signal as AbortSignal));
  if (signal?.aborted === true) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const cancel = startTimer(timeoutMs, () => controller.abort(new KubeRequestTimeoutError(timeoutMs)));
  try {
    return await work(controller.signal);
  } finally {
    cancel();
    signal?.removeEventListener('abort', onAbort);
  }
}

export interface ApiFailure {
  readonly httpStatus: number | undefined;
  readonly reason: string | undefined;
  readonly detail: string;
  readonly aborted: boolean;
}

/** From the status and the Status object only: another answer body may be a token or a Secret. */
export function describeApiFailure(err: unknown, timeoutMs?: number): ApiFailure {
  if (err instanceof KubeApiError) {
    const code = err.status;
    const status = parseStatus(err.body);
    const reason = status.reason ?? (code === 401 ? 'Unauthorized' : undefined);
    const tail = status.message === undefined ? '' : `: ${sanitizeVaultMessage(status.message)}`;
    return {
      httpStatus: code,
      reason,
      detail: `the Kubernetes API answered ${code}${reason === undefined ? '' : ` ${reason}`}${tail}`,
      aborted: false,
    };
  }
  const name = err instanceof Error ? err.name : typeof err;
  if (name === 'AbortError' || name === 'TimeoutError' || errnoCode(err) === 'UND_ERR_ABORTED') {
    const within = timeoutMs === undefined ? 'in time' : `within ${formatMs(timeoutMs)} (request timeout)`;
    return { httpStatus: undefined, reason: undefined, detail: `the Kubernetes API did not answer ${within}`, aborted: true };
  }
  // undici's own timeouts (connect, headers, body) sit above the request timeout (kube-client.ts), so they fire only
  // for a caller that set a longer one; still a timeout, not a failure of the request.
  const undiciCode = errnoCode(err);
  if (undiciCode === 'UND_ERR_CONNECT_TIMEOUT' || undiciCode === 'UND_ERR_HEADERS_TIMEOUT' || undiciCode === 'UND_ERR_BODY_TIMEOUT') {
    return { httpStatus: undefined, reason: undefined, detail: `the Kubernetes API did not answer in time (${undiciCode})`, aborted: true };
  }
  if (err instanceof BodyTooLargeError) {
    return { httpStatus: undefined, reason: undefined, detail: `the Kubernetes API answered with more than ${err.limitBytes} bytes, far more than this call returns`, aborted: false };
  }
  if (err instanceof KubeAnswerError) {
    return { httpStatus: err.status, reason: undefined, detail: `the Kubernetes API answered ${err.status} with a body that is not JSON`, aborted: false };
  }
  // Connection errors and fs errors (the token or CA file) carry an errno-style code; their messages may hold
  // URLs or paths, so only the code is quoted.
  const code = errnoCode(err);
  if (code !== undefined && code !== '') {
    return { httpStatus: undefined, reason: undefined, detail: `the Kubernetes API request failed (${code})`, aborted: false };
  }
  return { httpStatus: undefined, reason: undefined, detail: `the Kubernetes API request failed (${name})`, aborted: false };
}

/** Only an API error answer is attached as cause: other failures can quote a token or a Secret they choked on. */
export function safeCause(err: unknown): { cause?: unknown } {
  return err instanceof KubeApiError ? { cause: err } : {};
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function parseStatus(body: unknown): { reason: string | undefined; message: string | undefined } {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return { reason: undefined, message: undefined };
    }
  }
  if (!isPlainObject(value)) return { reason: undefined, message: undefined };
  const { reason, message } = value;
  return {
    reason: typeof reason === 'string' && reason !== '' ? reason : undefined,
    message: typeof message === 'string' && message !== '' ? message : undefined,
  };
}
