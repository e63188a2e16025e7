import assert from 'node:assert/strict';
import { parseFlags, UsageError, usageText, DEFAULT_LEASE_CACHE_BYTES, DEFAULT_LEASE_CACHE_SIZE } from '../../src/cli/flags.js';
import { settingsFrom } from '../helpers/settings.js';


describe('cli/flags lease reuse', () => {
  it('defaults to reusing leases for 2/3 of their life, with bounded caches', () => {
    const s = settingsFrom([]);
    assert.equal(s.leaseReuseFraction, 2 / 3);
    assert.equal(s.leaseCacheSize, DEFAULT_LEASE_CACHE_SIZE);
    assert.equal(s.leaseCacheMaxBytes, DEFAULT_LEASE_CACHE_BYTES);
  });

  for (const [raw, value] of [['1/2', 0.5], ['0.75', 0.75], ['0', 0], [' 3 / 4 ', 0.75], ['.5', 0.5], ['9/10', 0.9]] as const) {
    it(`reads -lease-reuse-fraction ${JSON.stringify(raw)} as ${value}`, () => {
      assert.equal(settingsFrom([`-lease-reuse-fraction=${raw}`]).leaseReuseFraction, value);
    });
  }

  for (const raw of ['1', '3/2', '-0.1', 'two thirds', '1/0', '', '0x1']) {
    it(`refuses -lease-reuse-fraction ${JSON.stringify(raw)}`, () => {
      assert.throws(() => parseFlags([`-lease-reuse-fraction=${raw}`], {}), (err: unknown) => err instanceof UsageError && /-lease-reuse-fraction/.test(err.problem));
    });
  }

  it('reads the cache bounds and refuses non-positive ones', () => {
    const s = settingsFrom(['-lease-cache-size', '10', '--lease-cache-max-bytes=4096']);
    assert.equal(s.leaseCacheSize, 10);
    assert.equal(s.leaseCacheMaxBytes, 4096);
    for (const argv of [['-lease-cache-size', '0'], ['-lease-cache-max-bytes', '-1'], ['-lease-cache-size', 'many']]) {
      assert.throws(() => parseFlags(argv, {}), (err: unknown) => err instanceof UsageError && err.problem.includes(argv[0]!));
    }
  });

  it('documents the flags in the usage text', () => {
    const usage = usageText();
    assert.match(usage, /-lease-reuse-fraction fraction\n.*\(default "2\/3"\)/);
    assert.match(usage, /-lease-cache-size n\n/);
    assert.match(usage, /-lease-cache-max-bytes bytes\n/);
  });
});
