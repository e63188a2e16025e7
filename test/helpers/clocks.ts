/**
 * The tests' clocks (src/shared/clock.ts): a test moves time by hand or records what was asked of it, so it counts
 * the waits (a 429's Retry-After, the shared backoff, a debounce) instead of sitting through them.
 */
import { abortReason } from '../../src/errors.js';
import type { Clock } from '../../src/shared/clock.js';

/**
 * For the per-address request gates (src/vault/rate-limit.ts): records every wait the gates ask for. Virtual by
 * default: a sleep advances the clock and returns at once. `real` sleeps for real.
 */
export class RecordingGateClock implements Pick<Clock, 'monotonic' | 'sleep'> {
  readonly sleeps: number[] = [];
  real = false;
  #virtual = 0;

  monotonic(): number {
    return this.real ? performance.now() : this.#virtual;
  }

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    if (this.real) return new Promise((resolve) => setTimeout(resolve, ms).unref());
    this.#virtual += ms;
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * A clock that stands still until the test moves it: a sleep or a timer ends only once `advance` has passed its end.
 * For counting what goes while something waits (one tenant paused, another served), with no time passing at all.
 */
export class ManualClock implements Clock {
  readonly sleeps: number[] = [];
  #now = 0;
  #timers: Array<{ readonly at: number; readonly fire: () => void }> = [];

  /** `epochMs`: what `now()` reads before the clock has moved. */
  constructor(readonly epochMs = 0) {}

  now(): number {
    return this.epochMs + this.#now;
  }

  monotonic(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = (): void => {
        cancel();
        reject(abortReason(signal!));
      };
      const cancel = this.after(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.#now + ms, fire: fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Sleeps and timers not yet ended nor cancelled. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves the clock on by `ms`, ending every sleep and timer due by then, in the order they were asked for. */
  advance(ms: number): void {
    this.#now += ms;
    const due = this.#timers.filter((t) => t.at <= this.#now);
    this.#timers = this.#timers.filter((t) => t.at > this.#now);
    for (const t of due) t.fire();
  }
}
