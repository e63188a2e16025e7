/**
 * Where a mount's distinct request gets its answer: the pod's leased response while its reuse window is open
 * (lease-cache.ts), else one Vault request shared by every concurrent mount of the same identity that needs the
 * same request (single-flight.ts). A response that carries a lease or a certificate is then kept for each pod
 * that asked, under that pod's own key.
 *
 * Static secrets are never kept: they are read on every republish (shared only while a read is in flight), which
 * is how a change in Vault reaches the pod.
 */
import type { VaultToken } from '../auth/authenticator.js';
import type { LeaseCache, ReuseScope } from '../vault/lease-cache.js';
import type { SecretResponse } from '../vault/responses.js';
import { SingleFlight } from '../vault/single-flight.js';

interface Fetched {
  readonly response: SecretResponse;
  readonly obtainedAt: number;
  /** Expiry of the token the request went out with: a lease dies with it. */
  readonly tokenExpiresAt: number;
}

export interface ResponseReuseOptions {
  /** Undefined: nothing is reused across mounts (concurrent mounts still share requests). */
  readonly leases?: LeaseCache;
  readonly now?: () => number;
  readonly onEvent?: (event: 'reused' | 'shared' | 'kept') => void;
}

export class ResponseReuse {
  readonly #leases: LeaseCache | undefined;
  readonly #flights: SingleFlight<Fetched>;
  readonly #now: () => number;
  readonly #onEvent: ResponseReuseOptions['onEvent'];
  /** A number per token object, so a flight is shared only by mounts holding the very same token. */
  readonly #tokenIds = new WeakMap<VaultToken, number>();
  #nextTokenId = 0;

  constructor(options: ResponseReuseOptions = {}) {
    this.#leases = options.leases;
    this.#now = options.now ?? Date.now;
    this.#onEvent = options.onEvent;
    this.#flights = new SingleFlight<Fetched>({ onShared: () => this.#onEvent?.('shared') });
  }

  /** Vault requests in flight right now (each possibly shared by several mounts). */
  get inflight(): number {
    return this.#flights.size;
  }

  /** Vault refused this identity's token: drop the leases and certificates kept under it. */
  forgetIdentity(identityKey: string): void {
    this.#leases?.forgetIdentity(identityKey);
  }

  /** The pod's kept response for this request, while its reuse window is open. */
  reused(scope: ReuseScope): SecretResponse | undefined {
    const kept = this.#leases?.get(scope);
    if (kept !== undefined) this.#onEvent?.('reused');
    return kept;
  }

  /**
   * Sends the request, or joins the identical one in flight for the same identity; keeps the answer for this pod
   * when it carries a lease or a certificate.
   */
  async fetch(
    scope: ReuseScope,
    token: VaultToken,
    method: string,
    send: (signal: AbortSignal) => Promise<SecretResponse>,
    signal?: AbortSignal,
  ): Promise<SecretResponse> {
    // Mounts of one identity hold the same cached token, so they share; keying on the token as well means a mount
    // that has just logged in never joins a request made with the token being replaced, and so never inherits its
    // 403 (which it would not retry, its own token being fresh).
    let tokenId = this.#tokenIds.get(token);
    if (tokenId === undefined) {
      tokenId = this.#nextTokenId++;
      this.#tokenIds.set(token, tokenId);
    }
    // A token belongs to one identity, so its number stands for the identity too.
    const flightKey = `${tokenId} ${scope.requestKey}`;
    const fetched = await this.#flights.run(
      flightKey,
      async (shared) => {
        // The lease starts while the request is out; counting from the send errs on the early side.
        const obtainedAt = this.#now();
        const response = await send(shared);
        return { response, obtainedAt, tokenExpiresAt: token.expiresAt };
      },
      signal,
    );
    const window = this.#leases?.offer(scope, fetched.response, method, fetched.obtainedAt, fetched.tokenExpiresAt);
    if (window !== undefined) this.#onEvent?.('kept');
    return fetched.response;
  }
}
