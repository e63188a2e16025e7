/**
 * A provider that protects Vault (secrets-store-csi-driver#1483: a throttled store met endless retries with no
 * backoff). One gate per Vault address, shared by every mount and every Vault client of the provider, through which
 * every HTTP request to that address passes:
 *
 * - at most `maxInFlight` requests in flight at once (--vault-max-in-flight);
 * - a token bucket of `ratePerSecond` requests a second with `burst` at once (--vault-rate-limit, --vault-rate-burst);
 * - a 429 stops every request to the address until its Retry-After has passed (1 s when it gives none), and halves
 *   the gate's rate, which grows back by a twentieth of the configured rate with each answer that is not a 429;
 * - consecutive failures of the address itself (connection errors, timeouts, 5xx) set a shared backoff: from the
 *   third in a row, no request goes for 100 ms, doubling up to 2 s, until one succeeds. A single failure among
 *   successes (a Vault failing one request in twenty) pauses nobody; each mount's own retries (retry.ts) then
 *   queue behind the shared pause instead of each keeping its own schedule.
 *
 * Requests are admitted first come, first served. Time comes from an injectable clock, so tests count rather than
 * time. The defaults let a node restart with a few hundred volumes (two requests each) pass in seconds against a
 * Vault without limits, well inside kubelet's 2 minutes per mount.
 */
import { abortReason } from '../errors.js';

export interface GateLimits {
  readonly maxInFlight: number;
  readonly ratePerSecond: number;
  readonly burst: number;
}

/**
 * 32 in flight is what one client's keep-alive pool already allowed per address (transport.ts), now held across all
 * clients; the bucket lets a node restart's few hundred volumes (two requests each) go at once and paces a steady
 * 500 a second after that, far above what republishes need (a node of 100 pods asks about 2 a second).
 */
export const DEFAULT_GATE_LIMITS: GateLimits = { maxInFlight: 32, ratePerSecond: 500, burst: 1000 };

/** Consecutive failures before the shared backoff starts, its first pause and its ceiling. */
export const FAILURE_STREAK_BEFORE_BACKOFF = 3;
export const SHARED_BACKOFF_BASE_MS = 100;
export const SHARED_BACKOFF_MAX_MS = 2_000;
/** Retry-After assumed for a 429 that gives none, and the longest one honoured (a broken header must not stall us). */
export const DEFAULT_RETRY_AFTER_MS = 1_000;
export const MAX_RETRY_AFTER_MS = 60_000;

export interface GateClock {
  now(): number;
  /** Resolves after `ms`; its timer must not hold the process open. */
  sleep(ms: number): Promise<void>;
}

export const realGateClock: GateClock = {
  now: () => performance.now(),
  sleep: (ms) =>
    new Promise<void>((resolve) => {
      setTimeout(resolve, ms).unref();
    }),
};

/** Why a request waited at the gate, for the wait metric: the longest reason seen while it queued. */
export type WaitCause = 'in_flight' | 'rate' | 'backoff';

export interface GateWait {
  readonly waitedMs: number;
  /** undefined when the request did not wait. */
  readonly cause: WaitCause | undefined;
}

export interface GateEvents {
  /** Every admitted request: how long it queued. */
  readonly onWait?: (wait: GateWait) => void;
  /** Every 429 Vault answered. */
  readonly onThrottled?: () => void;
}

interface Waiter {
  readonly enqueuedAt: number;
  cause: WaitCause | undefined;
  readonly grant: (release: () => void) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

const CAUSE_RANK: Record<WaitCause, number> = { rate: 1, in_flight: 2, backoff: 3 };

export class AddressGate {
  readonly #limits: GateLimits;
  readonly #clock: GateClock;
  readonly #events: GateEvents;
  readonly #queue: Waiter[] = [];
  #inFlight = 0;
  #peakInFlight = 0;
  #rate: number;
  #tokens: number;
  #refilledAt: number;
  #notBefore = 0;
  #streak = 0;
  #pumping = false;
  #slotFreed: (() => void) | undefined;

