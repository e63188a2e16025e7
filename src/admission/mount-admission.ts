/**
 * Admission control, so that no mount or set of mounts can run the node's daemon out of memory and no namespace can
 * keep another's mounts out: a node-wide budget of bytes in flight (Buffers live outside V8's heap, so
 * `--max-old-space-size` does not bound them), a per-mount budget of response bytes, and a bound on mounts in
 * progress with a queue fair across namespaces (docs/benchmark.md#memory). Nothing waits for memory: over a budget a
 * mount fails fast, alone, and the driver retries it.
 */
import { abortReason, ProviderError } from '../errors.js';
import { formatBytes, quoted } from '../shared/message-text.js';
import { systemClock, type Clock } from '../shared/clock.js';

/** The driver's 4 MiB receive limit for the files of a mount, plus 4 MiB that templates may read (`inputOnly`). */
export const DEFAULT_MOUNT_RESPONSE_BUDGET = (4 + 4) * 1024 * 1024;
/** What the DaemonSet's memory limit leaves beside Node and V8's cap (docs/benchmark.md#memory; the manifests test sums it). */
export const DEFAULT_NODE_MEMORY_BUDGET = 24 * 1024 * 1024;
/** Above the ~110 pods of a node mounting at once at node start, and above the bench's 200-pod burst. */
export const DEFAULT_MAX_MOUNTS_IN_FLIGHT = 256;
/** A quarter of the node's places: one namespace's slow mounts leave the rest to the others. */
export const DEFAULT_MAX_MOUNTS_PER_NAMESPACE = 64;
/** A node of 110 pods with several volumes each restarting at once waits, rather than being refused. */
export const DEFAULT_MAX_MOUNTS_QUEUED = 1024;

/** What a Vault response or a produced file is charged to. The transport and the assembler see only this. */
export interface ByteLedger {
  /** Counted against the mount's response budget for good and the node's until released; throws RESOURCE_EXHAUSTED. */
  receive(bytes: number): void;
  /** Holds `bytes` more (text, parsed forms, contents) against the node's budget; throws like receive. */
  charge(bytes: number): void;
  /** Gives back to the node `bytes` this mount holds and no longer needs. */
  release(bytes: number): void;
}

export interface AdmissionLimits {
  readonly nodeBytes: number;
  /** Bytes of Vault responses one mount may read (`--mount-response-budget`); at most nodeBytes. */
  readonly mountBytes: number;
  readonly maxMounts: number;
  /** Of those, one namespace's (`--max-mounts-in-flight-per-namespace`); used as at most maxMounts. */
  readonly maxMountsPerNamespace?: number;
  readonly maxQueued?: number;
}

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  nodeBytes: DEFAULT_NODE_MEMORY_BUDGET,
  mountBytes: DEFAULT_MOUNT_RESPONSE_BUDGET,
  maxMounts: DEFAULT_MAX_MOUNTS_IN_FLIGHT,
  maxMountsPerNamespace: DEFAULT_MAX_MOUNTS_PER_NAMESPACE,
  maxQueued: DEFAULT_MAX_MOUNTS_QUEUED,
};

/** Who is asking, for the message of a refused mount (names only); the namespace is whose share it takes. */
export interface AdmissionSubject {
  readonly secretProviderClass: string;
  readonly pod: { readonly namespace: string; readonly name: string };
}

/** How long a mount may wait for a place: until `signal` aborts (the caller gave up) or `waitMs` has passed. */
export interface AdmissionWaitLimit {
  readonly signal?: AbortSignal;
  readonly waitMs?: number;
}

export interface AdmissionWait {
  readonly waitedMs: number;
  readonly result: 'admitted' | 'refused' | 'cancelled';
}

export interface AdmissionOptions {
  /** The queue's clock: its monotonic reading and its timers (tests expire a wait by hand). */
  readonly timers?: Pick<Clock, 'monotonic' | 'after'>;
  readonly onWait?: (wait: AdmissionWait) => void;
}

interface Waiting {
  readonly subject: AdmissionSubject;
  readonly space: Space;
  readonly enqueuedAt: number;
  readonly resolve: (memory: MountMemory) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  cancelTimer: (() => void) | undefined;
}

