/**
 * --write-files (drivers before v0.0.21): the provider writes the files into target_path itself, atomically, and
 * returns none; a symlink planted in the target beforehand is never followed.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/provider-harness.js';

describe('e2e: --write-files', function () {
  this.timeout(30_000);
  let h: Harness;
  let target: string;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'written-pw', env: 'A=1' });
    target = join(h.dir, 'target');
    await mkdir(target);
    await h.startProvider({ writeFiles: true });
  });

  after(async () => h.close());

  const objects = [
    { objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password', filePermission: 0o600 },
    { objectName: '.env', secretPath: 'secret/data/app', secretKey: 'env' },
    { objectName: 'nested/dir/pw', secretPath: 'secret/data/app', secretKey: 'password' },
  ];

  it('writes the files atomically through ..data, with their modes, and returns none', async () => {
    // Planted by someone else before the first mount: a symlink under a payload name, pointing outside.
    const outside = join(h.dir, 'outside.txt');
    await writeFile(outside, 'untouched');
    await symlink(outside, join(target, 'password'));

    const res = await h.client.mount(h.request({ objects, targetPath: target }));
    assert.equal(res.files.length, 0);
    assert.equal(res.object_version.length, 3);
    assert.equal(await readFile(outside, 'utf8'), 'untouched', 'the planted link was not followed');
    assert.equal(await readFile(join(target, 'password'), 'utf8'), 'written-pw');
    assert.equal(await readFile(join(target, '.env'), 'utf8'), 'A=1');
    assert.equal(await readFile(join(target, 'nested/dir/pw'), 'utf8'), 'written-pw');
    assert.equal((await stat(join(target, 'password'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(target, '.env'))).mode & 0o777, 0o644);
    assert.ok((await lstat(join(target, '..data'))).isSymbolicLink());
    assert.equal(await readlink(join(target, 'password')), '..data/password');
  });

  it('swaps to a new set when a secret changes and prunes the old one', async () => {
    const before = await readlink(join(target, '..data'));
    h.vault.putKv('secret', 'app', { password: 'rotated-pw', env: 'A=2' });
    await h.client.mount(h.request({ objects: objects.slice(0, 2), targetPath: target }));
    assert.notEqual(await readlink(join(target, '..data')), before);
    assert.equal(await readFile(join(target, 'password'), 'utf8'), 'rotated-pw');
    const entries = await readdir(target);
    assert.ok(!entries.includes('nested'), 'a file no longer in the payload is pruned');
    assert.equal(entries.filter((e) => e.startsWith('..') && e !== '..data').length, 1, 'only the current timestamped directory is left');
  });
});
