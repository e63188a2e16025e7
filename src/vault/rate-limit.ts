/**
 * One gate per Vault address, shared by every mount of the provider: it protects Vault (secrets-store-csi-driver#1483:
 * a throttled store met endless retries with no backoff) and shares it fairly between tenants (issue 19, classes 8
 * and 9). The rules: docs/configuration.md#several-vault-addresses-redirects-and-protecting-vault. Hand-written: the
 * queue libraries at hand (p-queue, bottleneck) have no fairness across keys under one shared bound.
 */
import { abortReason } from '../errors.js';
import { systemClock, type Clock } from '../shared/clock.js';

export interface GateLimits {
  readonly maxInFlight: number;
  readonly maxInFlightPerTenant: number;
  readonly ratePerSecond: number;
  readonly burst: number;
}

/** A node restart's few hundred volumes (two requests each) go at once; 32 is what one keep-alive pool allowed. */
export const DEFAULT_GATE_LIMITS: GateLimits = { maxInFlight: 32, maxInFlightPerTenant: 16, ratePerSecond: 1000, burst: 4000 };

/** A tenant is the pod's namespace: set by the kubelet, so a namespace user cannot make more of them. */
export const NO_TENANT = '';

/** Consecutive failures before a tenant's backoff starts, its first pause and its ceiling. */
export const FAILURE_STREAK_BEFORE_BACKOFF = 3;
export const SHARED_BACKOFF_BASE_MS = 100;
export const SHARED_BACKOFF_MAX_MS = 2_000;
/** Retry-After assumed for a 429 that gives none, and the longest one honoured (a broken header must not stall us). */
export const DEFAULT_RETRY_AFTER_MS = 1_000;
export const MAX_RETRY_AFTER_MS = 60_000;
/** Distinct tenants throttled within the window (or failing with no answer between) that make the node back off. */
export const NODE_BACKOFF_TENANTS = 3;
export const NODE_THROTTLE_WINDOW_MS = 2_000;
/** Tenants one gate keeps state for; past it idle ones are dropped, and then newcomers share one overflow tenant. */
export const MAX_TENANTS = 1024;
const OVERFLOW_TENANT = '\0overflow';

/** Why a request waited at the gate, for the wait metric: the strongest reason seen while it queued. */
export type WaitCause = 'in_flight' | 'tenant_in_flight' | 'rate' | 'backoff';

export interface GateWait {
  readonly waitedMs: number;
  readonly cause: WaitCause | undefined;
}

export interface GateEvents {
  readonly onWait?: (wait: GateWait) => void;
  readonly onThrottled?: () => void;
  readonly onNodeBackoff?: (cause: 'throttled' | 'failing') => void;
}

export interface TenantView {
  readonly inFlight: number;
  readonly queued: number;
  readonly rate: number;
  readonly pausedUntil: number;
}

const CAUSES: readonly WaitCause[] = ['rate', 'tenant_in_flight', 'in_flight', 'backoff'];
type Noted = Record<WaitCause, number>;
const notedNever = (): Noted => ({ rate: -1, tenant_in_flight: -1, in_flight: -1, backoff: -1 });

interface Waiter {
  readonly enqueuedAt: number;
  /** The gate's note counter when it queued: causes noted after it are its causes. */
  readonly seq: number;
  readonly tenant: Tenant;
  readonly grant: (release: () => void) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** A token bucket whose rate halves on a 429 and earns itself back. */
class Bucket {
  rate: number;
  tokens: number;
  refilledAt: number;
  constructor(
    readonly limits: GateLimits,
    now: number,
  ) {
    this.rate = limits.ratePerSecond;
    this.tokens = limits.burst;
    this.refilledAt = now;
  }

  refill(now: number): void {
    if (now <= this.refilledAt) return;
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
  }

  nextTokenAt(now: number): number {
    return this.tokens >= 1 ? now : now + Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
  }

  /** After the pause, requests trickle in at the lowered rate rather than as one burst: one goes at once. */
  cut(resumeAt: number): void {
    this.rate = Math.max(1, this.rate / 2);
    this.tokens = 1;
    this.refilledAt = Math.max(this.refilledAt, resumeAt);
  }

