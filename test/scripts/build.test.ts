/** scripts/build.ts: what the image runs. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { builtMain } from '../helpers/built.js';

describe('scripts/build: dist/', () => {
  let dist: string;
  before(() => {
    dist = dirname(builtMain());
  });

  it('holds the loader, the one bundle, its code cache, their source maps and the bundle\'s licences', async () => {
    assert.deepEqual((await readdir(dist)).sort(), ['main.js', 'main.js.map', 'provider.cjs', 'provider.cjs.LEGAL.txt', 'provider.cjs.cache', 'provider.cjs.map']);
  });

  it('has an ASCII bundle: V8 holds its source one byte a character, and the loader reads it as latin1', async () => {
    const bundle = await readFile(join(dist, 'provider.cjs'));
    const at = bundle.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `non-ASCII at byte ${at}: …${bundle.subarray(Math.max(0, at - 60), at + 10).toString('latin1')}…`);
  });
});
