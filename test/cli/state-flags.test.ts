import assert from 'node:assert/strict';
import { DEFAULT_STATE_MAX_BYTES, parseFlags, UsageError, usageText } from '../../src/cli/flags.js';
import { settingsFrom } from '../helpers/settings.js';


describe('cli/flags kept state and the TokenRequest fallback', () => {
  it('keeps no state and requests no token by default', () => {
    const s = settingsFrom([]);
    assert.equal(s.stateDir, undefined);
    assert.equal(s.stateMaxBytes, DEFAULT_STATE_MAX_BYTES);
    assert.equal(s.stateIdleMs, 30 * 60_000);
    assert.equal(s.tokenRequestFallback, false);
  });

  it('reads -state-dir, -state-max-bytes, -state-idle-timeout and -token-request-fallback', () => {
    const s = settingsFrom(['--state-dir=/state', '-state-max-bytes', '4096', '--state-idle-timeout=5m', '--token-request-fallback']);
    assert.equal(s.stateDir, '/state');
    assert.equal(s.stateMaxBytes, 4096);
    assert.equal(s.stateIdleMs, 300_000);
    assert.equal(s.tokenRequestFallback, true);
    assert.equal(settingsFrom(['--state-dir=']).stateDir, undefined, 'empty turns the state file off');
  });

  for (const argv of [['--state-idle-timeout=0s'], ['--state-idle-timeout=10'], ['--state-idle-timeout=500ms'], ['--state-max-bytes=0'], ['--state-max-bytes=lots']]) {
    it(`refuses ${argv.join(' ')}`, () => {
      assert.throws(() => parseFlags(argv, {}), (err: unknown) => err instanceof UsageError && err.problem.includes(argv[0]!.split('=')[0]!.slice(1)));
    });
  }

  it('documents the flags in the usage text', () => {
    const usage = usageText();
    assert.match(usage, /-state-dir path\n/);
    assert.match(usage, /-state-idle-timeout duration\n.*\(default "30m"\)/);
    assert.match(usage, /-token-request-fallback\n.*tokenRequests/);
  });
});
