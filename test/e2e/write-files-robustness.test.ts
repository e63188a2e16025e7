/**
 * The legacy writer (--write-files) end to end through the whole Mount path, where a pod's target directory is
 * hostile or the disk fails:
 * - a target already holding `..data` (file, directory, symlink out), `..data_tmp`, a fake version directory and
 *   symlinks under payload names that lead outside;
 * - concurrent mounts into one target while Vault's secret changes, watched by a reader that must only ever see one
 *   complete set;
 * - ENOSPC injected at every single filesystem step in turn.
 * Each leaves the complete old set or the complete new one, and every path the writer changes lies inside the target.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { status } from '@grpc/grpc-js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { targetState } from '../helpers/target-state.js';
import { nodeFsOps, type FsFile, type FsOps } from '../../src/output/fs-ops.js';

const OBJECTS = [
  { objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' },
  { objectName: 'conf/.env', secretPath: 'secret/data/app', secretKey: 'env' },
];
const NAMES = OBJECTS.map((o) => o.objectName);

/** nodeFsOps, recording every path it changes and failing the n-th change with ENOSPC when asked. */
class FaultyFs {
  failAt: number | undefined;
  changes = 0;
  readonly changed: string[] = [];

  #change(path: string): void {
    this.changed.push(path);
    this.changes += 1;
    if (this.failAt !== undefined && this.changes === this.failAt) {
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    }
  }

  readonly ops: FsOps = {
    ...nodeFsOps,
    mkdir: async (path, mode) => {
      this.#change(path);
      return nodeFsOps.mkdir(path, mode);
    },
    open: async (path, flags, mode): Promise<FsFile> => {
      const creating = mode !== undefined;
      if (creating) this.#change(path);
      const handle = await nodeFsOps.open(path, flags, mode);
      if (!creating) return handle;
      return {
        ...handle,
        write: async (buffer, offset, length) => {
          this.#change(path);
          return handle.write(buffer, offset, length);
        },
        chmod: async (m) => {
          this.#change(path);
          return handle.chmod(m);
        },
      };
    },
    symlink: async (target, path) => {
      this.#change(path);
      return nodeFsOps.symlink(target, path);
    },
    rename: async (from, to) => {
      this.#change(from);
      this.#change(to);
      return nodeFsOps.rename(from, to);
    },
    unlink: async (path) => {
      this.#change(path);
      return nodeFsOps.unlink(path);
    },
    removeTree: async (path) => {
      this.#change(path);
      return nodeFsOps.removeTree(path);
    },
  };
}

