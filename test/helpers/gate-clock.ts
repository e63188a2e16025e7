/**
 * A clock for the per-address request gates (src/vault/rate-limit.ts) that records every wait the gates ask for.
 * Virtual by default: a sleep advances the clock and returns at once, so a test counts the waits (a 429's
 * Retry-After, the shared backoff, the token bucket's pacing) instead of sitting through them. `real` sleeps for real.
 */
import type { Clock } from '../../src/shared/clock.js';

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
 * A clock that stands still until the test moves it: a sleep resolves only once `advance` has passed its end. For
 * counting what goes while something waits (one tenant paused, another served), with no time passing at all.
 */
export class ManualGateClock implements Pick<Clock, 'monotonic' | 'sleep'> {
  readonly sleeps: number[] = [];
  #now = 0;
  #timers: Array<{ readonly at: number; readonly resolve: () => void }> = [];

  monotonic(): number {
    return this.#now;
  }

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve) => this.#timers.push({ at: this.#now + ms, resolve }));
  }

  /** Moves the clock on by `ms`, waking every sleep that ends by then. */
  advance(ms: number): void {
    this.#now += ms;
    const due = this.#timers.filter((t) => t.at <= this.#now);
    this.#timers = this.#timers.filter((t) => t.at > this.#now);
    for (const t of due) t.resolve();
  }
}
