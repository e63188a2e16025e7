/**
 * The gRPC adapter's own contract, with a call object standing in for grpc-js's and a mount service standing in for
 * the stages (the whole path over a real socket is test/e2e/): every outcome is one callback, errors become the gRPC
 * status their catalog code maps to with the public message, a draining provider answers UNAVAILABLE, an unexpected
 * error is INTERNAL and its message stays out of the log, and each mount ends in one outcome and one log line.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { status, type ServiceError } from '@grpc/grpc-js';
import { createMountHandler, versionHandler, type HandlerOptions } from '../../src/server/mount-handler.js';
import type { MountOutcome } from '../../src/observability/audit.js';
import { ProviderError } from '../../src/errors.js';
import type { MountResponse } from '../../src/generated/v1alpha1/MountResponse.js';
import { MINIMAL_ATTRIBUTES } from '../helpers/mount-config.js';

type Answer = { readonly err: Partial<ServiceError> | null; readonly res: MountResponse | undefined };

class FakeCall extends EventEmitter {
  cancelled = false;
  readonly request = {
    attributes: JSON.stringify(MINIMAL_ATTRIBUTES),
    secrets: 'null',
    target_path: '/t',
    permission: '420',
    current_object_version: [],
  };
  constructor(readonly deadline: number = Infinity) {
    super();
  }
  getDeadline(): number {
    return this.deadline;
  }
}

function recordingLogger(): { readonly lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }>; readonly logger: HandlerOptions['logger'] } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as HandlerOptions['logger'] };
}

async function handle(mount: () => Promise<unknown>, over: Partial<HandlerOptions> = {}): Promise<{ answer: Answer; outcomes: MountOutcome[]; log: ReturnType<typeof recordingLogger>['lines'] }> {
  const { lines, logger } = recordingLogger();
  const outcomes: MountOutcome[] = [];
  const mounts = { mount } as unknown as HandlerOptions['mounts'];
  const handler = createMountHandler({ mounts, parse: {}, logger, accepting: () => true, onMountEnd: (o) => outcomes.push(o), ...over });
  const answer = await new Promise<Answer>((resolve) => {
    handler(new FakeCall() as never, (err, res) => resolve({ err: err, res: res as MountResponse | undefined }));
  });
  await new Promise((r) => setImmediate(r));
  return { answer, outcomes, log: lines };
}

describe('server/mount-handler', () => {
  it('answers the files and versions the mount produced, and logs one info line with who asked', async () => {
    const { answer, outcomes, log } = await handle(() =>
      Promise.resolve({ objectVersions: [{ id: 'a', version: 'v1' }], files: [{ path: 'a', mode: 0o644, contents: Buffer.from('x') }], objects: [{ objectName: 'a', secretPath: 'secret/data/a', version: 'v1', state: 'file' }], requests: 1, reused: 0, wroteFiles: false }),
    );
    assert.equal(answer.err, null);
    assert.deepEqual(answer.res!.object_version, [{ id: 'a', version: 'v1' }]);
    assert.equal(answer.res!.files![0]!.path, 'a');
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.result, 'ok');
    assert.equal(outcomes[0]!.grpcCode, 'OK');
    assert.deepEqual(log.map((l) => [l.level, l.msg]), [['info', 'mount']]);
    assert.equal(log[0]!.obj['pod'], 'p');
    assert.equal(log[0]!.obj['namespace'], 'ns');
  });

  it("maps a catalog error to its gRPC status with the error's public message, and logs one warning", async () => {
    const { answer, outcomes, log } = await handle(() => Promise.reject(new ProviderError('PERMISSION_DENIED', 'Vault denied the read of "a"')));
    assert.equal(answer.err!.code, status.PERMISSION_DENIED);
    assert.match(answer.err!.details!, /^PERMISSION_DENIED: Vault denied the read of "a"/);
    assert.equal(outcomes[0]!.result, 'PERMISSION_DENIED');
    assert.deepEqual(log.map((l) => [l.level, l.msg]), [['warn', 'mount failed']]);
  });

  it('answers UNAVAILABLE (SHUTTING_DOWN) while draining, without calling the mount', async () => {
    let called = false;
    const { answer } = await handle(
      () => {
        called = true;
        return Promise.resolve({});
      },
      { accepting: () => false },
    );
    assert.equal(answer.err!.code, status.UNAVAILABLE);
    assert.match(answer.err!.details!, /^SHUTTING_DOWN: /);
    assert.equal(called, false);
  });

  it("answers INTERNAL for an unexpected error, and logs its frames but never its message (it could quote data)", async () => {
    const { answer, log } = await handle(() => Promise.reject(new TypeError('boom with s3cr3t inside')));
    assert.equal(answer.err!.code, status.INTERNAL);
    assert.ok(!answer.err!.details!.includes('s3cr3t'), answer.err!.details);
    const internal = log.find((l) => l.msg === 'internal error during mount');
    assert.ok(internal !== undefined);
    assert.ok(!JSON.stringify(log).includes('s3cr3t'));
  });

  it('answers Version with the v1alpha1 API and this runtime', () => {
    let got: unknown;
    versionHandler({} as never, (_err, res) => (got = res));
    assert.equal((got as { version: string }).version, 'v1alpha1');
    assert.equal((got as { runtime_name: string }).runtime_name, 'vault-csi-provider-ts');
  });
});