interface Space {
  readonly key: string;
  inFlight: number;
  readonly queue: Waiting[];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export class MountAdmission {
  readonly limits: AdmissionLimits;
  readonly #perNamespace: number;
  readonly #maxQueued: number;
  readonly #timers: Pick<Clock, 'monotonic' | 'after'>;
  readonly #onWait: ((wait: AdmissionWait) => void) | undefined;
  readonly #spaces = new Map<string, Space>();
  /** Namespaces with mounts waiting, in turn order; #turn is the next one's index. */
  readonly #ring: Space[] = [];
  #turn = 0;
  #bytes = 0;
  #mounts = 0;
  #queued = 0;
  #peakBytes = 0;
  #peakQueued = 0;

  constructor(limits: AdmissionLimits = DEFAULT_ADMISSION_LIMITS, options: AdmissionOptions = {}) {
    if (limits.mountBytes > limits.nodeBytes) throw new RangeError('the per-mount response budget exceeds the node budget');
    this.limits = limits;
    this.#perNamespace = Math.max(1, Math.min(limits.maxMountsPerNamespace ?? DEFAULT_MAX_MOUNTS_PER_NAMESPACE, limits.maxMounts));
    this.#maxQueued = Math.max(0, limits.maxQueued ?? DEFAULT_MAX_MOUNTS_QUEUED);
    this.#timers = options.timers ?? systemClock;
    this.#onWait = options.onWait;
  }

  get bytesInFlight(): number {
    return this.#bytes;
  }

  /** The most bytes held at once since start (for the soak's figures). */
  get peakBytesInFlight(): number {
    return this.#peakBytes;
  }

  get mountsInFlight(): number {
    return this.#mounts;
  }

  get mountsQueued(): number {
    return this.#queued;
  }

  get peakMountsQueued(): number {
    return this.#peakQueued;
  }

  inFlightOf(namespace: string): number {
    return this.#spaces.get(namespace)?.inFlight ?? 0;
  }

  /** A ledger once the mount has a place; refused (NODE_BUDGET_EXCEEDED) when the queue is full or the wait runs out. */
  admit(subject: AdmissionSubject, wait: AdmissionWaitLimit = {}): Promise<MountMemory> {
    const { signal } = wait;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const space = this.#space(subject.pod.namespace);
    if (space.queue.length === 0 && this.#fits(space)) {
      this.#onWait?.({ waitedMs: 0, result: 'admitted' });
      return Promise.resolve(this.#enter(space));
    }
    const waitMs = wait.waitMs ?? Number.POSITIVE_INFINITY;
    let refusal: ProviderError | undefined;
    if (!(waitMs > 0)) refusal = this.#refusal(subject, `its time budget leaves no time to wait for a place: ${this.#bound(space)}`);
    else if (this.#queued >= this.#maxQueued && !this.#makeRoom(space)) refusal = this.#refusal(subject, `${this.#bound(space)}, and ${this.#queued} mounts wait for a place, the queue's bound (--max-mounts-queued=${this.#maxQueued})`);
    if (refusal !== undefined) {
      this.#forget(space);
      this.#onWait?.({ waitedMs: 0, result: 'refused' });
      return Promise.reject(refusal);
    }
    return new Promise<MountMemory>((resolve, reject) => {
      const waiting: Waiting = {
        subject,
        space,
        enqueuedAt: this.#timers.monotonic(),
        resolve,
        reject,
        signal,
        onAbort: () => this.#drop(waiting, this.#gaveUp(subject, space, abortReason(signal!)), 'cancelled'),
        cancelTimer: undefined,
      };
      if (Number.isFinite(waitMs)) {
        waiting.cancelTimer = this.#timers.after(waitMs, () => {
          const waited = this.#timers.monotonic() - waiting.enqueuedAt;
          this.#drop(waiting, this.#refusal(subject, `it waited ${seconds(waited)} for a place, as long as its time budget lets it wait: ${this.#bound(space)}`), 'refused');
        });
      }
      signal?.addEventListener('abort', waiting.onAbort, { once: true });
      space.queue.push(waiting);
      if (space.queue.length === 1) this.#ring.push(space);
      this.#queued++;
      if (this.#queued > this.#peakQueued) this.#peakQueued = this.#queued;
    });
  }

  /** @internal MountMemory's side of the node budget. */
  take(bytes: number): boolean {
    if (this.#bytes + bytes > this.limits.nodeBytes) return false;
    this.#bytes += bytes;
    if (this.#bytes > this.#peakBytes) this.#peakBytes = this.#bytes;
    return true;
  }

  give(bytes: number): void {
    this.#bytes = Math.max(0, this.#bytes - bytes);
  }

  /** @internal A mount of `namespace` has ended: its place goes to the next in turn. */
  leave(namespace: string): void {
    this.#mounts = Math.max(0, this.#mounts - 1);
    const space = this.#spaces.get(namespace);
    if (space !== undefined) {
      space.inFlight = Math.max(0, space.inFlight - 1);
      this.#forget(space);
    }
    this.#admitWaiting();
  }

  #space(key: string): Space {
    let space = this.#spaces.get(key);
    if (space === undefined) {
      space = { key, inFlight: 0, queue: [] };
      this.#spaces.set(key, space);
    }
    return space;
  }

  #forget(space: Space): void {
    if (space.inFlight === 0 && space.queue.length === 0) this.#spaces.delete(space.key);
  }

  #fits(space: Space): boolean {
    return this.#mounts < this.limits.maxMounts && space.inFlight < this.#perNamespace;
  }

  #enter(space: Space): MountMemory {
    this.#mounts++;
    space.inFlight++;
    return new MountMemory(this, this.limits.mountBytes, space.key);
  }

