/**
 * A small bounded LRU over Map insertion order. Bounded in entries and, when sizes are given, in bytes; expired
 * entries (by an injectable clock) are dropped on access, and swept on insert at most once a second: a sweep
 * visits every entry, and caches that take an entry per mount (the audit log's, say) made that a cost of every
 * mount (`npm run bench`). Used by every in-memory cache here.
 */
import { systemClock, type Clock } from './clock.js';

export interface LruOptions<V> {
  readonly maxEntries: number;
  readonly maxBytes?: number;
  readonly sizeOf?: (value: V) => number;
  readonly now?: Clock['now'];
  readonly onEvict?: (key: string, value: V, reason: 'capacity' | 'expired' | 'deleted') => void;
}

const SWEEP_INTERVAL_MS = 1_000;

interface Slot<V> {
  readonly value: V;
  readonly expiresAt: number;
  readonly size: number;
}

export class Lru<V> {
  readonly #slots = new Map<string, Slot<V>>();
  readonly #options: LruOptions<V>;
  readonly #now: Clock['now'];
  #bytes = 0;
  /** When the next insert sweeps out expired entries. */
  #nextSweep = Number.NEGATIVE_INFINITY;

  constructor(options: LruOptions<V>) {
    if (!(options.maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
    this.#options = options;
    this.#now = options.now ?? systemClock.now;
  }

  get size(): number {
    return this.#slots.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt <= this.#now()) {
      this.#remove(key, slot, 'expired');
      return undefined;
    }
    // Re-insert to mark it most recently used.
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    return slot.value;
  }

  /** `ttlMs` undefined: no expiry. */
  set(key: string, value: V, ttlMs?: number): void {
    const existing = this.#slots.get(key);
    if (existing !== undefined) this.#remove(key, existing, 'deleted');
    const size = this.#options.sizeOf?.(value) ?? 0;
    if (this.#options.maxBytes !== undefined && size > this.#options.maxBytes) return;
    const expiresAt = ttlMs === undefined ? Number.POSITIVE_INFINITY : this.#now() + ttlMs;
    this.#slots.set(key, { value, expiresAt, size });
    this.#bytes += size;
    this.#shrink();
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#remove(key, slot, 'deleted');
    return true;
  }

  clear(): void {
    for (const [key, slot] of [...this.#slots]) this.#remove(key, slot, 'deleted');
  }

  values(): V[] {
    return [...this.#slots.values()].map((s) => s.value);
  }

  keys(): string[] {
    return [...this.#slots.keys()];
  }

  /** Every entry, oldest first, without touching recency or expiry. */
  entries(): Array<readonly [string, V]> {
    return [...this.#slots].map(([key, slot]) => [key, slot.value] as const);
  }

  #remove(key: string, slot: Slot<V>, reason: 'capacity' | 'expired' | 'deleted'): void {
    this.#slots.delete(key);
    this.#bytes -= slot.size;
    this.#options.onEvict?.(key, slot.value, reason);
  }

  #shrink(): void {
    const now = this.#now();
    if (now >= this.#nextSweep) {
      this.#nextSweep = now + SWEEP_INTERVAL_MS;
      for (const [key, slot] of [...this.#slots]) {
        if (slot.expiresAt <= now) this.#remove(key, slot, 'expired');
      }
    }
    const maxBytes = this.#options.maxBytes ?? Number.POSITIVE_INFINITY;
    while (this.#slots.size > this.#options.maxEntries || this.#bytes > maxBytes) {
      const oldest = this.#slots.entries().next();
      if (oldest.done === true) break;
      const [key, slot] = oldest.value;
      this.#remove(key, slot, 'capacity');
    }
  }
}
