import assert from 'node:assert/strict';
import { ServiceAccountJwtIssuer, startTestVault, type TestVault } from './index.js';
import { call, pick, str } from './test-helpers.js';

describe('vault-server: namespaces', () => {
  let vault: TestVault;
  const issuer = new ServiceAccountJwtIssuer();

  before(async () => {
    vault = await startTestVault();
    vault.createNamespace('team-a/sub');
    vault.createNamespace('team-b');
    for (const ns of ['team-a', 'team-b', 'team-a/sub']) {
      vault.enableKv('secret', 2, ns);
      vault.putKv('secret', 'app', { owner: ns }, ns);
      vault.putPolicy('read', 'path "secret/data/*" { capabilities = ["read"] }', ns);
      vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] }, ns);
      vault.addKubernetesRole('kubernetes', 'app', { boundServiceAccountNames: ['app'], boundServiceAccountNamespaces: ['*'], policies: ['read'] }, ns);
    }
    // A parent-namespace policy reaches into a child through the child's path prefix.
    vault.putPolicy('child-reader', 'path "sub/secret/data/*" { capabilities = ["read"] }', 'team-a');
  });
  after(() => vault.close());

  async function loginIn(ns: string, viaHeader: boolean): Promise<string> {
    const jwt = issuer.signServiceAccountJwt({ namespace: 'default', serviceAccountName: 'app' });
    const res = viaHeader
      ? await call(vault, 'auth/kubernetes/login', { namespace: ns, body: { role: 'app', jwt } })
      : await call(vault, `${ns}/auth/kubernetes/login`, { body: { role: 'app', jwt } });
    assert.equal(res.status, 200, res.text);
    return str(pick(res.json, 'auth', 'client_token'));
  }

  it('resolves the namespace from the header, the path prefix, or both', async () => {
    const token = await loginIn('team-a', true);
    assert.match(token, /^hvs\.[A-Za-z0-9]+\.[A-Za-z0-9]+$/);
    const viaHeader = await call(vault, 'secret/data/app', { token, namespace: 'team-a' });
    assert.equal(pick(viaHeader.json, 'data', 'data', 'owner'), 'team-a');
    const viaPath = await call(vault, 'team-a/secret/data/app', { token });
    assert.equal(pick(viaPath.json, 'data', 'data', 'owner'), 'team-a');
    const tokenSub = await loginIn('team-a/sub', false);
    const combined = await call(vault, 'sub/secret/data/app', { token: tokenSub, namespace: 'team-a/' });
    assert.equal(pick(combined.json, 'data', 'data', 'owner'), 'team-a/sub');
    assert.equal(vault.requests.at(-1)?.namespace, 'team-a/sub');
  });

  it('keeps namespaces isolated', async () => {
    const tokenA = await loginIn('team-a', true);
    const cross = await call(vault, 'secret/data/app', { token: tokenA, namespace: 'team-b' });
    assert.equal(cross.status, 403);
    const rootNs = await call(vault, 'secret/data/app', { token: tokenA });
    assert.equal(rootNs.status, 403);
    // Mounts of a namespace are invisible from the root namespace.
    const rootRead = await call(vault, 'secret/data/app', { token: 'root' });
    assert.equal(rootRead.status, 404);
  });

  it('lets a parent token reach a child only when its policy names the child path', async () => {
    const parentToken = vault.createToken({ policies: ['child-reader'], ns: 'team-a' });
    const ok = await call(vault, 'secret/data/app', { token: parentToken, namespace: 'team-a/sub' });
    assert.equal(pick(ok.json, 'data', 'data', 'owner'), 'team-a/sub');
    const parentOnlyRead = vault.createToken({ policies: ['read'], ns: 'team-a' });
    assert.equal((await call(vault, 'secret/data/app', { token: parentOnlyRead, namespace: 'team-a/sub' })).status, 403);
  });

  it('answers unknown namespaces with 404', async () => {
    const res = await call(vault, 'secret/data/app', { token: 'root', namespace: 'nope' });
    assert.equal(res.status, 404);
  });

  it('lists child namespaces', async () => {
    const res = await call(vault, 'sys/namespaces?list=true', { token: 'root' });
    assert.deepEqual(pick(res.json, 'data', 'keys'), ['team-a/', 'team-b/']);
  });
});