  #bound(space: Space): string {
    return this.#mounts >= this.limits.maxMounts
      ? `${this.#mounts} mounts are in progress on this node, the provider's bound (--max-mounts-in-flight=${this.limits.maxMounts})`
      : `${space.inFlight} mounts of namespace ${quoted(space.key)} are in progress, its share (--max-mounts-in-flight-per-namespace=${this.#perNamespace})`;
  }

  #refusal(subject: AdmissionSubject, why: string): ProviderError {
    return new ProviderError(
      'NODE_BUDGET_EXCEEDED',
      `mount of SecretProviderClass ${quoted(subject.secretProviderClass)} for pod ${subject.pod.namespace}/${subject.pod.name} refused: ${why}; the driver retries the mount`,
      {},
    );
  }

  /** The caller gave up while the mount waited: its own error when it is one of ours (the time budget's), else this. */
  #gaveUp(subject: AdmissionSubject, space: Space, reason: Error): ProviderError {
    if (reason instanceof ProviderError) return reason;
    return new ProviderError(
      'DEADLINE_EXCEEDED',
      `mount of SecretProviderClass ${quoted(subject.secretProviderClass)} for pod ${subject.pod.namespace}/${subject.pod.name}: the caller gave up (${reason.message}) while it waited for a place: ${this.#bound(space)}`,
      {},
    );
  }

  /** A full queue: refusing the crowded namespace's newest, so one namespace cannot fill the queue against the others. */
  #makeRoom(space: Space): boolean {
    let crowded: Space | undefined;
    for (const other of this.#ring) if (crowded === undefined || other.queue.length > crowded.queue.length) crowded = other;
    if (crowded === undefined || crowded === space || crowded.queue.length <= space.queue.length + 1) return false;
    const newest = crowded.queue.at(-1)!;
    this.#drop(
      newest,
      this.#refusal(newest.subject, `the queue was full (--max-mounts-queued=${this.#maxQueued}) and its namespace had the most mounts waiting (${crowded.queue.length}), so its newest made room for another namespace's`),
      'refused',
    );
    return true;
  }

  #drop(waiting: Waiting, err: Error, result: AdmissionWait['result']): void {
    const { space } = waiting;
    const at = space.queue.indexOf(waiting);
    if (at === -1) return;
    space.queue.splice(at, 1);
    this.#queued--;
    if (space.queue.length === 0) this.#leaveRing(space);
    this.#settle(waiting, result);
    this.#forget(space);
    waiting.reject(err);
  }

  #settle(waiting: Waiting, result: AdmissionWait['result']): void {
    waiting.cancelTimer?.();
    waiting.signal?.removeEventListener('abort', waiting.onAbort);
    this.#onWait?.({ waitedMs: this.#timers.monotonic() - waiting.enqueuedAt, result });
  }

  #leaveRing(space: Space): void {
    const at = this.#ring.indexOf(space);
    if (at === -1) return;
    this.#ring.splice(at, 1);
    if (at < this.#turn) this.#turn--;
  }

  /** Round robin over the namespaces waiting: the next in turn whose share has room gets the place. */
  #admitWaiting(): void {
    while (this.#ring.length > 0 && this.#mounts < this.limits.maxMounts) {
      const count = this.#ring.length;
      let next: Space | undefined;
      for (let i = 0; i < count && next === undefined; i++) {
        const at = (this.#turn + i) % count;
        const space = this.#ring[at]!;
        if (space.inFlight < this.#perNamespace) {
          next = space;
          this.#turn = at + 1;
        }
      }
      if (next === undefined) return;
      const waiting = next.queue.shift()!;
      this.#queued--;
      if (next.queue.length === 0) this.#leaveRing(next);
      this.#settle(waiting, 'admitted');
      waiting.resolve(this.#enter(next));
    }
  }
}

