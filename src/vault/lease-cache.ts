/**
 * Reuse of Vault responses that carry a lease or a certificate, per pod and Vault identity, until `fraction` of their
 * lifetime: the reference reads every object again on every republish, minting a new database user or certificate a
 * minute (hashicorp/vault-csi-provider#149, #238; secrets-store-csi-driver#1453). docs/rotation-and-caching.md.
 * A KV v1 answer's `lease_duration` with an empty `lease_id` is a refresh hint, not a lease; a certificate counts only
 * on a write, so a KV secret with those keys is never frozen. `credentialScope: workload` entries key by the token's
 * workload key (auth/authenticator.ts, servesWorkload).
 */
import type { CredentialScope } from '../config/types.js';
import { Lru } from '../shared/lru.js';
import type { SecretResponse } from './responses.js';
import { isPlainObject } from '../shared/plain-object.js';
import { systemClock, type Clock } from '../shared/clock.js';

export const DEFAULT_REUSE_FRACTION = 2 / 3;

export type ReuseReason = 'lease' | 'certificate';

export interface ReuseWindow {
  readonly reason: ReuseReason;
  readonly obtainedAt: number;
  /** When the credential stops working: the lease end (bounded by its token's), or the certificate's notAfter. */
  readonly expiresAt: number;
  readonly reuseUntil: number;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** How long `response` may be reused (undefined: fetched on every mount); bounded by its token's expiry. */
export function reuseWindow(
  response: SecretResponse,
  method: string,
  obtainedAt: number,
  tokenExpiresAt: number,
  fraction: number,
): ReuseWindow | undefined {
  if (!(fraction > 0)) return undefined;
  let expiresAt = Number.POSITIVE_INFINITY;
  let reason: ReuseReason | undefined;
  const leaseSeconds = response.lease_duration ?? 0;
  if (typeof response.lease_id === 'string' && response.lease_id !== '' && leaseSeconds > 0) {
    reason = 'lease';
    expiresAt = Math.min(obtainedAt + leaseSeconds * 1000, tokenExpiresAt);
  }
  const data = response.data;
  if (WRITE_METHODS.has(method) && isPlainObject(data) && typeof data['certificate'] === 'string') {
    const expiration = data['expiration'];
    if (typeof expiration === 'number' && Number.isFinite(expiration) && expiration > 0) {
      reason ??= 'certificate';
      expiresAt = Math.min(expiresAt, expiration * 1000);
    }
  }
  if (reason === undefined || !(expiresAt > obtainedAt) || !Number.isFinite(expiresAt)) return undefined;
  return { reason, obtainedAt, expiresAt, reuseUntil: obtainedAt + (expiresAt - obtainedAt) * fraction };
}

/** Whose response it is: the pod (or, for `workload`, every pod of) the identity Vault authorised, and the request. */
export interface ReuseScope {
  readonly podUid: string;
  readonly identityKey: string;
  readonly requestKey: string;
  readonly credentialScope?: CredentialScope;
}

export interface LeaseCacheOptions {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Share of the lifetime during which a response is reused (default 2/3); 0 turns reuse off. */
  readonly fraction?: number;
  readonly now?: Clock['now'];
  readonly onEvict?: (reason: 'capacity' | 'expired') => void;
}

interface Entry {
  readonly response: SecretResponse;
  readonly window: ReuseWindow;
  readonly keyBytes: number;
  readonly requestKey: string;
  /** The serial of the token the response was obtained with (Vault revokes a token's leases with it). */
  readonly owner: number;
  /** When a mount last got it (or it was kept): what the kept state's idle bound goes by. */
  lastUsed: number;
}

/** One kept response as the kept state (src/state/) stores it. Sensitive: the response holds a credential. */
export interface KeptLease {
  readonly key: string;
  readonly requestKey: string;
  readonly response: SecretResponse;
  readonly reason: ReuseReason;
  readonly obtainedAt: number;
  readonly expiresAt: number;
  readonly owner: number;
  readonly lastUsed: number;
}

/** A workload's entry has no pod: `null` can be no pod UID, so the two kinds of key never meet. */
export function scopeKey(scope: ReuseScope): string {
  return JSON.stringify([scope.credentialScope === 'workload' ? null : scope.podUid, scope.identityKey, scope.requestKey]);
}

export class LeaseCache {
  readonly #lru: Lru<Entry>;
  readonly #now: Clock['now'];
  /**
   * Entries kept per request, whatever the pod: a republish asks for every request of the mount, and most are
   * static reads that are never kept, so their lookup ends here without building the entry's key.
   */
  readonly #keptRequests = new Map<string, number>();
  /** The entries counted in #keptRequests: one can be evicted before it is counted (expired on arrival). */
  readonly #counted = new WeakSet<Entry>();
  readonly fraction: number;
  /** Counts every change of what is kept (not uses): the kept state writes when it moved. */
  #generation = 0;

