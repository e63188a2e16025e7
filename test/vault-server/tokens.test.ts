import assert from 'node:assert/strict';
import { ServiceAccountJwtIssuer, startTestVault, type TestVault } from './index.js';
import { call, fakeClock, pick, str, type FakeClock } from './test-helpers.js';

const INVALID = { errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'] };

describe('vault-server: tokens', () => {
  let vault: TestVault;
  let clock: FakeClock;
  let issuer: ServiceAccountJwtIssuer;
  const jwts: string[] = [];

  before(async () => {
    clock = fakeClock();
    issuer = new ServiceAccountJwtIssuer({ now: clock.now });
    vault = await startTestVault({ now: clock.now, rootToken: 'sekrit-root' });
    vault.enableKv('kv', 1);
    vault.putKv('kv', 'x', { a: 1 });
    vault.putPolicy('kv', 'path "kv/*" { capabilities = ["read"] }');
    vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] });
    vault.addKubernetesRole('kubernetes', 'app', { boundServiceAccountNames: ['app'], boundServiceAccountNamespaces: ['default'], policies: ['kv'], ttlSeconds: 60, maxTtlSeconds: 120 });
  });
  after(() => vault.close());

  async function login(): Promise<string> {
    const jwt = issuer.signServiceAccountJwt({ namespace: 'default', serviceAccountName: 'app' });
    jwts.push(jwt);
    const res = await call(vault, 'auth/kubernetes/login', { body: { role: 'app', jwt } });
    const token = str(pick(res.json, 'auth', 'client_token'));
    return token;
  }

  it('looks up, renews (up to max TTL) and revokes itself', async () => {
    const token = await login();
    const self = await call(vault, 'auth/token/lookup-self', { token });
    assert.equal(self.status, 200);
    assert.equal(pick(self.json, 'data', 'ttl'), 60);
    assert.deepEqual(pick(self.json, 'data', 'policies'), ['default', 'kv']);
    assert.equal(pick(self.json, 'data', 'meta', 'service_account_name'), 'app');
    assert.equal(pick(self.json, 'data', 'path'), 'auth/kubernetes/login');

    clock.advance(30_000);
    const renewed = await call(vault, 'auth/token/renew-self', { token, body: { increment: '10m' } });
    assert.equal(renewed.status, 200);
    assert.equal(pick(renewed.json, 'auth', 'lease_duration'), 90);
    assert.equal(pick(renewed.json, 'auth', 'client_token'), token);
    assert.match(String((renewed.json!['warnings'] as string[])[0]), /max_ttl/);
    assert.equal(vault.requests.at(-1)?.kind, 'renew');

    assert.equal((await call(vault, 'auth/token/revoke-self', { token, method: 'POST' })).status, 204);
    assert.equal(vault.requests.at(-1)?.kind, 'revoke');
    assert.deepEqual((await call(vault, 'kv/x', { token })).json, INVALID);
  });

  it('answers lookup-self as Vault does: 200 with the data of a live token, 403 for one it does not know', async () => {
    const token = await login();
    const self = await call(vault, 'auth/token/lookup-self', { token });
    assert.equal(self.status, 200);
    assert.deepEqual(pick(self.json, 'data', 'policies'), ['default', 'kv']);
    assert.equal(typeof pick(self.json, 'data', 'ttl'), 'number');
    assert.equal(self.json?.['mount_type'], 'token');
    vault.revokeToken(token);
    const dead = await call(vault, 'auth/token/lookup-self', { token });
    assert.equal(dead.status, 403);
    assert.deepEqual(dead.json, INVALID);
    assert.deepEqual((await call(vault, 'auth/token/lookup-self', { token: 'hvs.never-issued-000000' })).json, INVALID);
    // A live token whose policies do not include `default` may not look itself up: a plain permission denied.
    const bare = vault.createToken({ policies: ['kv'], noDefaultPolicy: true });
    const denied = await call(vault, 'auth/token/lookup-self', { token: bare });
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.json, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
  });

  it('expires by the injected clock', async () => {
    const token = await login();
    assert.equal((await call(vault, 'kv/x', { token })).status, 200);
    clock.advance(60_000);
    const res = await call(vault, 'kv/x', { token });
    assert.equal(res.status, 403);
    assert.deepEqual(res.json, INVALID);
  });

  it('revokeToken and revokeAllTokens force 403 on cached tokens, root survives', async () => {
    const a = await login();
    const b = await login();
    assert.ok(vault.revokeToken(a));
    assert.equal((await call(vault, 'kv/x', { token: a })).status, 403);
    assert.equal((await call(vault, 'kv/x', { token: b })).status, 200);
    assert.ok(vault.revokeAllTokens() >= 1);
    assert.equal((await call(vault, 'kv/x', { token: b })).status, 403);
    assert.equal((await call(vault, 'kv/x', { token: vault.rootToken })).status, 200);
    assert.equal(vault.liveTokenCount(), 0);
  });

  it('accepts Authorization: Bearer and creates tokens over HTTP', async () => {
    const res = await fetch(`${vault.address}/v1/auth/token/create`, {
      method: 'POST', headers: { Authorization: `Bearer ${vault.rootToken}` }, body: JSON.stringify({ policies: ['kv'], ttl: '1h' }),
    });
    const body = await res.json() as { auth: { client_token: string; lease_duration: number; policies: string[] } };
    assert.equal(body.auth.lease_duration, 3600);
    assert.deepEqual(body.auth.policies, ['default', 'kv']);
    assert.equal((await call(vault, 'kv/x', { token: body.auth.client_token })).status, 200);
  });

  it('answers a lookup of a token it does not know with 403 "bad token", as Vault does', async () => {
    const res = await call(vault, 'auth/token/lookup', { token: vault.rootToken, body: { token: 'hvs.nobody-issued-this' } });
    assert.equal(res.status, 403);
    assert.deepEqual(res.json, { errors: ['bad token'] });
  });

  it('never records tokens, JWTs or bodies in the request log', () => {
    const text = JSON.stringify(vault.requests);
    assert.ok(vault.requests.length > 5);
    assert.ok(!text.includes(vault.rootToken));
    assert.ok(!text.includes('hvs.'));
    for (const jwt of jwts) assert.ok(!text.includes(jwt));
    for (const entry of vault.requests) {
      assert.deepEqual(Object.keys(entry).sort(), ['at', 'faulted', 'hadToken', 'kind', 'method', 'namespace', 'path', 'query', 'route', 'status']);
    }
  });

  it('redacts credential-like query parameters', async () => {
    await call(vault, 'kv/x?token=abc&version=2', { token: vault.rootToken });
    assert.deepEqual(vault.requests.at(-1)?.query, { token: '<redacted>', version: '2' });
  });
});
