import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import {
  AtomicWriter,
  DATA_DIR_NAME,
  isTimestampDirName,
  timestampDirName,
  topLevelNames,
} from '../../src/output/atomic-writer.js';
import type { OutputFile } from '../../src/output/file-set.js';
import { nodeFsOps, type FsOps } from '../../src/output/fs-ops.js';

function file(path: string, contents: string, mode = 0o644, objectName = path): OutputFile {
  return { path, mode, objectName, contents: Buffer.from(contents) };
}

function enospc(): Error {
  return Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
}

/** Every visible file under `dir`, read through the user-visible names, by relative path. */
async function visibleFiles(dir: string): Promise<Map<string, { contents: string; mode: number }>> {
  const found = new Map<string, { contents: string; mode: number }>();
  async function walk(relative: string): Promise<void> {
    for (const name of await fsp.readdir(join(dir, relative))) {
      if (relative === '' && name.startsWith('..')) continue;
      const path = relative === '' ? name : `${relative}/${name}`;
      const stats = await fsp.stat(join(dir, path));
      if (stats.isDirectory()) await walk(path);
      else found.set(path, { contents: await fsp.readFile(join(dir, path), 'utf8'), mode: stats.mode & 0o777 });
    }
  }
  await walk('');
  return found;
}

async function assertHolds(dir: string, files: readonly OutputFile[]): Promise<void> {
  const expected = new Map(files.map((f) => [f.path, { contents: f.contents.toString('utf8'), mode: f.mode }]));
  assert.deepEqual(await visibleFiles(dir), expected);
  for (const name of topLevelNames(files)) {
    assert.equal(await fsp.readlink(join(dir, name)), `${DATA_DIR_NAME}/${name}`);
  }
}

async function versionDirs(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter(isTimestampDirName);
}

