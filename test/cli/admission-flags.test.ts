import assert from 'node:assert/strict';
import { parseFlags, UsageError, usageText } from '../../src/cli/flags.js';
import {
  DEFAULT_MAX_MOUNTS_IN_FLIGHT,
  DEFAULT_MAX_MOUNTS_PER_NAMESPACE,
  DEFAULT_MAX_MOUNTS_QUEUED,
  DEFAULT_MOUNT_RESPONSE_BUDGET,
  DEFAULT_NODE_MEMORY_BUDGET,
} from '../../src/admission/mount-admission.js';
import { DEFAULT_INPUT_LIMITS, INPUT_LIMIT_FLAGS } from '../../src/config/input-limits.js';
import { settingsFrom } from '../helpers/settings.js';


describe('cli/flags admission control', () => {
  it('defaults to a 24 MiB node budget, 8 MiB of responses a mount, 256 mounts at once (64 of a namespace) and 1024 waiting', () => {
    const s = settingsFrom([]);
    assert.deepEqual(
      [s.memoryBudgetBytes, s.mountResponseBudgetBytes, s.maxMountsInFlight, s.maxMountsInFlightPerNamespace, s.maxMountsQueued],
      [DEFAULT_NODE_MEMORY_BUDGET, DEFAULT_MOUNT_RESPONSE_BUDGET, DEFAULT_MAX_MOUNTS_IN_FLIGHT, DEFAULT_MAX_MOUNTS_PER_NAMESPACE, DEFAULT_MAX_MOUNTS_QUEUED],
    );
  });

  it('reads the five flags; --max-mounts-queued=0 (refuse at once) is allowed', () => {
    const s = settingsFrom(['--memory-budget=67108864', '-mount-response-budget', '16777216', '--max-mounts-in-flight=64', '--max-mounts-in-flight-per-namespace=8', '--max-mounts-queued=0']);
    assert.deepEqual([s.memoryBudgetBytes, s.mountResponseBudgetBytes, s.maxMountsInFlight, s.maxMountsInFlightPerNamespace, s.maxMountsQueued], [64 * 1024 * 1024, 16 * 1024 * 1024, 64, 8, 0]);
  });

  it('lets the default mount budget follow a smaller node budget down, and refuses an explicit one above it', () => {
    assert.equal(settingsFrom(['--memory-budget=4194304']).mountResponseBudgetBytes, 4 * 1024 * 1024);
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

describe('cli/flags caps on author input', () => {
  it('leaves the caps at their defaults when no flag sets one', () => {
    assert.equal(settingsFrom([]).defaults.inputLimits, undefined);
  });

  it('reads every cap, the others keeping their defaults', () => {
    const limits = settingsFrom(['--max-objects-bytes=262144', '-max-template-arguments', '8', '--max-objects-depth=64']).defaults.inputLimits;
    assert.deepEqual(limits, { ...DEFAULT_INPUT_LIMITS, objectsBytes: 262_144, templateArguments: 8, objectsDepth: 64 });
    for (const [cap, flag] of Object.entries(INPUT_LIMIT_FLAGS)) {
      assert.equal(settingsFrom([`--${flag}=7`]).defaults.inputLimits?.[cap as keyof typeof INPUT_LIMIT_FLAGS], 7, flag);
    }
  });

  it('refuses caps that are not positive integers, and a depth the stack could not hold', () => {
    for (const argv of [['--max-objects-bytes=0'], ['--max-template-actions=-1'], ['--max-objects-tokens=lots'], ['--max-objects-depth=100000']]) {
      assert.throws(() => parseFlags(argv, {}), (err: unknown) => err instanceof UsageError && err.problem.includes(argv[0]!.split('=')[0]!.replace(/^--/, '-')), argv[0]);
    }
  });

  it('documents each cap with its default in the usage text', () => {
    const usage = usageText();
    for (const [cap, flag] of Object.entries(INPUT_LIMIT_FLAGS)) {
      assert.ok(usage.includes(`-${flag} `), flag);
      assert.ok(usage.includes(`(default "${DEFAULT_INPUT_LIMITS[cap as keyof typeof INPUT_LIMIT_FLAGS]}")`), flag);
    }
  });
});
