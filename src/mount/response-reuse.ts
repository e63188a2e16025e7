/**
 * Where a mount's distinct request gets its answer: the pod's kept response, else one Vault request shared by the
 * concurrent mounts that may share it. Who may share is decided by what the answer is, never by timing: a static
 * secret by every mount of the identity; a minted credential (lease, login, wrap, any write) only by its holder, so
 * concurrent new pods get one database user each (hashicorp/vault-csi-provider#149). Static secrets are never kept.
 */
import type { VaultToken } from '../auth/authenticator.js';
import type { LeaseCache, ReuseScope } from '../vault/lease-cache.js';
import type { SecretResponse } from '../vault/responses.js';
import { SingleFlight } from '../shared/single-flight.js';
import { systemClock, type Clock } from '../shared/clock.js';

interface Fetched {
  readonly response: SecretResponse;
  readonly obtainedAt: number;
  /** Expiry of the token the request went out with: a lease dies with it. */
  readonly tokenExpiresAt: number;
  /** Who the request was sent for (see `holderOf`). */
  readonly holder: string;
}

export interface ResponseReuseOptions {
  /** Undefined: nothing is reused across mounts (concurrent mounts still share requests). */
  readonly leases?: LeaseCache;
  readonly now?: Clock['now'];
  readonly onEvent?: (event: 'reused' | 'shared' | 'kept') => void;
}

const SAFE_METHODS = new Set(['GET', 'LIST', 'HEAD']);

/** Did Vault mint something for the caller? Such an answer belongs to whoever the request was sent for. */
function minted(response: SecretResponse): boolean {
  const leased = typeof response.lease_id === 'string' && response.lease_id !== '';
  const isSet = (v: unknown): boolean => v !== undefined && v !== null;
  return leased || isSet(response.auth) || isSet(response.wrap_info);
}

export class ResponseReuse {
  readonly #leases: LeaseCache | undefined;
  readonly #flights: SingleFlight<Fetched>;
  readonly #now: Clock['now'];
  readonly #onEvent: ResponseReuseOptions['onEvent'];
  /** Mounts without a pod UID cannot be told apart: each is a holder of its own. */
  #anonymous = 0;

  constructor(options: ResponseReuseOptions = {}) {
    this.#leases = options.leases;
    this.#now = options.now ?? systemClock.now;
    this.#onEvent = options.onEvent;
    this.#flights = new SingleFlight<Fetched>({ onShared: () => this.#onEvent?.('shared') });
  }

  /** Vault requests in flight right now (each possibly shared by several mounts). */
  get inflight(): number {
    return this.#flights.size;
  }

  /** Vault said this token is dead: drop the leases and certificates obtained with it, for every pod. */
  forgetToken(token: VaultToken): void {
    this.#leases?.forgetToken(token.serial);
  }

  /** The kept response for this request and holder, while its reuse window is open. */
  reused(scope: ReuseScope): SecretResponse | undefined {
    const kept = this.#leases?.get(scope);
    if (kept !== undefined) this.#onEvent?.('reused');
    return kept;
  }

  /** Is a response still kept for this scope (no event: a check, not a use)? */
  holds(scope: ReuseScope): boolean {
    return this.#leases?.get(scope) !== undefined;
  }

  async fetch(
    scope: ReuseScope,
    token: VaultToken,
    method: string,
    send: (signal: AbortSignal) => Promise<SecretResponse>,
    signal?: AbortSignal,
  ): Promise<SecretResponse> {
    const holder = this.#holderOf(scope);
    // Keyed by the token as well as the request: a mount that has just logged in never joins a request made with
    // the token being replaced, and so never inherits its 403. A token belongs to one identity, so its serial
    // stands for the identity too.
    // A workload's credential is shared by the pods of the identity, each with a token of its own (tokens are per
    // pod: auth/authenticator.ts), so its flight is keyed by the identity the pods share instead.
    const own = holder === 'workload' ? `${scope.identityKey} ${holder} ${scope.requestKey}` : `${token.serial} ${holder} ${scope.requestKey}`;
    const common = `${token.serial} ${scope.requestKey}`;
    const run = (key: string): Promise<Fetched> =>
      this.#flights.run(
        key,
        async (shared) => {
          // The lease starts while the request is out; counting from the send errs on the early side.
          const obtainedAt = this.#now();
          const response = await send(shared);
          return { response, obtainedAt, tokenExpiresAt: token.expiresAt, holder };
        },
        signal,
      );
    const mintsByNature = !SAFE_METHODS.has(method);
    let fetched = await run(holder === 'workload' || mintsByNature ? own : common);
    if (fetched.holder !== holder && minted(fetched.response)) fetched = await run(own);
    const window = this.#leases?.offer(scope, fetched.response, method, fetched.obtainedAt, fetched.tokenExpiresAt, token.serial);
    if (window !== undefined) this.#onEvent?.('kept');
    return fetched.response;
  }

  #holderOf(scope: ReuseScope): string {
    if (scope.credentialScope === 'workload') return 'workload';
    return scope.podUid === '' ? `mount:${this.#anonymous++}` : `pod:${scope.podUid}`;
  }
}