/** One mount's ledger. The first refusal is kept, so its other reads in flight stop at their next chunk. */
export class MountMemory implements ByteLedger {
  readonly #admission: MountAdmission | undefined;
  readonly #limit: number;
  readonly #namespace: string;
  #received = 0;
  #held = 0;
  #peak = 0;
  #closed = false;
  #refused: ProviderError | undefined;

  /** Without an admission: a ledger that checks only the mount's own budget (the CLI's one mount). */
  constructor(admission: MountAdmission | undefined, responseBytes = admission?.limits.mountBytes ?? DEFAULT_MOUNT_RESPONSE_BUDGET, namespace = '') {
    this.#admission = admission;
    this.#limit = responseBytes;
    this.#namespace = namespace;
  }

  get receivedBytes(): number {
    return this.#received;
  }

  get heldBytes(): number {
    return this.#held;
  }

  get peakBytes(): number {
    return this.#peak;
  }

  receive(bytes: number): void {
    if (!this.#open(bytes)) return;
    if (this.#received + bytes > this.#limit) {
      throw this.#refuse(
        new ProviderError(
          'MOUNT_TOO_LARGE',
          `the mount's Vault responses would pass ${formatBytes(this.#limit)}, its budget (--mount-response-budget: the driver's 4 MiB receive limit for files and 4 MiB for template inputs)`,
          {},
        ),
      );
    }
    this.#hold(bytes);
    this.#received += bytes;
  }

  charge(bytes: number): void {
    if (this.#open(bytes)) this.#hold(bytes);
  }

  release(bytes: number): void {
    if (this.#closed) return;
    const given = Math.min(Math.max(0, bytes), this.#held);
    this.#held -= given;
    this.#admission?.give(given);
  }

  /** Gives back everything and the mount's place; later calls do nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#admission?.give(this.#held);
    this.#admission?.leave(this.#namespace);
    this.#held = 0;
  }

  /** False when there is nothing to do; throws the kept refusal. */
  #open(bytes: number): boolean {
    // A single-flight request can outlive the mount that sent it; the mounts still waiting are charged for it.
    if (this.#closed || bytes <= 0) return false;
    if (this.#refused !== undefined) throw this.#refused;
    return true;
  }

  #hold(bytes: number): void {
    const admission = this.#admission;
    if (admission !== undefined && !admission.take(bytes)) {
      throw this.#refuse(
        new ProviderError(
          'NODE_BUDGET_EXCEEDED',
          `the mounts in flight on this node hold ${formatBytes(admission.bytesInFlight)} (this one ${formatBytes(this.#held)}), and ${formatBytes(bytes)} more would pass the provider's memory budget of ${formatBytes(admission.limits.nodeBytes)} (--memory-budget); the driver retries the mount`,
          {},
        ),
      );
    }
    this.#held += bytes;
    if (this.#held > this.#peak) this.#peak = this.#held;
  }

  #refuse(err: ProviderError): ProviderError {
    this.#refused = err;
    return err;
  }
}
