/** The check that keeps tests from running a stale or missing dist/ (built.ts). */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { staleDist } from './built.js';

describe('helpers/built: dist/ against src/', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'vcp-built-'))));
  after(async () => rm(root, { recursive: true, force: true }));

  it('names every source newer than the bundle, all of them when there is none, and nothing when it is current', async () => {
    const src = join(root, 'src');
    const bundle = join(root, 'dist', 'main.js');
    await mkdir(join(src, 'a'), { recursive: true });
    await mkdir(join(root, 'dist'), { recursive: true });
    const old = new Date(Date.now() - 60_000);
    for (const f of ['main.ts', 'a/b.ts', 'a/types.d.ts']) {
      await writeFile(join(src, f), '');
      await utimes(join(src, f), old, old);
    }
    const named = () => staleDist(src, bundle).map((p) => p.slice(p.lastIndexOf('src/'))).sort();
    assert.deepEqual(named(), ['src/a/b.ts', 'src/main.ts']);
    await writeFile(bundle, '');
    assert.deepEqual(named(), []);
    await writeFile(join(src, 'a', 'b.ts'), 'changed');
    await utimes(bundle, old, old);
    assert.deepEqual(named(), ['src/a/b.ts']);
  });
});
