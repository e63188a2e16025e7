/** boot/provider-cache: a bundle compiled with the code cache written for it, and from source otherwise. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODE_CACHE, codeCacheState, compileProvider, PROVIDER_BUNDLE } from '../../src/boot/provider-cache.js';

// A bundle in miniature: CommonJS that reaches its wrapper's arguments and reports through a global.
const BUNDLE = `globalThis.__bootTest = { file: __filename, dir: __dirname, fs: typeof require('node:fs').readFileSync, self: this === module.exports, strict: (function () { return this === undefined; })(), square: (n) => n * n };`;

interface Reported {
  readonly file: string;
  readonly dir: string;
  readonly fs: string;
  readonly self: boolean;
  readonly strict: boolean;
  readonly square: (n: number) => number;
}

function reported(): Reported {
  return (globalThis as unknown as { __bootTest: Reported }).__bootTest;
}

const MODULE = new URL('../../src/boot/provider-cache.ts', import.meta.url).href;

/**
 * In a fresh process (within one, V8's own compilation cache answers a second compile of the same source before the
 * code cache is looked at), with these node flags: compiles `dir`'s bundle, runs it, calls square(7), writes the
 * cache if `write` (square's compiled body in it), and says what became of the cache and what square(7) was.
 */
function inFreshProcess(dir: string, options: { readonly flags?: readonly string[]; readonly write?: boolean } = {}): { readonly cache: string; readonly square: number } {
  const script = `const { compileProvider } = await import(${JSON.stringify(MODULE)}); const p = compileProvider(${JSON.stringify(dir)}); p.run(); const square = globalThis.__bootTest.square(7); ${options.write === true ? 'p.writeCache();' : ''} console.log(JSON.stringify({ cache: p.cache, square }));`;
  return JSON.parse(execFileSync(process.execPath, [...(options.flags ?? []), '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })) as { cache: string; square: number };
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

  it('runs the bundle as a strict CommonJS module of its own directory, and says it had no cache', () => {
    const provider = compileProvider(dir);
    assert.equal(provider.cache, 'absent');
    provider.run();
    assert.deepEqual({ ...reported(), square: undefined }, { file: join(dir, PROVIDER_BUNDLE), dir, fs: 'function', self: true, strict: true, square: undefined });
    assert.equal(codeCacheState(), 'absent');
  });

  it('uses the cache it wrote for the same bytes, in the next process', async () => {
    assert.deepEqual(inFreshProcess(dir, { write: true }), { cache: 'absent', square: 49 });
    assert.ok((await readFile(join(dir, CODE_CACHE))).length > 64, 'two digests and V8 data');
    assert.deepEqual(inFreshProcess(dir), { cache: 'used', square: 49 });
  });

  it('compiles from source when the bundle changed since, even at the same length (V8 checks only the length)', async () => {
    // square(7) ran before the cache was written, so its compiled body is in it: used, it would answer 49.
    inFreshProcess(dir, { write: true });
    const changed = BUNDLE.replace('n * n', 'n + n');
    assert.equal(changed.length, BUNDLE.length);
    await writeFile(join(dir, PROVIDER_BUNDLE), changed);
    assert.deepEqual(inFreshProcess(dir), { cache: 'stale', square: 14 });
  });

  it('compiles from source when the cache is not the bytes written (V8 would crash on them), or is cut short', async () => {
    inFreshProcess(dir, { write: true });
    const cache = await readFile(join(dir, CODE_CACHE));
    const flipped = Buffer.from(cache);
    for (let i = 64 + 100; i < flipped.length && i < 64 + 164; i++) flipped[i] = flipped[i]! ^ 0xff;
    await writeFile(join(dir, CODE_CACHE), flipped);
    assert.deepEqual(inFreshProcess(dir), { cache: 'damaged', square: 49 });
    await writeFile(join(dir, CODE_CACHE), cache.subarray(0, 40));
    assert.deepEqual(inFreshProcess(dir), { cache: 'damaged', square: 49 });
  });

  it('compiles from source when V8 refuses the cache: written under other V8 flags', () => {
    inFreshProcess(dir, { flags: ['--max-semi-space-size=4'], write: true });
    assert.deepEqual(inFreshProcess(dir), { cache: 'refused', square: 49 });
    assert.deepEqual(inFreshProcess(dir, { flags: ['--max-semi-space-size=4'] }), { cache: 'used', square: 49 });
  });

  it('compiles from source when the cache cannot be read', async () => {
    await mkdir(join(dir, CODE_CACHE));
    const provider = compileProvider(dir);
    assert.equal(provider.cache, 'unreadable');
    provider.run();
    assert.equal(reported().square(7), 49);
  });
});
