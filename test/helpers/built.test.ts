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

  it('names each source whose output is missing or older, and nothing when dist/ is current', async () => {
    const src = join(root, 'src');
    const dist = join(root, 'dist');
    await mkdir(join(src, 'a'), { recursive: true });
    await mkdir(join(dist, 'a'), { recursive: true });
    const old = new Date(Date.now() - 60_000);
    for (const f of ['main.ts', 'a/b.ts', 'a/c.ts', 'a/types.d.ts']) {
      await writeFile(join(src, f), '');
      await utimes(join(src, f), old, old);
    }
    await writeFile(join(dist, 'main.js'), '');
    await writeFile(join(dist, 'a', 'b.js'), '');
    assert.deepEqual(staleDist(src, dist).map((p) => p.slice(p.lastIndexOf('src/'))), ['src/a/c.ts']);
    await writeFile(join(dist, 'a', 'c.js'), '');
    assert.deepEqual(staleDist(src, dist), []);
    await writeFile(join(src, 'main.ts'), 'changed');
    await utimes(join(dist, 'main.js'), old, old);
    assert.deepEqual(staleDist(src, dist).map((p) => p.slice(p.lastIndexOf('src/'))), ['src/main.ts']);
  });
});
