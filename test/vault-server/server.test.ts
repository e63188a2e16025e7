import assert from 'node:assert/strict';
import { startTestVault } from './index.js';
import { call } from './test-helpers.js';

describe('vault-server: server basics', () => {
  it('serves sys/health and sys/seal-status without a token', async () => {
    const vault = await startTestVault();
    try {
      const health = await call(vault, 'sys/health');
      assert.equal(health.status, 200);
      for (const key of ['initialized', 'sealed', 'standby', 'version', 'cluster_name', 'server_time_utc']) assert.ok(key in health.json!, key);
      const head = await fetch(`${vault.address}/v1/sys/health`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal((await call(vault, 'sys/seal-status')).json!['sealed'], false);
      assert.equal(vault.requests[0]?.kind, 'sys');
      const outside = await fetch(`${vault.address}/ui/`);
      assert.equal(outside.status, 404);
    } finally {
      await vault.close();
    }
  });

  it('labels a 204 as JSON, as Vault does', async () => {
    const vault = await startTestVault();
    try {
      vault.enableKv('kv', 1);
      const res = await call(vault, 'kv/a', { token: vault.rootToken, method: 'PUT', body: { v: '1' } });
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.equal(res.headers.get('content-type'), 'application/json');
    } finally {
      await vault.close();
    }
  });

  it('bounds the request log when asked to', async () => {
    const vault = await startTestVault({ requestLogLimit: 10 });
    try {
      for (let i = 0; i < 30; i++) await call(vault, 'sys/health');
      assert.ok(vault.requests.length <= 11, `log has ${vault.requests.length} entries`);
      assert.equal(vault.countRequests({ kind: 'sys', status: 200 }), vault.requests.length);
      vault.clearRequests();
      assert.equal(vault.requests.length, 0);
    } finally {
      await vault.close();
    }
  });

  it('refuses use after close', async () => {
    const vault = await startTestVault();
    await vault.close();
    assert.throws(() => vault.address, /closed/);
    await vault.close();
  });
});
