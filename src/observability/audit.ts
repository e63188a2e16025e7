/**
 * One audit line per Mount: who asked and, per object, what it got and whether its version changed since the pod
 * volume's last mount. Names, paths and HMAC versions only. The "changed" memory is an LRU bounded in bytes too: a
 * SecretProviderClass author chooses a volume's size (issue 19, class 7).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { MountConfig } from '../config/types.js';
import type { OutputFile } from '../output/file-set.js';
import type { ErrorCode, ProviderError } from '../errors.js';
import { Lru } from '../shared/lru.js';
import { redactLine } from './redact.js';

export interface AuditedObject {
  readonly objectName: string;
  readonly secretPath: string;
  readonly version: string;
  /** True when the answer came from a cache instead of a Vault request made for this mount. */
  readonly cached?: boolean;
  readonly state?: 'file' | 'absent';
}

/**
 * The outcome of one Mount: one record, made once by the server, that the gRPC answer, the mount's log line, the
 * metrics and the audit line all read.
 */
export interface MountOutcome {
  /** Undefined when the request could not even be parsed. */
  readonly config: MountConfig | undefined;
  readonly mounted: readonly AuditedObject[] | undefined;
  readonly error: ProviderError | undefined;
  readonly result: 'ok' | ErrorCode;
  /** The gRPC status's name (OK, INVALID_ARGUMENT, …). */
  readonly grpcCode: string;
  readonly durationMs: number;
  /** Present when the mount succeeded: what the answer carries and what it took. */
  readonly answer?: MountAnswer;
}

export interface MountAnswer {
  /** The files of the answer; empty in --write-files mode (the provider wrote them). */
  readonly files: readonly OutputFile[];
  /** Distinct Vault requests made or joined; distinct requests answered from what the pod kept. */
  readonly requests: number;
  readonly reused: number;
  readonly wroteFiles: boolean;
}

/** On a failed mount the failing object carries the error code and the others `not_mounted`. */
export interface AuditObjectRecord {
  readonly name: string;
  readonly vaultPath: string;
  readonly version?: string;
  /** Versus the last successful mount of this pod volume; true on a first mount (the pod had no files yet). */
  readonly changed?: boolean;
  readonly cached: boolean;
  /** `absent`: an optional object Vault did not have (the mount succeeded without its file). */
  readonly result: 'ok' | 'absent' | 'not_mounted' | ErrorCode;
}

export interface AuditRecord {
  readonly pod: string;
  readonly podUid: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly secretProviderClass: string;
  readonly result: 'ok' | ErrorCode;
  readonly grpcCode: string;
  readonly durationMs: number;
  /** No earlier successful mount of this pod volume is remembered (by this provider process). */
  readonly firstMount: boolean;
  readonly objects: readonly AuditObjectRecord[];
}

export interface AuditSink {
  write(record: AuditRecord): void;
  close(): Promise<void>;
}

export interface MountAuditorOptions {
  readonly sink: AuditSink;
  readonly maxVolumes?: number;
  readonly maxBytes?: number;
}

/** Over ten times what a full node's ~110 pods need (its share of the old space: docs/benchmark.md, "Memory"). */
export const DEFAULT_AUDIT_STATE_BYTES = 4 * 1024 * 1024;

/** Heap bytes charged per remembered object and per volume beyond their strings: map entries, string headers. */
const PER_OBJECT_BYTES = 64;
const PER_VOLUME_BYTES = 256;

/** Counted before anything is kept: two bytes a character (V8 may keep any string two-byte), plus overheads. */
export function volumeStateBytes(volumeKey: string, objects: readonly Pick<AuditedObject, 'objectName' | 'version'>[]): number {
  let bytes = PER_VOLUME_BYTES + 2 * volumeKey.length;
  for (const o of objects) bytes += PER_OBJECT_BYTES + 2 * (o.objectName.length + o.version.length);
  return bytes;
}

interface VolumeState {
  readonly versions: ReadonlyMap<string, string>;
  readonly bytes: number;
}

export class MountAuditor {
  readonly #sink: AuditSink;
  readonly #last: Lru<VolumeState>;
  readonly #maxBytes: number;