  recover(): void {
    if (this.rate < this.limits.ratePerSecond) this.rate = Math.min(this.limits.ratePerSecond, this.rate + this.limits.ratePerSecond / 20);
  }
}

class Tenant {
  readonly queue: Waiter[] = [];
  readonly bucket: Bucket;
  readonly noted = notedNever();
  inFlight = 0;
  notBefore = 0;
  streak = 0;
  constructor(
    readonly key: string,
    limits: GateLimits,
    now: number,
  ) {
    this.bucket = new Bucket(limits, now);
  }

  /** Nothing here that a fresh state would not say: it can be forgotten. */
  idle(now: number): boolean {
    return this.inFlight === 0 && this.queue.length === 0 && this.streak === 0 && this.notBefore <= now && this.bucket.rate >= this.bucket.limits.ratePerSecond;
  }
}

export class AddressGate {
  readonly #limits: GateLimits;
  readonly #perTenant: number;
  readonly #clock: Pick<Clock, 'monotonic' | 'sleep'>;
  readonly #events: GateEvents;
  readonly #tenants = new Map<string, Tenant>();
  /** Tenants with waiters, in turn order; #turn is the next one's index. */
  readonly #ring: Tenant[] = [];
  #turn = 0;
  readonly #bucket: Bucket;
  readonly #noted = notedNever();
  #seq = 0;
  #queued = 0;
  #inFlight = 0;
  #peakInFlight = 0;
  #notBefore = 0;
  /** Failures since the last answer, and the distinct tenants they came from (at most NODE_BACKOFF_TENANTS). */
  #streak = 0;
  readonly #failing = new Set<string>();
  /** The latest 429 of each of the last few distinct tenants, and when their pause ends. */
  #throttledTenants: Array<{ readonly key: string; readonly at: number; readonly until: number }> = [];
  /** End times of the sleeps pending, so that one wake-up is asked for each moment. */
  readonly #wakes: number[] = [];
  #scheduling = false;
  #again = false;

