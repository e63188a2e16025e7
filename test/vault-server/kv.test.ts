import assert from 'node:assert/strict';
import { startTestVault, type TestVault } from './index.js';
import { call, fakeClock, pick, type FakeClock } from './test-helpers.js';

describe('vault-server: KV v1 and v2', () => {
  let vault: TestVault;
  let clock: FakeClock;
  const token = 'root';

  before(async () => {
    clock = fakeClock();
    vault = await startTestVault({ now: clock.now });
    vault.enableKv('kv', 1);
    vault.enableKv('secret', 2);
  });
  after(() => vault.close());

  it('KV v1: reads the map with the 768h lease and empty lease_id', async () => {
    vault.putKv('kv', 'app/db', { user: 'u', pass: 'p', port: 5432 });
    const res = await call(vault, 'kv/app/db', { token });
    assert.equal(res.status, 200);
    assert.equal(res.json!['lease_id'], '');
    assert.equal(res.json!['lease_duration'], 2764800);
    assert.equal(res.json!['renewable'], false);
    assert.equal(res.json!['mount_type'], 'kv');
    assert.deepEqual(res.json!['data'], { user: 'u', pass: 'p', port: 5432 });
  });

  it('KV v1: overwrites, lists, deletes, and 404s with an empty error list', async () => {
    vault.putKv('kv', 'app/db', { user: 'v2' });
    assert.deepEqual((await call(vault, 'kv/app/db', { token })).json!['data'], { user: 'v2' });
    assert.equal((await call(vault, 'kv/app/api', { token, body: { key: 'k' } })).status, 204);
    // Node's HTTP parser rejects the LIST verb, so list the way Vault's Go client does: GET ?list=true.
    const list = await call(vault, 'kv/app?list=true', { token });
    assert.deepEqual(pick(list.json, 'data', 'keys'), ['api', 'db']);
    const listQuery = await call(vault, 'kv/?list=true', { token });
    assert.deepEqual(pick(listQuery.json, 'data', 'keys'), ['app/']);
    assert.equal((await call(vault, 'kv/app/api', { token, method: 'DELETE' })).status, 204);
    const missing = await call(vault, 'kv/app/api', { token });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { errors: [] });
  });

  it('KV v2: answers a LIST outside metadata/ with the invalid-path 404 and its hint, as Vault does', async () => {
    vault.putKv('secret', 'listed', { a: '1' });
    const res = await call(vault, 'secret/data/?list=true', { token });
    assert.equal(res.status, 404);
    assert.equal(res.json!['data'], null);
    assert.match(String((res.json!['warnings'] as string[])[0]), /Invalid path for a versioned K\/V secrets engine.*'vault kv list'/);
    assert.deepEqual(pick(await call(vault, 'secret/metadata/?list=true', { token }).then((r) => r.json), 'data', 'keys'), ['listed']);
  });

  it('KV v2: returns data and metadata, keeps versions, honours ?version=N', async () => {
    assert.equal(vault.putKv('secret', 'web', { a: '1' }), 1);
    clock.advance(1000);
    assert.equal(vault.putKv('secret', 'web', { a: '2' }), 2);
    const latest = await call(vault, 'secret/data/web', { token });
    assert.equal(latest.status, 200);
    assert.deepEqual(pick(latest.json, 'data', 'data'), { a: '2' });
    const meta = pick(latest.json, 'data', 'metadata') as Record<string, unknown>;
    assert.deepEqual(Object.keys(meta).sort(), ['created_time', 'custom_metadata', 'deletion_time', 'destroyed', 'version']);
    assert.equal(meta['version'], 2);
    assert.equal(meta['deletion_time'], '');
    assert.equal(meta['custom_metadata'], null);
    assert.equal(meta['created_time'], new Date(clock.now()).toISOString());
    const v1 = await call(vault, 'secret/data/web?version=1', { token });
    assert.deepEqual(pick(v1.json, 'data', 'data'), { a: '1' });
    assert.equal((await call(vault, 'secret/data/web?version=9', { token })).status, 404);
  });

  it('KV v2: writes over HTTP return version metadata and respect cas', async () => {
    const write = await call(vault, 'secret/data/web', { token, body: { data: { a: '3' }, options: { cas: 2 } } });
    assert.equal(write.status, 200);
    assert.equal(pick(write.json, 'data', 'version'), 3);
    const stale = await call(vault, 'secret/data/web', { token, body: { data: { a: '4' }, options: { cas: 1 } } });
    assert.equal(stale.status, 400);
    assert.deepEqual(stale.json, { errors: ['check-and-set parameter did not match the current version'] });
    const metadata = await call(vault, 'secret/metadata/web', { token });
    assert.equal(pick(metadata.json, 'data', 'current_version'), 3);
    assert.deepEqual(Object.keys(pick(metadata.json, 'data', 'versions') as object), ['1', '2', '3']);
  });

  it('KV v2: soft-deleted versions read as 404 with metadata; missing as 404 with no errors', async () => {
    vault.putKv('secret', 'gone', { x: 1 });
    vault.deleteKv('secret', 'gone');
    const deleted = await call(vault, 'secret/data/gone', { token });
    assert.equal(deleted.status, 404);
    assert.equal(pick(deleted.json, 'data', 'data'), null);
    assert.notEqual(pick(deleted.json, 'data', 'metadata', 'deletion_time'), '');
    const missing = await call(vault, 'secret/data/never', { token });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { errors: [] });
    vault.deleteKv('secret', 'gone', undefined, { all: true });
    assert.equal((await call(vault, 'secret/metadata/gone', { token })).status, 404);
  });

  it('KV v2: a v1-style path gets 404 with Vault\'s warning', async () => {
    const res = await call(vault, 'secret/web', { token });
    assert.equal(res.status, 404);
    assert.match(String((res.json!['warnings'] as string[])[0]), /^Invalid path for a versioned K\/V secrets engine/);
  });

  it('unknown mounts 404 with no handler for route', async () => {
    const res = await call(vault, 'nomount/x', { token });
    assert.equal(res.status, 404);
    assert.deepEqual(res.json, { errors: ['no handler for route "nomount/x". route entry not found.'] });
  });

  it('rejects writes to a path ending in a slash and unparsable JSON', async () => {
    assert.deepEqual((await call(vault, 'kv/dir/', { token, body: { a: 1 } })).json, { errors: ["cannot write to a path ending in '/'"] });
    const bad = await call(vault, 'kv/x', { token, body: '{nope' });
    assert.equal(bad.status, 400);
    assert.match(String((bad.json!['errors'] as string[])[0]), /^failed to parse JSON input/);
  });

  it('sys/mounts lists mounts with their type and KV version', async () => {
    const res = await call(vault, 'sys/mounts', { token });
    assert.equal(res.status, 200);
    assert.equal(pick(res.json, 'data', 'secret/', 'type'), 'kv');
    assert.deepEqual(pick(res.json, 'data', 'secret/', 'options'), { version: '2' });
    assert.deepEqual(pick(res.json, 'kv/', 'options'), { version: '1' });
    const ui = await call(vault, 'sys/internal/ui/mounts/secret/data/web', { token });
    assert.equal(pick(ui.json, 'data', 'path'), 'secret/');
  });

  it('gives every response its own request_id, as Vault does, even for the same unchanged secret', async () => {
    vault.putKv('secret', 'same', { k: 'v' });
    const ids = new Set<unknown>();
    for (let i = 0; i < 3; i++) {
      const res = await call(vault, 'secret/data/same', { token });
      assert.equal(res.status, 200);
      assert.match(String(res.json!['request_id']), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      ids.add(res.json!['request_id']);
    }
    assert.equal(ids.size, 3);
  });
});
