/** boot/provider-cache: a bundle compiled with the code cache written for it, and from source otherwise. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODE_CACHE, codeCacheState, compileProvider, PROVIDER_BUNDLE } from '../../src/boot/provider-cache.js';

// A bundle in miniature: CommonJS that reaches its wrapper's arguments and reports through a global.
const BUNDLE = `globalThis.__bootTest = { file: __filename, dir: __dirname, fs: typeof require('node:fs').readFileSync, self: this === module.exports, square: (n) => n * n };`;

interface Reported {
  readonly file: string;
  readonly dir: string;
  readonly fs: string;
  readonly self: boolean;
  readonly square: (n: number) => number;
}

function reported(): Reported {
  return (globalThis as unknown as { __bootTest: Reported }).__bootTest;
}

const MODULE = new URL('../../src/boot/provider-cache.ts', import.meta.url).href;

/**
 * The cache's state and square(7) in a fresh process: within one, V8's own compilation cache answers a second
 * compile of the same source and never looks at the code cache.
 */
function inFreshProcess(dir: string): { readonly cache: string; readonly square: number } {
  const script = `const { compileProvider } = await import(${JSON.stringify(MODULE)}); const p = compileProvider(${JSON.stringify(dir)}); p.run(); console.log(JSON.stringify({ cache: p.cache, square: globalThis.__bootTest.square(7) }));`;
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })) as { cache: string; square: number };
}

describe('boot/provider-cache', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-boot-'));
    await writeFile(join(dir, PROVIDER_BUNDLE), BUNDLE);
  });

  afterEach(async () => {
    delete (globalThis as { __bootTest?: unknown }).__bootTest;
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the bundle as a CommonJS module of its own directory, and says it had no cache', () => {
    const provider = compileProvider(dir);
    assert.equal(provider.cache, 'absent');
    provider.run();
    assert.deepEqual({ ...reported(), square: undefined }, { file: join(dir, PROVIDER_BUNDLE), dir, fs: 'function', self: true, square: undefined });
    assert.equal(codeCacheState(), 'absent');
  });

  it('uses the cache it wrote for the same bytes, in the next process', async () => {
    const first = compileProvider(dir);
    first.run();
    reported().square(3);
    first.writeCache();
    assert.ok((await readFile(join(dir, CODE_CACHE))).length > 32, 'a digest and V8 data');
    assert.deepEqual(inFreshProcess(dir), { cache: 'used', square: 49 });
  });

  it('compiles from source when the bundle changed since, even at the same length (V8 checks only the length)', async () => {
    compileProvider(dir).writeCache();
    const changed = BUNDLE.replace('n * n', 'n + n');
    assert.equal(changed.length, BUNDLE.length);
    await writeFile(join(dir, PROVIDER_BUNDLE), changed);
    assert.deepEqual(inFreshProcess(dir), { cache: 'stale', square: 14 });
  });

  it('compiles from source when V8 refuses the cache', async () => {
    compileProvider(dir).writeCache();
    const cache = await readFile(join(dir, CODE_CACHE));
    // The digest still matches; V8's own header does not.
    cache.fill(0xa5, 32, 48);
    await writeFile(join(dir, CODE_CACHE), cache);
    assert.deepEqual(inFreshProcess(dir), { cache: 'refused', square: 49 });
  });
});
