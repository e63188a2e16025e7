/**
 * A clock for the per-address request gates (src/vault/rate-limit.ts) that records every wait the gates ask for.
 * Virtual by default: a sleep advances the clock and returns at once, so a test counts the waits (a 429's
 * Retry-After, the shared backoff, the token bucket's pacing) instead of sitting through them. `real` sleeps for real.
 */
import type { GateClock } from '../../src/vault/rate-limit.js';

export class RecordingGateClock implements GateClock {
  readonly sleeps: number[] = [];
  real = false;
  #virtual = 0;

  now(): number {
    return this.real ? performance.now() : this.#virtual;
  }

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    if (this.real) return new Promise((resolve) => setTimeout(resolve, ms).unref());
    this.#virtual += ms;
    return new Promise((resolve) => setImmediate(resolve));
  }
}