async function rejectsWith(code: string, pattern: RegExp, run: () => Promise<unknown>): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof ProviderError, `a ProviderError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('output/atomic-writer', () => {
  let root: string;
  let target: string;

  beforeEach(async () => {
    root = await fsp.mkdtemp(join(tmpdir(), 'atomic-writer-'));
    target = join(root, 'target');
    await fsp.mkdir(target);
  });

  afterEach(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('names version directories after the UTC time with a random suffix', () => {
    const name = timestampDirName(new Date('2026-11-28T20:41:05.123Z'), 456789);
    assert.equal(name, '..2026_11_28_20_41_05.123456789');
    assert.ok(isTimestampDirName(name));
    assert.ok(!isTimestampDirName('..data'));
    assert.ok(!isTimestampDirName('..data_tmp'));
  });

  it('first write: version directory, ..data link and one visible link per top-level name', async () => {
    const files = [file('password', 'p1'), file('tls/tls.crt', 'crt'), file('tls/tls.key', 'key', 0o600)];
    const result = await new AtomicWriter().write(target, files);
    assert.deepEqual(result, { changed: true });
    await assertHolds(target, files);
    const [version, ...others] = await versionDirs(target);
    assert.equal(others.length, 0);
    assert.equal(await fsp.readlink(join(target, DATA_DIR_NAME)), version);
    assert.deepEqual((await fsp.readdir(target)).sort(), [DATA_DIR_NAME, version, 'password', 'tls'].sort());
  });

  it('rewrite: ..data moves, the old version is pruned and dropped files disappear', async () => {
    const writer = new AtomicWriter();
    await writer.write(target, [file('a', '1'), file('gone', 'x'), file('dir/b', '2')]);
    const before = await fsp.readlink(join(target, DATA_DIR_NAME));

    const next = [file('a', 'changed'), file('dir/b', '2'), file('new', 'n')];
    assert.deepEqual(await writer.write(target, next), { changed: true });
    const after = await fsp.readlink(join(target, DATA_DIR_NAME));
    assert.notEqual(after, before);
    assert.deepEqual(await versionDirs(target), [after]);
    await assertHolds(target, next);
    await assert.rejects(fsp.lstat(join(target, 'gone')), { code: 'ENOENT' });
  });

  it('an unchanged payload writes nothing', async () => {
    const files = [file('a', '1'), file('d/e', '2', 0o400)];
    await new AtomicWriter().write(target, files);
    const version = await fsp.readlink(join(target, DATA_DIR_NAME));

    const calls: string[] = [];
    const spy: FsOps = {
      ...nodeFsOps,
      mkdir: (...args) => (calls.push('mkdir'), nodeFsOps.mkdir(...args)),
      symlink: (...args) => (calls.push('symlink'), nodeFsOps.symlink(...args)),
      rename: (...args) => (calls.push('rename'), nodeFsOps.rename(...args)),
      unlink: (...args) => (calls.push('unlink'), nodeFsOps.unlink(...args)),
      removeTree: (...args) => (calls.push('removeTree'), nodeFsOps.removeTree(...args)),
    };
    const result = await new AtomicWriter({ fs: spy }).write(target, [file('d/e', '2', 0o400), file('a', '1')]);
    assert.deepEqual(result, { changed: false });
    assert.deepEqual(calls, []);
    assert.equal(await fsp.readlink(join(target, DATA_DIR_NAME)), version);
  });

  it('a mode change alone is a change', async () => {
    const writer = new AtomicWriter();
    await writer.write(target, [file('a', '1', 0o644)]);
    assert.deepEqual(await writer.write(target, [file('a', '1', 0o600)]), { changed: true });
    await assertHolds(target, [file('a', '1', 0o600)]);
  });

  it('writes dotfiles and nested paths', async () => {
    const files = [file('.env', 'E=1'), file('a/.b', 'hidden'), file('a/b/c/d', 'deep'), file('x', 'top')];
    await new AtomicWriter().write(target, files);
    await assertHolds(target, files);
  });

  it('sets modes exactly, whatever the umask', async () => {
    const previous = process.umask(0o077);
    try {
      const files = [file('rw', 'a', 0o600), file('world', 'b', 0o644), file('ro', 'c', 0o400), file('d/x', 'd', 0o444)];
      await new AtomicWriter().write(target, files);
      await assertHolds(target, files);
      const version = await fsp.readlink(join(target, DATA_DIR_NAME));
      assert.equal((await fsp.stat(join(target, version))).mode & 0o777, 0o755);
      assert.equal((await fsp.stat(join(target, version, 'd'))).mode & 0o777, 0o755);
    } finally {
      process.umask(previous);
    }
  });

  it('replaces a planted symlink under a payload name without touching what it points to', async () => {
    const outside = join(root, 'outside');
    await fsp.mkdir(outside);
    await fsp.writeFile(join(outside, 'victim'), 'original');
    await fsp.symlink(join(outside, 'victim'), join(target, 'secret'));
    await fsp.symlink(outside, join(target, 'tls'));
    const warnings: string[] = [];
    const logger = { debug: () => undefined, warn: (_obj: object, msg: string) => void warnings.push(msg) };

    const files = [file('secret', 'new'), file('tls/tls.crt', 'crt')];
    await new AtomicWriter({ logger }).write(target, files);
    assert.equal(await fsp.readFile(join(outside, 'victim'), 'utf8'), 'original');
    assert.deepEqual(await fsp.readdir(outside), ['victim']);
    await assertHolds(target, files);
    assert.equal(warnings.length, 2);
  });

  it('refuses a symlinked target directory', async () => {
    const real = join(root, 'real');
    await fsp.mkdir(real);
    await fsp.symlink(real, join(root, 'link'));
    await rejectsWith('WRITE_FAILED', /symlink/, () => new AtomicWriter().write(join(root, 'link'), [file('a', '1')]));
    assert.deepEqual(await fsp.readdir(real), []);
  });

  it('refuses a missing target directory or a file as target', async () => {
    await rejectsWith('WRITE_FAILED', /ENOENT/, () => new AtomicWriter().write(join(root, 'nope'), [file('a', '1')]));
    await fsp.writeFile(join(root, 'plain'), '');
    await rejectsWith('WRITE_FAILED', /not a directory/, () =>
      new AtomicWriter().write(join(root, 'plain'), [file('a', '1')]),
    );
  });

  it('refuses a regular file or a directory planted under a payload name, before writing anything', async () => {
    const writer = new AtomicWriter();
    await writer.write(target, [file('other', 'old')]);
    const version = await fsp.readlink(join(target, DATA_DIR_NAME));
    await fsp.writeFile(join(target, 'secret'), 'planted');
    await fsp.mkdir(join(target, 'tls'));

    await rejectsWith('WRITE_FAILED', /\/secret is a regular file/, () =>
      writer.write(target, [file('secret', 'new')]),
    );
    await rejectsWith('WRITE_FAILED', /\/tls is a directory/, () => writer.write(target, [file('tls/tls.crt', 'c')]));
    assert.equal(await fsp.readFile(join(target, 'secret'), 'utf8'), 'planted');
    assert.deepEqual(await fsp.readdir(join(target, 'tls')), []);
    assert.equal(await fsp.readlink(join(target, DATA_DIR_NAME)), version);
    assert.deepEqual(await versionDirs(target), [version]);
  });

  it('rejects reserved names such as ..data in the payload without touching the target', async () => {
    for (const path of ['..data', '..data_tmp', '..2026_01_01_00_00_00.1']) {
      await rejectsWith('INVALID_CONFIG', /object/, () => new AtomicWriter().write(target, [file(path, 'x')]));
    }
    assert.deepEqual(await fsp.readdir(target), []);
  });

  it('an ENOSPC midway leaves the previous set intact and no partial directory', async () => {
    const first = [file('a', 'one'), file('b', 'two'), file('c/d', 'three')];
    await new AtomicWriter().write(target, first);
    const version = await fsp.readlink(join(target, DATA_DIR_NAME));

    let writes = 0;
    const failing: FsOps = {
      ...nodeFsOps,
      open: async (path, flags, mode) => {
        const handle = await nodeFsOps.open(path, flags, mode);
        return {
          ...handle,
          write: async (buffer, offset, length) => {
            writes += 1;
            if (writes === 2) throw enospc();
            return handle.write(buffer, offset, length);
          },
        };
      },
    };
    await rejectsWith('WRITE_FAILED', /cannot write b .*ENOSPC/, () =>
      new AtomicWriter({ fs: failing }).write(target, [file('a', 'ONE'), file('b', 'TWO'), file('e', 'new')]),
    );
    assert.equal(await fsp.readlink(join(target, DATA_DIR_NAME)), version);
    assert.deepEqual(await versionDirs(target), [version]);
    await assertHolds(target, first);
    assert.deepEqual((await fsp.readdir(target)).sort(), [DATA_DIR_NAME, version, 'a', 'b', 'c'].sort());
  });

  it('a failed swap leaves the previous set intact', async () => {
    const first = [file('a', 'one')];
    await new AtomicWriter().write(target, first);
    const version = await fsp.readlink(join(target, DATA_DIR_NAME));
    const failing: FsOps = {
      ...nodeFsOps,
      rename: () => Promise.reject(Object.assign(new Error('io'), { code: 'EIO' })),
    };
    await rejectsWith('WRITE_FAILED', /EIO/, () => new AtomicWriter({ fs: failing }).write(target, [file('a', '2')]));
    assert.deepEqual(await versionDirs(target), [version]);
    assert.deepEqual((await fsp.readdir(target)).sort(), [DATA_DIR_NAME, version, 'a'].sort());
    await assertHolds(target, first);
  });

  it('repairs a removed visible link and a leftover ..data_tmp on the next write', async () => {
    const files = [file('a', '1'), file('b', '2')];
    const writer = new AtomicWriter();
    await writer.write(target, files);
    await fsp.unlink(join(target, 'b'));
    await fsp.symlink('nowhere', join(target, '..data_tmp'));
    assert.deepEqual(await writer.write(target, files), { changed: true });
    await assertHolds(target, files);
    await assert.rejects(fsp.lstat(join(target, '..data_tmp')), { code: 'ENOENT' });
  });

  it('never reads or writes through a planted ..data or version-named symlink', async () => {
    const outside = join(root, 'outside');
    await fsp.mkdir(outside);
    await fsp.writeFile(join(outside, 'a'), 'same');
    await fsp.symlink(outside, join(target, DATA_DIR_NAME));
    const fakeVersion = '..2000_01_01_00_00_00.000000001';
    await fsp.symlink(outside, join(target, fakeVersion));
    await fsp.symlink(`${DATA_DIR_NAME}/a`, join(target, 'a'));

    const files = [file('a', 'same')];
    // Looks unchanged through the planted link, but only a version directory of ours counts.
    assert.deepEqual(await new AtomicWriter().write(target, files), { changed: true });
    await assertHolds(target, files);
    assert.notEqual(await fsp.readlink(join(target, DATA_DIR_NAME)), outside);
    await assert.rejects(fsp.lstat(join(target, fakeVersion)), { code: 'ENOENT' });
    assert.deepEqual(await fsp.readdir(outside), ['a']);
    assert.equal(await fsp.readFile(join(outside, 'a'), 'utf8'), 'same');
  });

  it('property: any sequence of writes leaves exactly the last payload', async () => {
    const name = fc.constantFrom('a', 'b', '.env', 'tls/crt', 'tls/key', 'x/y/z');
    const payload = fc.uniqueArray(
      fc.record({ path: name, contents: fc.string({ maxLength: 8 }), mode: fc.constantFrom(0o400, 0o600, 0o644) }),
      { selector: (f) => f.path, minLength: 1, maxLength: 4 },
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(payload, { minLength: 1, maxLength: 4 }), async (sequence) => {
        const dir = join(root, `prop-${run++}`);
        await fsp.mkdir(dir);
        const writer = new AtomicWriter();
        let files: OutputFile[] = [];
        for (const step of sequence) {
          files = step.map((f) => file(f.path, f.contents, f.mode));
          await writer.write(dir, files);
        }
        await assertHolds(dir, files);
        assert.equal((await versionDirs(dir)).length, 1);
        assert.deepEqual(await writer.write(dir, files), { changed: false });
      }),
      { numRuns: 25 },
    );
  });

  it('concurrent writes into one target leave one complete payload', async () => {
    const payloads = Array.from({ length: 6 }, (_, i) => [
      file('common', `v${i}`),
      file(`only-${i}`, `${i}`),
      file('nested/x', `n${i}`, 0o600 | i),
    ]);
    const results = await Promise.all(payloads.map((p) => new AtomicWriter().write(target, p)));
    assert.ok(results.every((r) => r.changed));
    const visible = await visibleFiles(target);
    const last = payloads[payloads.length - 1]!;
    // The lock runs writes in call order, so the last one wins; either way the set is whole.
    await assertHolds(target, last);
    assert.equal(visible.size, last.length);
    assert.equal((await versionDirs(target)).length, 1);
  });
});
