/**
 * `npm run demo` is the first thing a new user runs: run it as they would (its own processes, a fresh temporary
 * directory) and check what it prints, so a change that breaks it fails CI
 * (`npm run test:slow`: the demo builds nothing and takes seconds of two processes' start-up).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('npm run demo', function () {
  this.timeout(90_000);

  it('starts the dev server and the provider, mounts the demo SecretProviderClass and prints its seven files', async () => {
    // The demo's coverage goes to a directory of its own, as the bench's does (test/bench/rotation.slow.ts): it loads
    // the src modules transpiled on its own, and c8 merging those with the suite's made covered lines read as missed
    // (the suite then failed its line threshold).
    const coverage = await mkdtemp(join(tmpdir(), 'vcp-demo-coverage-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', NODE_V8_COVERAGE: coverage },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit').finally(() => rm(coverage, { recursive: true, force: true }))) as [number | null];
    assert.equal(code, 0, `the demo failed:\n${err}\n${out}`);
    assert.match(out, /4\. 7 files:/);
    const modes = new Map([...out.matchAll(/^ {3}(\S+)\s+mode (\d{4}) {2}version [A-Za-z0-9_-]{12}…/gm)].map((m) => [m[1], m[2]]));
    assert.deepEqual([...modes.keys()].sort(), ['.env', 'database/password', 'database/username', 'db-password', 'secret.json', 'tls/tls.crt', 'tls/tls.key']);
    // Private material is not world-readable: the dotfile and the TLS key ask for 0600.
    assert.equal(modes.get('.env'), '0600');
    assert.equal(modes.get('tls/tls.key'), '0600');
    assert.equal(modes.get('db-password'), '0644');
    assert.match(out, /db-password\s+mode 0644 .*demo-password/);
    assert.match(out, /tls\/tls\.crt .*-----BEGIN CERTIFICATE-----/);
  });
});
