/**
 * The Dockerfile's runtime stage laid out in a temporary directory as it builds it (production dependencies from
 * package-lock.json through `npm ci --omit=dev`, dist/, proto/, package.json) runs `node dist/main.js --version`
 * with the image's NODE_OPTIONS. In `npm run test:slow`: `npm ci` takes seconds even from npm's cache.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { builtMain } from '../helpers/built.js';
import { imageNodeFlags, imageNodeOptions } from '../../scripts/image/dockerfile.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const run = promisify(execFile);

describe('Dockerfile runtime stage', function () {
  this.timeout(180_000);

  it('the runtime layout starts: `npm ci --omit=dev` + dist/ + proto/ + package.json, then `node dist/main.js --version`', async () => {
    // dist/ is what `npm run build` (the build stage's command) produced; a stale or missing one fails here.
    builtMain();
    const stage = await mkdtemp(join(tmpdir(), 'vcp-image-'));
    try {
      const app = join(stage, 'app');
      for (const f of ['package.json', 'package-lock.json']) await cp(join(ROOT, f), join(app, f));
      // The deps stage, from npm's cache when it has the packages (CI ran npm ci before the tests).
      await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
        cwd: app,
        env: { ...process.env, NODE_ENV: 'production' },
        timeout: 150_000,
      });
      await rm(join(app, 'package-lock.json'));
      await cp(join(ROOT, 'proto'), join(app, 'proto'), { recursive: true });
      await cp(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });

      const installed = await readdir(join(app, 'node_modules'));
      for (const dev of ['typescript', 'mocha', 'tsx', '@peculiar', 'kubernetes-models', 'fast-check', 'c8']) {
        assert.ok(!installed.includes(dev), `${dev} is a dev dependency`);
      }
      // With the image's NODE_OPTIONS: Node refuses options it does not allow there, so this also proves they start.
      const { stdout } = await run(process.execPath, [...imageNodeFlags().slice(imageNodeOptions().length), join(app, 'dist', 'main.js'), '--version'], {
        cwd: stage,
        timeout: 30_000,
        env: { ...process.env, NODE_OPTIONS: imageNodeOptions().join(' ') },
      });
      const info = JSON.parse(stdout) as { version: string };
      const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
      assert.equal(info.version, pkg.version);
      // Every module loads at start-up (static imports), so --version proves the production dependencies suffice.
      for (const dep of Object.keys(pkg.dependencies)) assert.ok(installed.includes(dep.split('/')[0]!), `${dep} is installed`);
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  });
});
