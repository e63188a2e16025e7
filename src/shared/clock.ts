/**
 * The one clock: time readings and timers, passed to whatever waits or measures, so tests drive time by hand. A
 * module takes the members it uses (`Pick<Clock, 'monotonic' | 'sleep'>`, `Clock['now']`); `systemClock` is the real
 * one. Its timers never hold the process open.
 */
import { abortReason } from '../errors.js';

export interface Clock {
  /** Milliseconds since the epoch (Date.now): lifetimes, deadlines, what is kept across restarts. */
  readonly now: () => number;
  /** Milliseconds that never go back (performance.now): intervals, rates, waits. */
  readonly monotonic: () => number;
  /** Resolves after `ms`; rejects with the signal's reason as soon as it aborts. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Calls `fn` after `ms` unless the returned cancel is called first. */
  readonly after: (ms: number, fn: () => void) => () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