  constructor(options: MountAuditorOptions) {
    this.#sink = options.sink;
    this.#maxBytes = options.maxBytes ?? DEFAULT_AUDIT_STATE_BYTES;
    this.#last = new Lru<VolumeState>({ maxEntries: options.maxVolumes ?? 10_000, maxBytes: this.#maxBytes, sizeOf: (state) => state.bytes });
  }

  get rememberedVolumes(): number {
    return this.#last.size;
  }

  get rememberedBytes(): number {
    return this.#last.bytes;
  }

  record(input: MountOutcome): AuditRecord {
    const config = input.config;
    // A pod can mount several volumes; the target path tells them apart, the pod UID tells pods apart.
    const volumeKey = config === undefined || config.pod.uid === '' ? undefined : `${config.pod.uid}\n${config.targetPath}`;
    const previous = volumeKey === undefined ? undefined : this.#last.get(volumeKey)?.versions;
    let objects: AuditObjectRecord[];
    if (input.mounted !== undefined) {
      objects = input.mounted.map((o) => ({
        name: o.objectName,
        vaultPath: o.secretPath,
        version: o.version,
        changed: previous?.get(o.objectName) !== o.version,
        cached: o.cached === true,
        result: o.state === 'absent' ? ('absent' as const) : ('ok' as const),
      }));
      if (volumeKey !== undefined) {
        // A republish normally changes nothing: the remembered versions are then kept as they are.
        const unchanged = previous !== undefined && previous.size === input.mounted.length && objects.every((o) => o.changed === false);
        if (!unchanged) this.#remember(volumeKey, input.mounted);
      }
    } else {
      const failed = input.error?.context.objectName;
      objects = (config?.objects ?? []).map((o) => ({
        name: o.objectName,
        vaultPath: o.secretPath,
        cached: false,
        result: o.objectName === failed ? input.result : ('not_mounted' as const),
      }));
    }
    const record: AuditRecord = {
      pod: config?.pod.name ?? '',
      podUid: config?.pod.uid ?? '',
      namespace: config?.pod.namespace ?? '',
      serviceAccount: config?.pod.serviceAccountName ?? '',
      secretProviderClass: config?.secretProviderClass ?? '',
      result: input.result,
      grpcCode: input.grpcCode,
      durationMs: input.durationMs,
      firstMount: previous === undefined,
      objects,
    };
    this.#sink.write(record);
    return record;
  }

  close(): Promise<void> {
    return this.#sink.close();
  }

  /** Keeps the volume's versions when they fit in the byte bound; one that cannot fit is forgotten, not kept stale. */
  #remember(volumeKey: string, mounted: readonly AuditedObject[]): void {
    const bytes = volumeStateBytes(volumeKey, mounted);
    if (bytes > this.#maxBytes) {
      this.#last.delete(volumeKey);
      return;
    }
    this.#last.set(volumeKey, { versions: new Map(mounted.map((o) => [o.objectName, o.version])), bytes });
  }
}

export function loggerAuditSink(logger: Logger): AuditSink {
  const log = logger.child({ component: 'audit', audit: true });
  return {
    write: (record) => log.info(record, 'mount audit'),
    close: () => Promise.resolve(),
  };
}

interface FileDestination extends DestinationStream {
  flushSync(): void;
  end(): void;
  reopen(file?: string): void;
}

/** Synchronous appends: a line is not lost when the process dies after the mount. Opened at start, so it fails the start. */
export function fileAuditSink(path: string): AuditSink & { reopen(): void } {
  const destination = pino.destination({ dest: path, append: true, mkdir: true, sync: true }) as unknown as FileDestination;
  const log = pino(
    {
      level: 'info',
      base: { service: 'vault-csi-provider', audit: true },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactLine },
    },
    destination,
  );
  let closed = false;
  return {
    write: (record) => {
      if (!closed) log.info(record, 'mount audit');
    },
    reopen: () => destination.reopen(),
    close: () => {
      if (!closed) {
        closed = true;
        destination.flushSync();
        destination.end();
      }
      return Promise.resolve();
    },
  };
}
