import assert from 'node:assert/strict';
import { startTestVault, type TestVault } from './index.js';
import { call, fakeClock, pick, str, type FakeClock } from './test-helpers.js';

describe('vault-server: database credentials and leases', () => {
  let vault: TestVault;
  let clock: FakeClock;
  let token: string;

  before(async () => {
    clock = fakeClock();
    vault = await startTestVault({ now: clock.now });
    vault.enableDatabase();
    vault.addDatabaseRole('database', 'readonly', { defaultTtlSeconds: 3600, maxTtlSeconds: 7200 });
    vault.putPolicy('db', 'path "database/creds/*" { capabilities = ["read"] }\npath "sys/leases/revoke" { capabilities = ["update"] }');
  });
  beforeEach(() => {
    vault.revokeAllTokens();
    token = vault.createToken({ policies: ['db'] });
  });
  after(() => vault.close());

  const mint = async () => {
    const res = await call(vault, 'database/creds/readonly', { token });
    assert.equal(res.status, 200, res.text);
    return res.json!;
  };

  it('mints new credentials under a renewable lease on every read', async () => {
    const a = await mint();
    const b = await mint();
    assert.match(str(a['lease_id']), /^database\/creds\/readonly\/[A-Za-z0-9]{24}$/);
    assert.equal(a['lease_duration'], 3600);
    assert.equal(a['renewable'], true);
    assert.equal(a['mount_type'], 'database');
    assert.notEqual(pick(a, 'data', 'username'), pick(b, 'data', 'username'));
    assert.notEqual(pick(a, 'data', 'password'), pick(b, 'data', 'password'));
    assert.notEqual(a['lease_id'], b['lease_id']);
    assert.equal(vault.activeLeases().length, 2);
    assert.equal(vault.requests.at(-1)?.kind, 'dynamic');
  });

  it('renews, caps at max_ttl with a warning, looks up and revokes', async () => {
    const leaseId = str((await mint())['lease_id']);
    clock.advance(1_000_000);
    const renewed = await call(vault, 'sys/leases/renew', { token, method: 'PUT', body: { lease_id: leaseId, increment: 1800 } });
    assert.equal(renewed.status, 200, renewed.text);
    assert.equal(renewed.json!['lease_id'], leaseId);
    assert.equal(renewed.json!['lease_duration'], 1800);
    assert.equal(renewed.json!['renewable'], true);
    assert.equal(vault.requests.at(-1)?.kind, 'renew');

    const capped = await call(vault, 'sys/leases/renew', { token, method: 'PUT', body: { lease_id: leaseId, increment: '10h' } });
    assert.equal(capped.json!['lease_duration'], 7200 - 1000);
    assert.match(String((capped.json!['warnings'] as string[])[0]), /exceeded the effective max_ttl/);

    const lookup = await call(vault, 'sys/leases/lookup', { token, method: 'PUT', body: { lease_id: leaseId } });
    assert.equal(pick(lookup.json, 'data', 'id'), leaseId);
    assert.equal(pick(lookup.json, 'data', 'ttl'), 6200);
    assert.equal(pick(lookup.json, 'data', 'renewable'), true);

    const revoked = await call(vault, 'sys/leases/revoke', { token, method: 'PUT', body: { lease_id: leaseId } });
    assert.equal(revoked.status, 204);
    assert.equal(vault.requests.at(-1)?.kind, 'revoke');
    assert.ok(vault.revokedLeases().includes(leaseId));
    assert.ok(!vault.activeLeases().some((l) => l.leaseId === leaseId));
    const again = await call(vault, 'sys/leases/renew', { token, method: 'PUT', body: { lease_id: leaseId } });
    assert.deepEqual(again.json, { errors: ['lease not found'] });
  });

  it('expires leases by the injected clock', async () => {
    const leaseId = str((await mint())['lease_id']);
    clock.advance(3601_000);
    assert.ok(!vault.activeLeases().some((l) => l.leaseId === leaseId));
    const res = await call(vault, 'sys/leases/renew', { token, method: 'PUT', body: { lease_id: leaseId } });
    assert.equal(res.status, 400);
  });

  it('revokes a token\'s leases with the token', async () => {
    const leaseId = str((await mint())['lease_id']);
    vault.revokeToken(token);
    assert.ok(!vault.activeLeases().some((l) => l.leaseId === leaseId));
  });

  it('rejects unknown roles and missing lease ids like Vault', async () => {
    vault.putPolicy('db-all', 'path "database/*" { capabilities = ["read"] }\npath "sys/leases/*" { capabilities = ["update"] }');
    const t = vault.createToken({ policies: ['db-all'] });
    assert.deepEqual((await call(vault, 'database/creds/nope', { token: t })).json, { errors: ['unknown role: nope'] });
    assert.deepEqual((await call(vault, 'sys/leases/renew', { token: t, method: 'PUT', body: {} })).json, { errors: ['lease_id must be specified'] });
    assert.deepEqual((await call(vault, 'sys/leases/lookup', { token: t, method: 'PUT', body: { lease_id: 'x' } })).json, { errors: ['invalid lease'] });
  });
});
