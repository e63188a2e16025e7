/** The gRPC adapter: errors become gRPC statuses here and only here (grpcStatusFor). One info log line per Mount. */
import type { ServerUnaryCall, sendUnaryData, ServiceError } from '@grpc/grpc-js';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { grpcStatusFor, ProviderError, toProviderError } from '../errors.js';
import type { MountConfig } from '../config/types.js';
import { parseMountRequest, type MountRequestDefaults } from '../config/mount-request.js';
import type { MountResult, MountService } from '../conductor/mount-service.js';
import type { MountOutcome } from '../observability/audit.js';
import type { MountRequest__Output } from '../generated/v1alpha1/MountRequest.js';
import type { MountResponse } from '../generated/v1alpha1/MountResponse.js';
import type { VersionRequest__Output } from '../generated/v1alpha1/VersionRequest.js';
import type { VersionResponse } from '../generated/v1alpha1/VersionResponse.js';
import type { Logger } from '../observability/logger.js';
import { RUNTIME_NAME, VERSION } from '../version.js';
import { mountTimeBudget, TimeBudgetExpired } from '../admission/time-budget.js';
import type { MountAdmission, MountMemory } from '../admission/mount-admission.js';
import { systemClock, type Clock } from '../shared/clock.js';

export interface HandlerOptions {
  readonly mounts: MountService;
  /** What the request parse takes from the flags (`--audience`, the input limits). */
  readonly parse: MountRequestDefaults;
  readonly logger: Logger;
  /** False while draining: new mounts get UNAVAILABLE, which the driver retries. */
  readonly accepting: () => boolean;
  readonly onMountStart?: () => void;
  readonly onMountEnd?: (outcome: MountOutcome) => void;
  /** Each mount holds its ledger until its answer is sent. Absent: no node-wide bounds. */
  readonly admission?: MountAdmission;
  /** The mount's time budget when the caller sets no deadline (admission/time-budget.ts; default under 2 minutes). */
  readonly defaultTimeBudgetMs?: number;
}

function statusError(error: ProviderError): Partial<ServiceError> {
  return { code: grpcStatusFor(error.code), details: error.publicMessage, metadata: new Metadata() };
}

/** Who asked, for the log line, taken from the parsed config or (if parsing failed) nowhere: we never guess. */
function who(config: MountConfig | undefined): Record<string, string> {
  if (config === undefined) return {};
  return {
    pod: config.pod.name,
    namespace: config.pod.namespace,
    serviceAccount: config.pod.serviceAccountName,
    secretProviderClass: config.secretProviderClass,
  };
}

export function versionHandler(_call: ServerUnaryCall<VersionRequest__Output, VersionResponse>, callback: sendUnaryData<VersionResponse>): void {
  callback(null, { version: 'v1alpha1', runtime_name: RUNTIME_NAME, runtime_version: VERSION });
}

export const SEND_HOLD_MAX_MS = 10_000;

/**
 * The serialised answer sits in HTTP/2 buffers until the driver reads it: a slow reader must not pile answers up
 * outside every budget. grpc-js reports every call's end as 'cancelled' once its last frame is handed to HTTP/2.
 */
function holdUntilSent(call: ServerUnaryCall<MountRequest__Output, MountResponse>, memory: MountMemory, clock: Pick<Clock, 'after'>): void {
  const release = (): void => {
    cancelFallback();
    call.removeListener('cancelled', release);
    memory.close();
  };
  const cancelFallback = clock.after(SEND_HOLD_MAX_MS, release);
  if (call.cancelled) release();
  else call.once('cancelled', release);
}

export function createMountHandler(options: HandlerOptions) {
  return (call: ServerUnaryCall<MountRequest__Output, MountResponse>, callback: sendUnaryData<MountResponse>): void => handleMount(options, call, callback);
}

