/**
 * Admission control: what the mounts in flight on a node may hold, so that no mount, and no set of mounts, can
 * make the daemon that serves every pod on the node run out of memory.
 *
 * - A node-wide budget of bytes in flight: Vault response bodies as they arrive (before the body is complete),
 *   their text and parsed form while they are parsed, the parsed responses a mount keeps until it answers, decoded
 *   contents and rendered templates, and the answer until gRPC has sent it. Buffers live outside V8's heap, so
 *   `--max-old-space-size` does not bound them; this budget does.
 * - A per-mount budget of Vault response bytes, no larger than what one mount can usefully read: the 4 MiB the
 *   driver can receive as files, plus 4 MiB that templates may read through `inputOnly` objects: 8 MiB by default.
 * - A bound on mounts in progress.
 *
 * Over a budget a mount fails fast, alone: RESOURCE_EXHAUSTED naming the object and the budget (MOUNT_TOO_LARGE for
 * its own budget, NODE_BUDGET_EXCEEDED for the node's), and releases everything it held; the driver retries it.
 * Nothing waits for room, so a burst of large mounts cannot delay small ones beyond their own reads.
 */
import { ProviderError } from '../errors.js';
import { formatBytes } from '../shared/message-text.js';

/** The driver's 4 MiB receive limit for the files of a mount, plus 4 MiB that templates may read (`inputOnly`). */
export const DEFAULT_MOUNT_RESPONSE_BUDGET = (4 + 4) * 1024 * 1024;
/**
 * What the DaemonSet's memory limit leaves once Node itself (its binary and native memory, about 60 MiB) and all V8
 * may take (the image's 64 MiB old space and three 4 MiB semi-spaces) are counted: 160 − 60 − 64 − 12 = 24 MiB.
 * Parsed responses live in V8's heap, but file contents, the serialised answers and what the allocator keeps do
 * not, so the budget is added to V8's cap, not inside it (deploy/base/daemonset.yaml; test/deploy/manifests.test.ts).
 * Measured with mounts naming hundreds of MiB at once: docs/benchmark.md, "Memory"; `npm run memory-soak`.
 */
export const DEFAULT_NODE_MEMORY_BUDGET = 24 * 1024 * 1024;
/** Above the ~110 pods of a node mounting at once at node start, and above the bench's 200-pod burst. */
export const DEFAULT_MAX_MOUNTS_IN_FLIGHT = 256;

/** What a Vault response or a produced file is charged to. The transport and the assembler see only this. */
export interface ByteLedger {
  /**
   * `bytes` more of a Vault response, as they arrive (or as its Content-Length declares them): counted against the
   * mount's response budget for good, and held against the node's until released. Throws a ProviderError
   * (RESOURCE_EXHAUSTED) when either has no room.
   */
  receive(bytes: number): void;
  /** Holds `bytes` more (text, parsed forms, contents) against the node's budget; throws like receive. */
  charge(bytes: number): void;
  /** Gives back to the node `bytes` this mount holds and no longer needs. */
  release(bytes: number): void;
}

export interface AdmissionLimits {
  /** Node-wide bytes in flight (`--memory-budget`). */
  readonly nodeBytes: number;
  /** Bytes of Vault responses one mount may read (`--mount-response-budget`); at most nodeBytes. */
  readonly mountBytes: number;
  /** Mounts in progress at once (`--max-mounts-in-flight`). */
  readonly maxMounts: number;
}

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  nodeBytes: DEFAULT_NODE_MEMORY_BUDGET,
  mountBytes: DEFAULT_MOUNT_RESPONSE_BUDGET,
  maxMounts: DEFAULT_MAX_MOUNTS_IN_FLIGHT,
};

/** Who is asking, for the message of a refused mount (names only). */
export interface AdmissionSubject {
  readonly secretProviderClass: string;
  readonly pod: { readonly namespace: string; readonly name: string };
}

export class MountAdmission {
  readonly limits: AdmissionLimits;
  #bytes = 0;
  #mounts = 0;
  #peakBytes = 0;

  constructor(limits: AdmissionLimits = DEFAULT_ADMISSION_LIMITS) {
    if (limits.mountBytes > limits.nodeBytes) throw new RangeError('the per-mount response budget exceeds the node budget');
    this.limits = limits;
  }

  /** Bytes held by the mounts in flight now. */
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

  /** A ledger for one mount, or NODE_BUDGET_EXCEEDED when the bound on mounts in progress is reached. */
  admit(subject: AdmissionSubject): MountMemory {
    if (this.#mounts >= this.limits.maxMounts) {
      throw new ProviderError(
        'NODE_BUDGET_EXCEEDED',
        `mount of SecretProviderClass "${subject.secretProviderClass}" for pod ${subject.pod.namespace}/${subject.pod.name} refused: ${this.#mounts} mounts are in progress on this node, the provider's bound (--max-mounts-in-flight=${this.limits.maxMounts}); the driver retries the mount`,
        {},
      );
    }
    this.#mounts += 1;
    return new MountMemory(this);
  }

  /** @internal MountMemory's side of the node budget. */
  take(bytes: number): boolean {
    if (this.#bytes + bytes > this.limits.nodeBytes) return false;
    this.#bytes += bytes;
    if (this.#bytes > this.#peakBytes) this.#peakBytes = this.#bytes;
    return true;
  }

  /** @internal */
  give(bytes: number): void {
    this.#bytes = Math.max(0, this.#bytes - bytes);
  }

  /** @internal */
  leave(): void {
    this.#mounts = Math.max(0, this.#mounts - 1);
  }
}

/**
 * One mount's ledger. Response bytes count against the mount's own budget (for the mount's whole life) and everything
 * against the node's (until released). The first refusal is kept, so the mount's other reads in flight stop at their
 * next chunk instead of reading on for nothing.
 */
export class MountMemory implements ByteLedger {
  readonly #admission: MountAdmission | undefined;
  readonly #limit: number;
  #received = 0;
  #held = 0;
  #peak = 0;
  #closed = false;
  #refused: ProviderError | undefined;

  /** Without an admission: a ledger that checks only the mount's own budget (the CLI's one mount). */
  constructor(admission: MountAdmission | undefined, responseBytes = admission?.limits.mountBytes ?? DEFAULT_MOUNT_RESPONSE_BUDGET) {
    this.#admission = admission;
    this.#limit = responseBytes;
  }

  /** Bytes of Vault responses read so far. */
  get receivedBytes(): number {
    return this.#received;
  }

  /** Bytes held against the node's budget now. */
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
    this.#admission?.leave();
    this.#held = 0;
  }

  /** False when there is nothing to do; throws the kept refusal. */
  #open(bytes: number): boolean {
    // A request shared with other mounts (single-flight) can outlive the mount that sent it; what it reads then
    // belongs to the mounts still waiting for it, which are charged for what they make of it.
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