  constructor(limits: GateLimits, clock: GateClock = realGateClock, events: GateEvents = {}) {
    this.#limits = limits;
    this.#clock = clock;
    this.#events = events;
    this.#rate = limits.ratePerSecond;
    this.#tokens = limits.burst;
    this.#refilledAt = clock.now();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The most requests in flight at once since the gate was made. */
  get peakInFlight(): number {
    return this.#peakInFlight;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** The current rate, requests a second (below the configured one after a 429). */
  get rate(): number {
    return this.#rate;
  }

  /** Waits for a place; resolves to the release to call once the answer is in. Rejects when `signal` aborts. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        enqueuedAt: this.#clock.now(),
        cause: undefined,
        grant: resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.#queue.indexOf(waiter);
          if (at !== -1) this.#queue.splice(at, 1);
          reject(abortReason(signal!));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      void this.#pump();
    });
  }

  /** Vault answered 429: nobody sends to this address until Retry-After has passed, and the rate halves. */
  throttled(retryAfterSeconds: number | undefined): void {
    this.#events.onThrottled?.();
    const now = this.#clock.now();
    const pauseMs = retryAfterSeconds === undefined ? DEFAULT_RETRY_AFTER_MS : Math.min(MAX_RETRY_AFTER_MS, retryAfterSeconds * 1000);
    this.#notBefore = Math.max(this.#notBefore, now + pauseMs);
    this.#rate = Math.max(1, this.#rate / 2);
    // After the pause, requests trickle in at the (lowered) rate rather than as one burst: one goes at once.
    this.#tokens = 1;
    this.#refilledAt = this.#notBefore;
  }

  /** The address itself failed (connection error, timeout, 5xx). */
  failed(): void {
    this.#streak++;
    if (this.#streak < FAILURE_STREAK_BEFORE_BACKOFF) return;
    const pauseMs = Math.min(SHARED_BACKOFF_MAX_MS, SHARED_BACKOFF_BASE_MS * 2 ** (this.#streak - FAILURE_STREAK_BEFORE_BACKOFF));
    this.#notBefore = Math.max(this.#notBefore, this.#clock.now() + pauseMs);
  }

  /** Vault answered (anything but a 429 or a failure of its own). */
  answered(): void {
    this.#streak = 0;
    if (this.#rate < this.#limits.ratePerSecond) this.#rate = Math.min(this.#limits.ratePerSecond, this.#rate + this.#limits.ratePerSecond / 20);
  }

  #refill(now: number): void {
    if (now <= this.#refilledAt) return;
    this.#tokens = Math.min(this.#limits.burst, this.#tokens + ((now - this.#refilledAt) * this.#rate) / 1000);
    this.#refilledAt = now;
  }

  #note(cause: WaitCause): void {
    for (const waiter of this.#queue) if (waiter.cause === undefined || CAUSE_RANK[cause] > CAUSE_RANK[waiter.cause]) waiter.cause = cause;
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        if (this.#inFlight >= this.#limits.maxInFlight) {
          this.#note('in_flight');
          await new Promise<void>((resolve) => {
            this.#slotFreed = resolve;
          });
          continue;
        }
        const now = this.#clock.now();
        this.#refill(now);
        if (this.#notBefore > now) {
          this.#note('backoff');
          await this.#clock.sleep(Math.ceil(this.#notBefore - now));
          continue;
        }
        if (this.#tokens < 1) {
          this.#note('rate');
          await this.#clock.sleep(Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#rate)));
          continue;
        }
        const waiter = this.#queue.shift()!;
        waiter.signal?.removeEventListener('abort', waiter.onAbort);
        this.#tokens -= 1;
        this.#inFlight++;
        if (this.#inFlight > this.#peakInFlight) this.#peakInFlight = this.#inFlight;
        this.#events.onWait?.({ waitedMs: now - waiter.enqueuedAt, cause: waiter.cause });
        let released = false;
        waiter.grant(() => {
          if (released) return;
          released = true;
          this.#inFlight--;
          const freed = this.#slotFreed;
          this.#slotFreed = undefined;
          freed?.();
        });
      }
    } finally {
      this.#pumping = false;
    }
  }
}

/**
 * Gates kept at most; past it, idle ones are dropped (with `--allowed-vault-addresses=*` a mount may name any
 * address, and one gate per name must not grow without bound). A dropped gate forgets only an idle address's state.
 */
export const MAX_GATES = 256;

/** The provider's gates, one per Vault origin (scheme, host and port), made on first use. */
export class AddressGates {
  readonly #gates = new Map<string, AddressGate>();
  readonly #limits: GateLimits;
  readonly #clock: GateClock;
  readonly #events: GateEvents;

  constructor(limits: GateLimits = DEFAULT_GATE_LIMITS, clock: GateClock = realGateClock, events: GateEvents = {}) {
    this.#limits = limits;
    this.#clock = clock;
    this.#events = events;
  }

  get limits(): GateLimits {
    return this.#limits;
  }

  for(origin: string): AddressGate {
    let gate = this.#gates.get(origin);
    if (gate === undefined) {
      if (this.#gates.size >= MAX_GATES) {
        for (const [key, old] of this.#gates) if (old.inFlight === 0 && old.queued === 0) this.#gates.delete(key);
      }
      gate = new AddressGate(this.#limits, this.#clock, this.#events);
      this.#gates.set(origin, gate);
    }
    return gate;
  }

  /** The gate of `origin` if one was made (tests and metrics). */
  peek(origin: string): AddressGate | undefined {
    return this.#gates.get(origin);
  }
}
