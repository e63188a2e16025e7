/**
 * Callers of one key share the running call's outcome: a burst of pods needing `database/creds/app` costs Vault one
 * request. A caller's abort stops only its wait; the call is aborted when every caller has gone.
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

/** One listener per signal: more than 10 on one AbortSignal make Node warn of a leak. */
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