  constructor(limits: GateLimits, clock: Pick<Clock, 'monotonic' | 'sleep'> = systemClock, events: GateEvents = {}) {
    this.#limits = limits;
    this.#perTenant = Math.max(1, Math.min(limits.maxInFlightPerTenant, limits.maxInFlight));
    this.#clock = clock;
    this.#events = events;
    this.#bucket = new Bucket(limits, clock.monotonic());
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get peakInFlight(): number {
    return this.#peakInFlight;
  }

  get queued(): number {
    return this.#queued;
  }

  get rate(): number {
    return this.#bucket.rate;
  }

  get tenants(): number {
    return this.#tenants.size;
  }

  tenant(key: string = NO_TENANT): TenantView {
    const t = this.#tenants.get(key);
    if (t === undefined) return { inFlight: 0, queued: 0, rate: this.#limits.ratePerSecond, pausedUntil: 0 };
    return { inFlight: t.inFlight, queued: t.queue.length, rate: t.bucket.rate, pausedUntil: t.notBefore };
  }

  /** Waits for a place; resolves to the release to call once the answer is in. Rejects when `signal` aborts. */
  acquire(signal?: AbortSignal, tenantKey: string = NO_TENANT): Promise<() => void> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<() => void>((resolve, reject) => {
      const tenant = this.#tenant(tenantKey);
      const waiter: Waiter = {
        enqueuedAt: this.#clock.monotonic(),
        seq: this.#seq++,
        tenant,
        grant: resolve,
        reject,
        signal,
        onAbort: () => {
          const at = tenant.queue.indexOf(waiter);
          if (at !== -1) {
            tenant.queue.splice(at, 1);
            this.#queued--;
            if (tenant.queue.length === 0) this.#leaveRing(tenant);
            this.#forget(tenant);
          }
          reject(abortReason(signal!));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      tenant.queue.push(waiter);
      this.#queued++;
      if (tenant.queue.length === 1) this.#ring.push(tenant);
      this.#schedule();
    });
  }

  /** Vault answered 429 to `tenantKey`: that tenant waits Retry-After and its rate halves; many such, the node too. */
  throttled(retryAfterSeconds: number | undefined, tenantKey: string = NO_TENANT): void {
    this.#events.onThrottled?.();
    const now = this.#clock.monotonic();
    const until = now + (retryAfterSeconds === undefined ? DEFAULT_RETRY_AFTER_MS : Math.min(MAX_RETRY_AFTER_MS, retryAfterSeconds * 1000));
    const tenant = this.#tenant(tenantKey);
    tenant.notBefore = Math.max(tenant.notBefore, until);
    tenant.bucket.cut(tenant.notBefore);
    const recent = this.#throttledTenants.filter((e) => e.key !== tenantKey && e.at > now - NODE_THROTTLE_WINDOW_MS);
    recent.push({ key: tenantKey, at: now, until });
    if (recent.length < NODE_BACKOFF_TENANTS) {
      this.#throttledTenants = recent;
      return;
    }
    // Vault throttles many tenants at once (a global quota): nobody sends until the longest Retry-After among them.
    this.#throttledTenants = [];
    if (this.#notBefore <= now) this.#events.onNodeBackoff?.('throttled');
    this.#notBefore = Math.max(this.#notBefore, ...recent.map((e) => e.until));
    this.#bucket.cut(this.#notBefore);
  }

  failed(tenantKey: string = NO_TENANT): void {
    const now = this.#clock.monotonic();
    const tenant = this.#tenant(tenantKey);
    tenant.streak++;
    if (tenant.streak >= FAILURE_STREAK_BEFORE_BACKOFF) tenant.notBefore = Math.max(tenant.notBefore, now + backoffMs(tenant.streak));
    this.#streak++;
    if (this.#failing.size < NODE_BACKOFF_TENANTS) this.#failing.add(tenantKey);
    if (this.#failing.size < NODE_BACKOFF_TENANTS || this.#streak < FAILURE_STREAK_BEFORE_BACKOFF) return;
    if (this.#notBefore <= now) this.#events.onNodeBackoff?.('failing');
    this.#notBefore = Math.max(this.#notBefore, now + backoffMs(this.#streak));
  }

  answered(tenantKey: string = NO_TENANT): void {
    this.#streak = 0;
    this.#failing.clear();
    this.#bucket.recover();
    const tenant = this.#tenants.get(tenantKey);
    if (tenant === undefined) return;
    tenant.streak = 0;
    tenant.bucket.recover();
  }

  #tenant(key: string): Tenant {
    const known = this.#tenants.get(key);
    if (known !== undefined) return known;
    let kept = key;
    if (this.#tenants.size >= MAX_TENANTS) {
      // Idle ones first, what they were owed (a pause, a lowered rate) forgotten; if all are busy, one shared state.
      for (const [k, t] of this.#tenants) if (t.inFlight === 0 && t.queue.length === 0) this.#tenants.delete(k);
      if (this.#tenants.size >= MAX_TENANTS) kept = OVERFLOW_TENANT;
    }
    const tenant = this.#tenants.get(kept) ?? new Tenant(kept, this.#limits, this.#clock.monotonic());
    this.#tenants.set(kept, tenant);
    return tenant;
  }

  #forget(tenant: Tenant): void {
    if (tenant.idle(this.#clock.monotonic())) this.#tenants.delete(tenant.key);
  }

  #leaveRing(tenant: Tenant): void {
    const at = this.#ring.indexOf(tenant);
    if (at === -1) return;
    this.#ring.splice(at, 1);
    if (at < this.#turn) this.#turn--;
  }

  #note(noted: Noted, cause: WaitCause): void {
    noted[cause] = this.#seq++;
  }

  /** The strongest cause noted, at the gate or for its tenant, since the waiter queued. */
  #causeOf(waiter: Waiter): WaitCause | undefined {
    let cause: WaitCause | undefined;
    for (const c of CAUSES) if (this.#noted[c] > waiter.seq || waiter.tenant.noted[c] > waiter.seq) cause = c;
    return cause;
  }

  #wakeAt(at: number): void {
    if (this.#wakes.some((w) => w <= at)) return;
    this.#wakes.push(at);
    void this.#clock.sleep(Math.max(1, Math.ceil(at - this.#clock.monotonic()))).then(() => {
      this.#wakes.splice(this.#wakes.indexOf(at), 1);
      this.#schedule();
    });
  }

  /** Grants what can go now; re-entered calls (a grant's callbacks) run once more after the current pass. */
  #schedule(): void {
    if (this.#scheduling) {
      this.#again = true;
      return;
    }
    this.#scheduling = true;
    try {
      do {
        this.#again = false;
        this.#grantAll();
      } while (this.#again);
    } finally {
      this.#scheduling = false;
    }
  }

  #grantAll(): void {
    while (this.#ring.length > 0) {
      // A release schedules again.
      if (this.#inFlight >= this.#limits.maxInFlight) return this.#note(this.#noted, 'in_flight');
      const now = this.#clock.monotonic();
      if (this.#notBefore > now) {
        this.#note(this.#noted, 'backoff');
        return this.#wakeAt(this.#notBefore);
      }
      this.#bucket.refill(now);
      if (this.#bucket.tokens < 1) {
        this.#note(this.#noted, 'rate');
        return this.#wakeAt(this.#bucket.nextTokenAt(now));
      }
      const tenant = this.#nextTenant(now);
      if (tenant === undefined) return;
      this.#grant(tenant, now);
    }
  }

  /** The next tenant in turn that may send now; none: a wake-up is set for the earliest one that will. */
  #nextTenant(now: number): Tenant | undefined {
    let earliest = Number.POSITIVE_INFINITY;
    const count = this.#ring.length;
    for (let i = 0; i < count; i++) {
      const at = (this.#turn + i) % count;
      const tenant = this.#ring[at]!;
      // A release of this tenant's schedules again.
      if (tenant.inFlight >= this.#perTenant) {
        this.#note(tenant.noted, 'tenant_in_flight');
        continue;
      }
      if (tenant.notBefore > now) {
        this.#note(tenant.noted, 'backoff');
        earliest = Math.min(earliest, tenant.notBefore);
        continue;
      }
      tenant.bucket.refill(now);
      if (tenant.bucket.tokens < 1) {
        this.#note(tenant.noted, 'rate');
        earliest = Math.min(earliest, tenant.bucket.nextTokenAt(now));
        continue;
      }
      this.#turn = at + 1;
      return tenant;
    }
    if (earliest !== Number.POSITIVE_INFINITY) this.#wakeAt(earliest);
    return undefined;
  }

  #grant(tenant: Tenant, now: number): void {
    const waiter = tenant.queue.shift()!;
    this.#queued--;
    if (tenant.queue.length === 0) this.#leaveRing(tenant);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    this.#bucket.tokens -= 1;
    tenant.bucket.tokens -= 1;
    this.#inFlight++;
    tenant.inFlight++;
    if (this.#inFlight > this.#peakInFlight) this.#peakInFlight = this.#inFlight;
    this.#events.onWait?.({ waitedMs: now - waiter.enqueuedAt, cause: this.#causeOf(waiter) });
    let released = false;
    waiter.grant(() => {
      if (released) return;
      released = true;
      this.#inFlight--;
      tenant.inFlight--;
      this.#forget(tenant);
      this.#schedule();
    });
  }
}

function backoffMs(streak: number): number {
  return Math.min(SHARED_BACKOFF_MAX_MS, SHARED_BACKOFF_BASE_MS * 2 ** (streak - FAILURE_STREAK_BEFORE_BACKOFF));
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
  readonly #clock: Pick<Clock, 'monotonic' | 'sleep'>;
  readonly #events: GateEvents;

  constructor(limits: GateLimits = DEFAULT_GATE_LIMITS, clock: Pick<Clock, 'monotonic' | 'sleep'> = systemClock, events: GateEvents = {}) {
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

  peek(origin: string): AddressGate | undefined {
    return this.#gates.get(origin);
  }
}