  constructor(options: LeaseCacheOptions) {
    const fraction = options.fraction ?? DEFAULT_REUSE_FRACTION;
    if (!(fraction >= 0 && fraction < 1)) throw new RangeError('the reuse fraction must be at least 0 and below 1');
    this.fraction = fraction;
    this.#now = options.now ?? systemClock.now;
    this.#lru = new Lru<Entry>({
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
      sizeOf: (entry) => entrySize(entry),
      now: this.#now,
      onEvict: (_key, entry, reason) => {
        this.#generation++;
        if (this.#counted.delete(entry)) this.#forgetRequest(entry.requestKey);
        if (reason !== 'deleted') options.onEvict?.(reason);
      },
    });
  }

  get size(): number {
    return this.#lru.size;
  }

  get bytes(): number {
    return this.#lru.bytes;
  }

  get generation(): number {
    return this.#generation;
  }

  get(scope: ReuseScope): SecretResponse | undefined {
    if (!reusableScope(scope) || !this.#keptRequests.has(scope.requestKey)) return undefined;
    const entry = this.#lru.get(scopeKey(scope));
    if (entry !== undefined) entry.lastUsed = this.#now();
    return entry?.response;
  }

  /**
   * Keeps `response` when it carries a lease or a certificate with life left; returns its window if kept. `owner` is
   * the serial of the token it was obtained with.
   */
  offer(
    scope: ReuseScope,
    response: SecretResponse,
    method: string,
    obtainedAt: number,
    tokenExpiresAt: number,
    owner = 0,
  ): ReuseWindow | undefined {
    if (!reusableScope(scope)) return undefined;
    const window = reuseWindow(response, method, obtainedAt, tokenExpiresAt, this.fraction);
    if (window === undefined) return undefined;
    const ttl = window.reuseUntil - this.#now();
    if (!(ttl > 0)) return undefined;
    const key = scopeKey(scope);
    const entry: Entry = { response, window, keyBytes: Buffer.byteLength(key), requestKey: scope.requestKey, owner, lastUsed: this.#now() };
    return this.#insert(key, entry, ttl) ? window : undefined;
  }

  #insert(key: string, entry: Entry, ttl: number): boolean {
    this.#lru.set(key, entry, ttl);
    if (this.#lru.get(key) !== entry) return false;
    this.#generation++;
    this.#counted.add(entry);
    this.#keptRequests.set(entry.requestKey, (this.#keptRequests.get(entry.requestKey) ?? 0) + 1);
    return true;
  }

  snapshot(): KeptLease[] {
    const now = this.#now();
    const out: KeptLease[] = [];
    for (const [key, e] of this.#lru.entries()) {
      if (!(e.window.reuseUntil > now)) continue;
      out.push({ key, requestKey: e.requestKey, response: e.response, reason: e.window.reason, obtainedAt: e.window.obtainedAt, expiresAt: e.window.expiresAt, owner: e.owner, lastUsed: e.lastUsed });
    }
    return out;
  }

  /**
   * Takes back what a snapshot held (this process's earlier one, or another instance's), under this cache's own
   * reuse fraction: an entry whose window has closed by that measure is left out, and so is a key already kept here
   * (what this process holds is newer or the same). Returns how many were taken.
   */
  restore(entries: readonly KeptLease[]): number {
    if (!(this.fraction > 0)) return 0;
    const now = this.#now();
    let taken = 0;
    for (const k of entries) {
      if (!(k.expiresAt > k.obtainedAt) || this.#lru.get(k.key) !== undefined) continue;
      const reuseUntil = k.obtainedAt + (k.expiresAt - k.obtainedAt) * this.fraction;
      if (!(reuseUntil > now)) continue;
      const window: ReuseWindow = { reason: k.reason, obtainedAt: k.obtainedAt, expiresAt: k.expiresAt, reuseUntil };
      const entry: Entry = { response: k.response, window, keyBytes: Buffer.byteLength(k.key), requestKey: k.requestKey, owner: k.owner, lastUsed: k.lastUsed };
      if (this.#insert(k.key, entry, reuseUntil - now)) taken++;
    }
    return taken;
  }

  #forgetRequest(requestKey: string): void {
    const count = this.#keptRequests.get(requestKey) ?? 0;
    if (count <= 1) this.#keptRequests.delete(requestKey);
    else this.#keptRequests.set(requestKey, count - 1);
  }

  delete(scope: ReuseScope): void {
    this.#lru.delete(scopeKey(scope));
  }

  /**
   * Forget everything obtained with one Vault token, for every pod: Vault said the token is dead (revoked, or
   * expired early), and a token's leases are revoked with it. What other tokens obtained stays.
   */
  forgetToken(serial: number): void {
    for (const [key, entry] of this.#lru.entries()) if (entry.owner === serial) this.#lru.delete(key);
  }

  clear(): void {
    this.#lru.clear();
  }
}

/** Without a pod UID (a driver that does not send one) pods cannot be told apart, so nothing is kept for one. */
function reusableScope(scope: ReuseScope): boolean {
  return scope.credentialScope === 'workload' || scope.podUid !== '';
}

function entrySize(entry: Entry): number {
  // The JSON text is what Vault sent; the in-memory object is of the same order. A fixed overhead per entry
  // keeps many tiny entries from slipping under the byte bound.
  return Buffer.byteLength(JSON.stringify(entry.response)) + entry.keyBytes + 256;
}
