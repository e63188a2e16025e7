import assert from 'node:assert/strict';
import { parseFlags, UsageError, usageText } from '../../src/cli/flags.js';
import {
  DEFAULT_MAX_MOUNTS_IN_FLIGHT,
  DEFAULT_MAX_MOUNTS_PER_NAMESPACE,
  DEFAULT_MAX_MOUNTS_QUEUED,
  DEFAULT_MOUNT_RESPONSE_BUDGET,
  DEFAULT_NODE_MEMORY_BUDGET,
} from '../../src/admission/mount-admission.js';

function settings(argv: readonly string[]) {
  const r = parseFlags(argv, {});
  assert.equal(r.kind, 'run');
  return r.settings;
}

describe('cli/flags admission control', () => {
  it('defaults to a 24 MiB node budget, 8 MiB of responses a mount, 256 mounts at once (64 of a namespace) and 1024 waiting', () => {
    const s = settings([]);
    assert.deepEqual(
      [s.memoryBudgetBytes, s.mountResponseBudgetBytes, s.maxMountsInFlight, s.maxMountsInFlightPerNamespace, s.maxMountsQueued],
      [DEFAULT_NODE_MEMORY_BUDGET, DEFAULT_MOUNT_RESPONSE_BUDGET, DEFAULT_MAX_MOUNTS_IN_FLIGHT, DEFAULT_MAX_MOUNTS_PER_NAMESPACE, DEFAULT_MAX_MOUNTS_QUEUED],
    );
  });

  it('reads the five flags; --max-mounts-queued=0 (refuse at once) is allowed', () => {
    const s = settings(['--memory-budget=67108864', '-mount-response-budget', '16777216', '--max-mounts-in-flight=64', '--max-mounts-in-flight-per-namespace=8', '--max-mounts-queued=0']);
    assert.deepEqual([s.memoryBudgetBytes, s.mountResponseBudgetBytes, s.maxMountsInFlight, s.maxMountsInFlightPerNamespace, s.maxMountsQueued], [64 * 1024 * 1024, 16 * 1024 * 1024, 64, 8, 0]);
  });

  it('lets the default mount budget follow a smaller node budget down, and refuses an explicit one above it', () => {
    assert.equal(settings(['--memory-budget=4194304']).mountResponseBudgetBytes, 4 * 1024 * 1024);
    assert.throws(
      () => parseFlags(['--memory-budget=4194304', '--mount-response-budget=8388608'], {}),
      (err: unknown) => err instanceof UsageError && /-mount-response-budget \(8388608\) must not exceed -memory-budget \(4194304\)/.test(err.problem),
    );
  });

  it('refuses budgets and bounds that are not positive integers', () => {
    for (const argv of [['--memory-budget=0'], ['--mount-response-budget=-1'], ['--max-mounts-in-flight=many'], ['--memory-budget=24Mi'], ['--max-mounts-in-flight-per-namespace=0'], ['--max-mounts-queued=-1']]) {
      assert.throws(() => parseFlags(argv, {}), (err: unknown) => err instanceof UsageError && err.problem.includes(argv[0]!.split('=')[0]!.replace(/^--/, '-')), argv[0]);
    }
  });

  it('documents the flags in the usage text', () => {
    const usage = usageText();
    for (const name of ['-memory-budget bytes', '-mount-response-budget bytes', '-max-mounts-in-flight n', '-max-mounts-in-flight-per-namespace n', '-max-mounts-queued n']) assert.ok(usage.includes(name), name);
    assert.ok(usage.includes(`(default "${DEFAULT_NODE_MEMORY_BUDGET}")`));
  });
});