/** One Mount call: parse, admit, mount, answer, and report the outcome once. */
function handleMount(options: HandlerOptions, call: ServerUnaryCall<MountRequest__Output, MountResponse>, callback: sendUnaryData<MountResponse>): void {
  const log = options.logger;
  // The system clock: gRPC deadlines are wall-clock times.
  const clock = systemClock;
  const started = clock.monotonic();
  options.onMountStart?.();
  const abort = new AbortController();
  const onCancel = (): void => abort.abort(new Error('cancelled by the caller'));
  call.once('cancelled', onCancel);
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  // The mount answers by itself a margin before the caller's deadline (or after the default budget), naming what
  // it was waiting for, rather than letting the deadline expire with no word of Vault or the object.
  const budget = mountTimeBudget(clock.now(), deadlineMs, options.defaultTimeBudgetMs);
  const cancelBudget = clock.after(budget.budgetMs, () => abort.abort(new TimeBudgetExpired(budget)));
  let config: MountConfig | undefined;
  let memory: MountMemory | undefined;
  /** The one record of this mount: the answer, the log line and onMountEnd (metrics, audit) all read it. */
  const settle = (outcome: MountOutcome): void => {
    cancelBudget();
    call.removeListener('cancelled', onCancel);
    const { answer, error } = outcome;
    if (answer !== undefined) {
      callback(null, {
        object_version: (outcome.mounted ?? []).map((o) => ({ id: o.objectName, version: o.version })),
        files: answer.files.map((f) => ({ path: f.path, mode: f.mode, contents: f.contents })),
      });
    } else if (error !== undefined) {
      callback(statusError(error));
    }
    if (memory !== undefined) holdUntilSent(call, memory, clock);
    options.onMountEnd?.(outcome);
    log[outcome.result === 'ok' ? 'info' : 'warn'](logLine(outcome), outcome.result === 'ok' ? 'mount' : 'mount failed');
  };
  const ended = (): Pick<MountOutcome, 'config' | 'durationMs'> => ({ config, durationMs: Math.round((clock.monotonic() - started) * 1000) / 1000 });
  const run = async (): Promise<MountResult> => {
    if (!options.accepting()) {
      throw new ProviderError('SHUTTING_DOWN', 'the provider is shutting down; the driver will retry on the new instance');
    }
    config = parseMountRequest(
      { attributes: call.request.attributes, secrets: call.request.secrets, targetPath: call.request.target_path, permission: call.request.permission },
      options.parse,
    );
    // Admitted once parsed, so a refusal can name the SecretProviderClass and pod; parsing is bounded by the
    // 4 MiB request the gRPC server accepts. Past the bounds it waits its turn for at most half its time budget,
    // leaving the other half to run.
    memory = await options.admission?.admit(
      { secretProviderClass: config.secretProviderClass, pod: config.pod },
      { signal: abort.signal, waitMs: Math.floor(budget.budgetMs / 2) },
    );
    return options.mounts.mount(config, abort.signal, memory);
  };
  run().then(
    (result) => {
      const answer = { files: result.files, requests: result.requests, reused: result.reused, wroteFiles: result.wroteFiles };
      settle({ ...ended(), result: 'ok', grpcCode: GrpcStatus[GrpcStatus.OK], mounted: result.objects, error: undefined, answer });
    },
    (err: unknown) => {
      const error = toProviderError(err);
      if (error.code === 'INTERNAL') {
        // The frames only: an unexpected error's message is not ours and could quote data.
        const cause = error.cause instanceof Error ? error.cause : undefined;
        log.error({ errorName: cause?.name, frames: cause?.stack?.split('\n').slice(1, 8).join('\n') }, 'internal error during mount');
      }
      settle({ ...ended(), result: error.code, grpcCode: GrpcStatus[grpcStatusFor(error.code)], mounted: undefined, error });
    },
  );
}

/** The mount's one log line, from its outcome record. */
function logLine(outcome: MountOutcome): Record<string, unknown> {
  const { config, answer, error } = outcome;
  const line: Record<string, unknown> = {
    ...who(config),
    objects: outcome.mounted?.length ?? config?.objects.length ?? 0,
    durationMs: outcome.durationMs,
    result: outcome.result,
    grpcCode: outcome.grpcCode,
  };
  if (answer !== undefined) {
    // Optional objects Vault did not have: named in the line, so a skipped secret is never silent.
    const absent = (outcome.mounted ?? []).filter((o) => o.state === 'absent').map((o) => o.objectName);
    Object.assign(line, { requests: answer.requests, reused: answer.reused, wroteFiles: answer.wroteFiles }, absent.length === 0 ? {} : { absentOptional: absent });
  }
  if (error !== undefined) {
    Object.assign(line, { error: error.publicMessage }, error.context.objectName === undefined ? {} : { objectName: error.context.objectName }, error.context.vaultPath === undefined ? {} : { vaultPath: error.context.vaultPath });
  }
  return line;
}
