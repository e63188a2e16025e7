/**
 * The audit trail: one structured line per Mount saying who asked (pod, namespace, ServiceAccount,
 * SecretProviderClass) and, per object, what it got — name, Vault path, version, whether the version changed since
 * the last mount of the same pod volume, whether it came from a cache, and the result.
 *
 * Built from names, paths and HMAC versions only: a value, a Vault token or a JWT has no field to go into. The
 * "changed" memory is a bounded LRU of pod volume → object versions, kept in this process only: after a restart
 * every pod's next mount is a first mount again.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { MountConfig } from '../config/types.js';
import type { ErrorCode, ProviderError } from '../errors.js';
import { Lru } from '../shared/lru.js';
import { redactLine } from './redact.js';

/** What the audit needs of each mounted object (MountService's MountedObject has these fields). */
export interface AuditedObject {
  readonly objectName: string;
  readonly secretPath: string;
  readonly version: string;
  /** True when the answer came from a cache instead of a Vault request made for this mount. */
  readonly cached?: boolean;
  /** `absent`: an optional object Vault did not have. */
  readonly state?: 'file' | 'absent';
}

export interface MountAuditInput {
  /** Undefined when the request could not even be parsed. */
  readonly config: MountConfig | undefined;
  /** Present when the mount succeeded. */
  readonly mounted: readonly AuditedObject[] | undefined;
  readonly error: ProviderError | undefined;
  readonly result: 'ok' | ErrorCode;
  readonly grpcCode: string;
  readonly durationMs: number;
}

/**
 * One object's line item. On a failed mount (all-or-nothing: nothing reached the pod) the failing object carries
 * the error code and the others `not_mounted`; version and changed are then absent.
 */
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

/** Where audit records go: a line each. */
export interface AuditSink {
  write(record: AuditRecord): void;
  close(): Promise<void>;
}

export interface MountAuditorOptions {
  readonly sink: AuditSink;
  /** Pod volumes whose object versions are remembered (default 10000: far above the pods of one node). */
  readonly maxVolumes?: number;
}

export class MountAuditor {
  readonly #sink: AuditSink;
  readonly #last: Lru<ReadonlyMap<string, string>>;

  constructor(options: MountAuditorOptions) {
    this.#sink = options.sink;
    this.#last = new Lru({ maxEntries: options.maxVolumes ?? 10_000 });
  }

  /** Pod volumes remembered right now. */
  get rememberedVolumes(): number {
    return this.#last.size;
  }

  record(input: MountAuditInput): AuditRecord {
    const config = input.config;
    // A pod can mount several volumes; the target path tells them apart, the pod UID tells pods apart.
    const volumeKey = config === undefined || config.pod.uid === '' ? undefined : `${config.pod.uid}\n${config.targetPath}`;
    const previous = volumeKey === undefined ? undefined : this.#last.get(volumeKey);
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
        if (!unchanged) this.#last.set(volumeKey, new Map(input.mounted.map((o) => [o.objectName, o.version])));
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
}

/** Audit lines into the main log (stdout), marked `"audit": true` so a log pipeline can route them. */
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

/**
 * Audit lines into their own file (`--audit-log-file`), appended with synchronous writes: an audit line is not
 * lost when the process dies right after the mount, and one small write per mount costs nothing next to the
 * Vault requests. The file is opened at start-up, so a path that cannot be written fails the start, not a mount.
 */
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
    /** For log rotation: the file is opened again at the same path. */
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
