/**
 * Single-flight: callers that ask for the same key while a call for it is running share that call's outcome
 * instead of starting their own. The provider keys it by (Vault identity, request), so a burst of pods of one
 * ServiceAccount that all need `database/creds/app` at once costs Vault one request, not one per pod.
 *
 * Cancellation is per caller: a caller whose signal aborts stops waiting at once, but the shared call is aborted
 * only when every caller waiting on it has gone, so one impatient pod never fails the others. Nothing outlives
 * the call: the entry is dropped when it settles, so the map holds at most one entry per call in flight.
 */
import { abortReason } from '../errors.js';

export interface SingleFlightOptions {
  /** Called when a caller joins a call already in flight (for metrics and tests). */
  readonly onShared?: (key: string) => void;
}

interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiting: number;
}

export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();
  readonly #options: SingleFlightOptions;

  constructor(options: SingleFlightOptions = {}) {
    this.#options = options;
  }

  /** Calls in flight right now. */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * `fn`'s outcome for `key`: a new call when none is in flight, else the running one's. `fn` gets a signal that
   * aborts only when every caller waiting for this key has aborted.
   */
  run(key: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    let flight = this.#flights.get(key);
    if (flight === undefined) {
      const controller = new AbortController();
      // fn starts in a later microtask, so the entry is in the map before anything fn does can settle it.
      const settled: Promise<T> = Promise.resolve()
        .then(() => fn(controller.signal))
        .finally(() => {
          if (this.#flights.get(key) === created) this.#flights.delete(key);
        });
      const created: Flight<T> = { promise: settled, controller, waiting: 0 };
      this.#flights.set(key, created);
      flight = created;
    } else {
      this.#options.onShared?.(key);
    }
    return this.#wait(flight, signal);
  }

  #wait(flight: Flight<T>, signal: AbortSignal | undefined): Promise<T> {
    flight.waiting += 1;
    if (signal === undefined) {
      // A caller that cannot abort keeps the call alive to the end.
      return flight.promise;
    }
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const leave = (): void => {
        if (done) return;
        done = true;
        unwatch();
      };
      const unwatch = watchAbort(signal, () => {
        if (done) return;
        leave();
        flight.waiting -= 1;
        if (flight.waiting === 0) {
          // Out of the map first: a caller arriving now must start afresh, not join a call already cancelled.
          for (const [k, f] of this.#flights) if (f === flight) this.#flights.delete(k);
          flight.controller.abort(abortReason(signal));
        }
        reject(abortReason(signal));
      });
      flight.promise.then(
        (value) => {
          if (done) return;
          leave();
          resolve(value);
        },
        (err: unknown) => {
          if (done) return;
          leave();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}

/**
 * One 'abort' listener per signal, fanning out to every waiter on it: a mount waits on up to 16 requests at once
 * with the same signal, and more than 10 listeners on one AbortSignal make Node warn of a leak.
 */
const watchers = new WeakMap<AbortSignal, Set<() => void>>();

function watchAbort(signal: AbortSignal, onAbort: () => void): () => void {
  let callbacks = watchers.get(signal);
  if (callbacks === undefined) {
    const created = new Set<() => void>();
    callbacks = created;
    watchers.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        watchers.delete(signal);
        for (const cb of [...created]) cb();
      },
      { once: true },
    );
  }
  const set = callbacks;
  set.add(onAbort);
  return () => {
    set.delete(onAbort);
  };
}
