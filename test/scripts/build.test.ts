/** scripts/build.mjs: the one file the image runs. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { builtMain } from '../helpers/built.js';

describe('scripts/build: the bundle', () => {
  let bundle: Buffer;
  before(async () => {
    bundle = await readFile(builtMain());
  });

  it('is ASCII, so V8 holds its source one byte a character (a single non-ASCII character doubles it)', () => {
    const at = bundle.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `non-ASCII at byte ${at}: …${bundle.subarray(Math.max(0, at - 60), at + 10).toString('latin1')}…`);
  });
});
