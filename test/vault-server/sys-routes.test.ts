import assert from 'node:assert/strict';
import { startTestVault, type TestVault } from './index.js';
import { call, pick } from './test-helpers.js';

// What the differential test of the real suite showed real Vault v1.21 answering on sys/ routes.
describe('vault-server: sys routes answered as real Vault answers them', () => {
  let vault: TestVault;
  let reader: string;

  before(async () => {
    vault = await startTestVault();
    vault.enableKv('secret', 2);
    vault.enableKv('kv', 1);
    vault.enableDatabase('database');
    vault.putPolicy('reader', 'path "secret/data/*" { capabilities = ["read"] }');
    reader = vault.createToken({ policies: ['reader'] });
  });
  after(() => vault.close());

  it('sys/health and sys/leader carry Vault 1.21\'s keys; a sealed Vault names no cluster', async () => {
    const health = await call(vault, 'sys/health');
    assert.equal(health.json!['replication_primary_canary_age_ms'], 0);
    assert.equal(typeof health.json!['cluster_id'], 'string');
    assert.equal(pick(await call(vault, 'sys/leader').then((r) => r.json), 'performance_standby_last_remote_wal'), 0);
    vault.seal();
    try {
      const sealed = await call(vault, 'sys/health');
      assert.equal(sealed.status, 503);
      assert.equal('cluster_id' in sealed.json!, false);
      assert.equal('cluster_name' in sealed.json!, false);
    } finally {
      vault.unseal();
    }
  });

  it('answers 405 for an operation a lease or policy path does not take', async () => {
    const unsupported = { errors: ['1 error occurred:\n\t* unsupported operation\n\n'] };
    for (const path of ['sys/leases/lookup', 'sys/leases/renew', 'sys/leases/revoke', 'sys/policies/acl']) {
      const res = await call(vault, path, { token: vault.rootToken });
      assert.equal(res.status, 405, path);
      assert.deepEqual(res.json, unsupported, path);
    }
    assert.equal((await call(vault, 'sys/policies/acl?list=true', { token: vault.rootToken })).status, 200);
  });

  it('repeats a legacy answer at the top level: a mount\'s read and a legacy policy read', async () => {
    const mount = await call(vault, 'sys/mounts/secret', { token: vault.rootToken });
    assert.deepEqual(mount.json!['options'], { version: '2' });
    assert.deepEqual(pick(mount.json, 'data', 'options'), { version: '2' });
    const policy = await call(vault, 'sys/policy/reader', { token: vault.rootToken });
    assert.equal(policy.json!['name'], 'reader');
    assert.equal(pick(policy.json, 'data', 'name'), 'reader');
    const byRules = await call(vault, 'sys/policy/legacy', { token: vault.rootToken, method: 'PUT', body: { rules: 'path "kv/*" { capabilities = ["read"] }' } });
    assert.equal(byRules.status, 200);
    assert.deepEqual(byRules.json!['warnings'], ["'rules' is deprecated, please use 'policy' instead"]);
    const byPolicy = await call(vault, 'sys/policy/legacy', { token: vault.rootToken, method: 'PUT', body: { policy: 'path "kv/*" { capabilities = ["read"] }' } });
    assert.equal(byPolicy.status, 204);
  });

  it('describes mounts with the fields Vault has: options maps, deprecation status, passthrough headers, token types', async () => {
    const mounts = await call(vault, 'sys/mounts', { token: vault.rootToken });
    assert.deepEqual(pick(mounts.json, 'data', 'database/', 'options'), {});
    assert.equal(pick(mounts.json, 'data', 'database/', 'deprecation_status'), undefined);
    assert.equal(pick(mounts.json, 'data', 'kv/', 'deprecation_status'), 'supported');
    assert.equal(pick(mounts.json, 'data', 'sys/', 'options'), null);
    assert.deepEqual(pick(mounts.json, 'data', 'sys/', 'config', 'passthrough_request_headers'), ['Accept']);
    const auth = await call(vault, 'sys/auth', { token: vault.rootToken });
    assert.equal(pick(auth.json, 'data', 'token/', 'config', 'token_type'), 'default-service');
  });

  it('lets a token look up a mount it may use somewhere inside, and no other', async () => {
    // The reader may read secret/data/*: real Vault lets it look up the mount secret/ (hasMountAccess).
    const secret = await call(vault, 'sys/internal/ui/mounts/secret', { token: reader });
    assert.equal(secret.status, 200, secret.text);
    assert.equal(pick(secret.json, 'data', 'path'), 'secret/');
    assert.equal((await call(vault, 'sys/internal/ui/mounts/kv', { token: reader })).status, 403);
  });
});
