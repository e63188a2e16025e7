/**
 * Several Vault addresses for one HA cluster without a load balancer (vault-csi-provider#164). A mount's requests go
 * to the first address that has not failed recently, in the order the list gives; when one fails in a way another
 * node may not (connection refused or reset, a timeout, a 5xx such as a sealed node's 503, a 429, a standby that
 * answers 472/473 instead of forwarding, or a redirect the provider may not follow), the request moves on to the
 * next address at once, and the failed one is remembered for ADDRESS_FAILURE_MEMORY_MS so that the mounts after it
 * start with a healthy node instead of paying for the failure again. When every address has failed recently they
 * are all still tried, the one that failed longest ago first: a recent failure is a hint, never a ban.
 *
 * Shared by every Vault client of the provider (an address's health is the same whoever asks), with an injectable
 * clock. Which addresses a mount may use at all is the trust policy's business (config/connection.ts): every address
 * of a list is checked before the first request, so the JWT never reaches one the policy does not allow.
 */
import type { ClassifiedFailure } from './failures.js';
import { systemClock, type Clock } from '../shared/clock.js';

/** How long a failed address goes to the back of the list. */
export const ADDRESS_FAILURE_MEMORY_MS = 30_000;
/** Failed addresses remembered at most (the oldest are forgotten first). */
const MAX_REMEMBERED = 256;

/** Statuses of a node that is not the one to ask (sys/health's: 472 DR secondary, 473 performance standby). */
const STANDBY_STATUSES: ReadonlySet<number> = new Set([472, 473]);

/** Whether `failure` is the node's own, so another node of the cluster may answer where it did not. */
export function movesOn(failure: ClassifiedFailure): boolean {
  const { code, context } = failure.error;
  if (code === 'VAULT_UNAVAILABLE' || code === 'VAULT_REDIRECT_REFUSED') return true;
  if (code === 'VAULT_REQUEST_REJECTED') return context.httpStatus !== undefined && STANDBY_STATUSES.has(context.httpStatus);
  return code === 'BAD_VAULT_RESPONSE' && failure.transient;
}

/** The failed node certainly did nothing (never sent, a 429, a standby refusing), so even a write may move on. */
export function nothingDone(failure: ClassifiedFailure): boolean {
  const status = failure.error.context.httpStatus;
  return failure.reach === 'not-sent' || (status !== undefined && STANDBY_STATUSES.has(status) && failure.error.code === 'VAULT_REQUEST_REJECTED');
}

export interface AddressHealthOptions {
  readonly now?: Clock['now'];
  readonly memoryMs?: number;
}

export class AddressHealth {
  readonly #failedAt = new Map<string, number>();
  readonly #now: Clock['now'];
  readonly #memoryMs: number;

  constructor(options: AddressHealthOptions = {}) {
    this.#now = options.now ?? systemClock.now;
    this.#memoryMs = options.memoryMs ?? ADDRESS_FAILURE_MEMORY_MS;
  }

  /** `addresses` in the order to try them: healthy ones as listed, then recently failed ones, oldest failure first. */
  order(addresses: readonly string[]): readonly string[] {
    if (addresses.length === 1 || this.#failedAt.size === 0) return addresses;
    const now = this.#now();
    const healthy: string[] = [];
    const failed: Array<[string, number]> = [];
    for (const address of addresses) {
      const at = this.#failedAt.get(address);
      if (at === undefined || now - at >= this.#memoryMs) healthy.push(address);
      else failed.push([address, at]);
    }
    if (failed.length === 0) return addresses;
    failed.sort((a, b) => a[1] - b[1]);
    return [...healthy, ...failed.map(([address]) => address)];
  }

  /** Whether `address` failed within the memory window. */
  recentlyFailed(address: string): boolean {
    const at = this.#failedAt.get(address);
    return at !== undefined && this.#now() - at < this.#memoryMs;
  }

  failed(address: string): void {
    this.#failedAt.delete(address);
    if (this.#failedAt.size >= MAX_REMEMBERED) this.#failedAt.delete(this.#failedAt.keys().next().value!);
    this.#failedAt.set(address, this.#now());
  }

  succeeded(address: string): void {
    if (this.#failedAt.size > 0) this.#failedAt.delete(address);
  }
}