/** Every file under `dir` with its contents, without following symlinks: to prove a directory was not touched. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const s = await lstat(path);
    if (s.isDirectory()) out.push(`${name}/`, ...(await snapshot(path)).map((p) => `${name}/${p}`));
    else if (s.isSymbolicLink()) out.push(`${name} -> ${await readlink(path)}`);
    else out.push(`${name} = ${await readFile(path, 'utf8')}`);
  }
  return out;
}

describe('e2e: --write-files under hostile targets, concurrency and a full disk', function () {
  this.timeout(60_000);
  let h: Harness;
  let fs: FaultyFs;
  let outside: string;
  let outsideBefore: string[];
  let n = 0;

  async function freshTarget(): Promise<string> {
    const t = join(h.dir, 'targets', `t${n++}`);
    await mkdir(t, { recursive: true });
    return t;
  }

  function mount(targetPath: string) {
    return h.client.mount(h.request({ objects: OBJECTS, targetPath }));
  }

  function generation(g: number): void {
    h.vault.putKv('secret', 'app', { password: `pw-${g}`, env: `GEN=${g}` });
  }

  before(async () => {
    h = await startHarness();
    generation(1);
    fs = new FaultyFs();
    await h.startProvider({ writeFiles: true }, { writerFs: fs.ops });
    outside = join(h.dir, 'outside');
    await mkdir(join(outside, 'dir'), { recursive: true });
    await writeFile(join(outside, 'password'), 'not the provider\'s to change');
    await writeFile(join(outside, 'dir', 'file'), 'keep');
    outsideBefore = await snapshot(outside);
  });

  afterEach(() => {
    fs.failAt = undefined;
  });

  after(async () => {
    // Whatever happened above, nothing outside the targets changed, and every change was inside one.
    assert.deepEqual(await snapshot(outside), outsideBefore);
    const root = resolve(h.dir, 'targets') + sep;
    const strays = fs.changed.filter((p) => !resolve(p).startsWith(root));
    await h.close();
    assert.deepEqual(strays, [], 'the writer changed paths outside the targets');
  });

  describe('a target holding look-alikes of the writer\'s own names', () => {
    before(() => generation(1));
    const plants: ReadonlyArray<{ name: string; plant: (t: string) => Promise<void> }> = [
      { name: '..data as a symlink to a directory outside', plant: (t) => symlink(outside, join(t, '..data')) },
      { name: '..data_tmp as a symlink outside', plant: (t) => symlink(outside, join(t, '..data_tmp')) },
      { name: 'a version-named directory that is a symlink outside', plant: (t) => symlink(outside, join(t, '..2001_01_01_00_00_00.000000001')) },
      { name: 'the payload name as a symlink to a file outside', plant: (t) => symlink(join(outside, 'password'), join(t, 'password')) },
      { name: 'the payload directory name as a symlink to a directory outside', plant: (t) => symlink(join(outside, 'dir'), join(t, 'conf')) },
      { name: '..data as a regular file', plant: (t) => writeFile(join(t, '..data'), 'planted') },
      { name: '..data as a directory with a file', plant: async (t) => { await mkdir(join(t, '..data')); await writeFile(join(t, '..data', 'password'), 'planted'); } },
      { name: 'the payload name as a regular file', plant: (t) => writeFile(join(t, 'password'), 'somebody\'s data') },
      { name: 'the payload directory name as a real directory', plant: (t) => mkdir(join(t, 'conf')) },
    ];

    const outcomes = new Map<string, string>();
    after(() => {
      // Symlinks are replaced (they hold no data); real files and directories are refused rather than destroyed.
      assert.deepEqual(Object.fromEntries(outcomes), {
        '..data as a symlink to a directory outside': 'written',
        '..data_tmp as a symlink outside': 'written',
        'a version-named directory that is a symlink outside': 'written',
        'the payload name as a symlink to a file outside': 'written',
        'the payload directory name as a symlink to a directory outside': 'written',
        '..data as a regular file': 'refused',
        '..data as a directory with a file': 'refused',
        'the payload name as a regular file': 'refused',
        'the payload directory name as a real directory': 'refused',
      });
    });

    for (const { name, plant } of plants) {
      it(`${name}: the complete set, or WRITE_FAILED with the target as it was`, async () => {
        const target = await freshTarget();
        await plant(target);
        const before = await snapshot(target);
        const failure = await mount(target).then(
          () => undefined,
          (err: unknown) => err as { code: number; details: string },
        );
        if (failure === undefined) {
          assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '1' });
        } else {
          assert.equal(failure.code, status.INTERNAL, failure.details);
          assert.match(failure.details, /^WRITE_FAILED: /);
          assert.ok(failure.details.includes(target), `names the target: ${failure.details}`);
          assert.deepEqual(await snapshot(target), before);
        }
        outcomes.set(name, failure === undefined ? 'written' : 'refused');
      });
    }
  });

  it('concurrent mounts into one target while the secret changes: a reader only ever sees one complete set', async () => {
    const target = await freshTarget();
    let stop = false;
    let observations = 0;
    // The pod's reader: resolve ..data once, then read every file of that version.
    const reader = (async () => {
      while (!stop) {
        let version: string;
        try {
          version = await readlink(join(target, '..data'));
        } catch {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        try {
          const values = await Promise.all(NAMES.map((p) => readFile(join(target, version, p), 'utf8')));
          const generations = new Set(values.map((v) => /[-=](\d+)$/.exec(v)?.[1]));
          assert.equal(generations.size, 1, `mixed set in ${version}: ${values.join(' | ')}`);
          observations += 1;
        } catch (err: unknown) {
          // The version was replaced and pruned between readlink and read: the next look sees the new one.
          if ((err as { code?: string }).code !== 'ENOENT') throw err;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const mounts: Array<Promise<unknown>> = [];
    for (let g = 2; g <= 11; g++) {
      generation(g);
      for (let j = 0; j < 3; j++) mounts.push(mount(target));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(mounts);
    stop = true;
    await reader;
    assert.ok(observations > 0);
    const final = await targetState(target, NAMES);
    assert.equal(final.kind, 'complete');
    // One more republish catches up with the newest secret.
    await mount(target);
    assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '11' });
    assert.equal((await readdir(target)).filter((e) => /^\.\.\d{4}_/.test(e)).length, 1, 'one version directory left');
  });

  it('ENOSPC at every step of a write in turn: the old set stays complete until the write succeeds', async () => {
    const target = await freshTarget();
    generation(20);
    await mount(target);
    assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '20' });
    generation(21);
    let failures = 0;
    for (let k = 1; ; k++) {
      fs.changes = 0;
      fs.failAt = k;
      try {
        await mount(target);
      } catch (err: unknown) {
        const e = err as { code: number; details: string };
        assert.equal(e.code, status.INTERNAL, e.details);
        assert.match(e.details, /^WRITE_FAILED: .*ENOSPC/);
        assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '20' }, `after failing step ${k}`);
        failures += 1;
        assert.ok(k < 100, 'the write never got through');
        continue;
      }
      // Step k was past the last change a write makes (or a clean-up step that may fail harmlessly): the new set.
      assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '21' }, `after step ${k}`);
      break;
    }
    assert.ok(failures >= 6, `only ${failures} failure points`);
    // A clean-up step that failed may have left an old version directory (a pod never sees it): the next write
    // that changes something removes it.
    fs.failAt = undefined;
    generation(22);
    await mount(target);
    assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '22' });
    assert.equal((await readdir(target)).filter((e) => /^\.\.\d{4}_/.test(e)).length, 1, 'leftovers of failed writes are gone');
    await rm(target, { recursive: true, force: true });
  });
});
