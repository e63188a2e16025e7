import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileHmacKeySource, MIN_HMAC_KEY_BYTES, RandomHmacKeySource } from '../../src/mount/hmac-key.js';
import { rejection } from '../helpers/rejection.js';

describe('mount/hmac-key', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'vcp-hmac-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  it('reads the key file once, without its trailing newline', async () => {
    const path = join(dir, 'key');
    await writeFile(path, 'a-key-of-more-than-sixteen-bytes\n');
    const source = new FileHmacKeySource(path);
    assert.equal((await source.getKey()).toString(), 'a-key-of-more-than-sixteen-bytes');
    await writeFile(path, 'another-key-written-later-on-disk');
    assert.equal((await source.getKey()).toString(), 'a-key-of-more-than-sixteen-bytes', 'kept in memory');
    assert.match(source.description, /^file /);
  });

  it('fails LOCAL_FILE_ERROR naming the flag for a missing or short file, and reads again on the next call', async () => {
    const path = join(dir, 'later');
    const source = new FileHmacKeySource(path);
    const missing = await rejection(source.getKey());
    assert.equal(missing.code, 'LOCAL_FILE_ERROR');
    assert.match(missing.publicMessage, /--hmac-key-file .*ENOENT/);
    await writeFile(path, 'x'.repeat(MIN_HMAC_KEY_BYTES - 1));
    const short = await rejection(source.getKey());
    assert.match(short.publicMessage, new RegExp(`holds ${MIN_HMAC_KEY_BYTES - 1} bytes; at least ${MIN_HMAC_KEY_BYTES}`));
    await writeFile(path, 'x'.repeat(MIN_HMAC_KEY_BYTES));
    assert.equal((await source.getKey()).length, MIN_HMAC_KEY_BYTES);
  });

  it('a random key is 32 bytes, the same for the life of the process, and another for another source', async () => {
    const a = new RandomHmacKeySource();
    assert.equal((await a.getKey()).length, 32);
    assert.equal(await a.getKey(), await a.getKey());
    assert.notDeepEqual(await new RandomHmacKeySource().getKey(), await a.getKey());
  });
});
