/**
 * The other ways to log in, against real Vault's approle, userpass and cert auth methods (enabled through its API),
 * through the driver's own client: credentials from the nodePublishSecretRef, one login per set of credentials, and
 * the fake's answers compared with real Vault's for the same logins. Then the sync controller's requests and audience
 * lists, against real Kubernetes auth.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { createTlsMaterial, writeTlsFiles, type TlsFiles, type TlsMaterial } from '../../vault-server/certs.js';
import { startTestVault, type TestVault } from '../../vault-server/index.js';
import { World } from '../harness/world.js';

const KV = [{ objectName: 'p', secretPath: 'secret/data/auth-app', secretKey: 'password' }];

interface Answer {
  readonly status: number;
  readonly errors: unknown;
}

/** One POST over TLS (optionally presenting a client certificate), for comparing real Vault with the fake. */
function post(address: string, path: string, body: unknown, ca: string, client?: { cert: string; key: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${address}/v1/${path}`, { method: 'POST', ca, ...client, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const parsed = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { errors?: unknown; auth?: unknown };
        resolve({ status: res.statusCode ?? 0, errors: parsed.errors ?? (parsed.auth === undefined ? null : 'auth') });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('real Vault: approle, userpass and cert login', function () {
  let w: World;
  let files: TlsFiles;
  let material: TlsMaterial;
  let stranger: TlsMaterial;
  let roleId = '';
  let secretId = '';
  let fake: TestVault;
  let fakeRoleId = '';
  let fakeSecretId = '';

  before(async () => {
    material = await createTlsMaterial({ clientCommonName: 'web-client' });
    stranger = await createTlsMaterial({ clientCommonName: 'stranger' });
    files = await writeTlsFiles(material);
    w = await World.start({
      tls: { certFile: files.serverCertFile, keyFile: files.serverKeyFile, clientCaFile: files.caFile },
      providerVaultAddress: (v) => v.tlsAddress ?? '',
      providerFlags: [`--vault-tls-ca-cert=${files.caFile}`],
    });
    const v = w.vault;
    await v.must('POST', 'secret/data/auth-app', { data: { password: 'real-auth-pw' } });
    await v.must('POST', 'sys/auth/approle', { type: 'approle' });
    await v.must('POST', 'auth/approle/role/web', { token_policies: ['web'], token_ttl: '1h' });
    roleId = ((await v.must('GET', 'auth/approle/role/web/role-id')) as { data: { role_id: string } }).data.role_id;
    secretId = ((await v.must('POST', 'auth/approle/role/web/secret-id')) as { data: { secret_id: string } }).data.secret_id;
    await v.must('POST', 'sys/auth/userpass', { type: 'userpass' });
    await v.must('POST', 'auth/userpass/users/alice', { password: 'real-alice-pw', token_policies: ['web'], token_ttl: '1h' });
    await v.must('POST', 'sys/auth/cert', { type: 'cert' });
    await v.must('POST', 'auth/cert/certs/web', { certificate: material.caCertPem, token_policies: ['web'], token_ttl: '1h' });

    fake = await startTestVault({ tls: { key: material.serverKeyPem, cert: material.serverCertPem, clientCa: material.caCertPem } });
    fake.enableAppRoleAuth();
    fakeRoleId = fake.addAppRole('approle', 'web', { policies: ['web'] });
    fakeSecretId = fake.newAppRoleSecretId('approle', 'web');
    fake.enableUserpassAuth();
    fake.addUserpassUser('userpass', 'alice', 'real-alice-pw', { policies: ['web'] });
    fake.enableCertAuth();
    fake.addCertRole('cert', 'web', material.caCertPem, { policies: ['web'] });
  });

  after(async () => {
    await w?.close();
    await fake?.close();
    await files?.cleanup();
  });

  it('mounts with approle: the role ID as a parameter, the secret ID from the nodePublishSecretRef, one login for two mounts', async () => {
    await w.mark();
    for (let i = 0; i < 2; i++) {
      const m = await w.mount({ objects: KV, jwt: null, params: { vaultAuthMethod: 'approle', vaultRoleID: roleId }, secrets: { secretId } });
      assert.equal(m.error, '', m.grpcMessage);
      assert.equal(m.files.get('p')?.text, 'real-auth-pw');
    }
    assert.equal((await w.vaultRequests('auth/approle/login')).length, 1);
    assert.equal((await w.vaultRequests('auth/kubernetes/')).length, 0);
    const bad = await w.mount({ objects: KV, jwt: null, params: { vaultAuthMethod: 'approle', vaultRoleID: roleId }, secrets: { secretId: 'wrong-secret-id' } });
    assert.match(bad.grpcMessage, /AUTH_FAILED: Vault login with approle .*\(400\): invalid role or secret ID/);
    assert.equal((await w.vaultRequests('auth/approle/login')).length, 2, 'a wrong secret ID is sent to Vault, never answered from the cache');
    const none = await w.mount({ objects: KV, jwt: null, params: { vaultAuthMethod: 'approle', vaultRoleID: roleId }, secrets: null });
    assert.match(none.grpcMessage, /CREDENTIALS_MISSING/);
  });

  it('mounts with userpass and refuses a wrong password', async () => {
    const ok = await w.mount({ objects: KV, jwt: null, params: { vaultAuthMethod: 'userpass', vaultUsername: 'alice' }, secrets: { password: 'real-alice-pw' } });
    assert.equal(ok.error, '', ok.grpcMessage);
    assert.equal(ok.files.get('p')?.text, 'real-auth-pw');
    const bad = await w.mount({ objects: KV, jwt: null, params: { vaultAuthMethod: 'userpass', vaultUsername: 'alice' }, secrets: { password: 'nope' } });
    assert.match(bad.grpcMessage, /AUTH_FAILED: .*\(400\): invalid username or password/);
  });

  it('mounts with cert over the TLS listener, presenting the client certificate of the nodePublishSecretRef', async () => {
    await w.mark();
    const ok = await w.mount({ objects: KV, jwt: null, params: { vaultAuthMethod: 'cert', roleName: 'web' }, secrets: { 'tls.crt': material.clientCertPem, 'tls.key': material.clientKeyPem } });
    assert.equal(ok.error, '', ok.grpcMessage);
    assert.equal(ok.files.get('p')?.text, 'real-auth-pw');
    const bad = await w.mount({ objects: KV, jwt: null, params: { vaultAuthMethod: 'cert', roleName: 'web' }, secrets: { 'tls.crt': stranger.clientCertPem, 'tls.key': stranger.clientKeyPem } });
    assert.match(bad.grpcMessage, /AUTH_FAILED: .*\(400\): failed to match all constraints for this login certificate/);
    assert.equal((await w.vaultRequests('auth/cert/login')).length, 2);
  });

  it('the fake answers these logins as real Vault does (status and errors)', async () => {
    const real = w.vault.tlsAddress ?? '';
    const ca = material.caCertPem;
    const client = { cert: material.clientCertPem, key: material.clientKeyPem };
    const other = { cert: stranger.clientCertPem, key: stranger.clientKeyPem };
    const cases: Array<[string, (id: string, sid: string) => unknown, { cert: string; key: string } | undefined, string]> = [
      ['approle ok', (id, sid) => ({ role_id: id, secret_id: sid }), undefined, 'auth/approle/login'],
      ['approle wrong secret', (id) => ({ role_id: id, secret_id: 'wrong' }), undefined, 'auth/approle/login'],
      ['approle unknown role', (_id, sid) => ({ role_id: 'nope', secret_id: sid }), undefined, 'auth/approle/login'],
      ['approle no secret', (id) => ({ role_id: id }), undefined, 'auth/approle/login'],
      ['approle nothing', () => ({}), undefined, 'auth/approle/login'],
      ['userpass ok', () => ({ password: 'real-alice-pw' }), undefined, 'auth/userpass/login/Alice'],
      ['userpass wrong', () => ({ password: 'bad' }), undefined, 'auth/userpass/login/alice'],
      ['userpass unknown', () => ({ password: 'bad' }), undefined, 'auth/userpass/login/bob'],
      ['userpass no password', () => ({}), undefined, 'auth/userpass/login/alice'],
      ['cert ok', () => ({ name: 'web' }), client, 'auth/cert/login'],
      ['cert any role', () => ({}), client, 'auth/cert/login'],
      ['cert unknown role', () => ({ name: 'nope' }), client, 'auth/cert/login'],
      ['cert untrusted', () => ({ name: 'web' }), other, 'auth/cert/login'],
      ['cert none', () => ({ name: 'web' }), undefined, 'auth/cert/login'],
    ];
    for (const [name, body, cert, path] of cases) {
      const fromReal = await post(real, path, body(roleId, secretId), ca, cert);
      const fromFake = await post(fake.address, path, body(fakeRoleId, fakeSecretId), ca, cert);
      assert.deepEqual(fromFake, fromReal, `${name}: fake ${JSON.stringify(fromFake)} vs real ${JSON.stringify(fromReal)}`);
    }
    const plain = await w.vault.api('POST', 'auth/cert/login', {}, null);
    assert.deepEqual(plain.body, { errors: ['tls connection required'] });
  });
});

describe('real Vault: the sync controller\'s requests and audience lists', function () {
  let w: World;

  before(async () => {
    w = await World.start({ providerFlags: ['--audience=vault-other,vault'] });
    await w.vault.must('POST', 'secret/data/sync-app', { data: { password: 'sync-real' } });
  });
  after(async () => w?.close());

  /** As secretsync_controller.go builds it: SPC parameters, the controller's pod, the SecretSync's namespace and SA. */
  async function syncMount(objects: ReadonlyArray<Record<string, unknown>>) {
    const jwt = w.issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'web', audience: 'vault', ttlSeconds: 600, unbound: true, node: { name: 'node-a', uid: '0c1d2e3f-0000-4000-8000-0000000000aa' } });
    return w.driver.mount({
      attributes: {
        roleName: 'web',
        objects: JSON.stringify(objects),
        'csi.storage.k8s.io/pod.name': 'secrets-store-sync-controller-0',
        'csi.storage.k8s.io/pod.uid': '5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716',
        'csi.storage.k8s.io/pod.namespace': 'prod',
        'csi.storage.k8s.io/serviceAccount.name': 'web',
        'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ vault: { token: jwt, expirationTimestamp: new Date(Date.now() + 600_000).toISOString() } }),
      },
      secrets: {},
      // The controller sends /mnt/secrets-store for every SecretSync and reads the files from the answer; the
      // driver's writer used here needs a directory of its own.
      targetPath: await w.newTarget(),
      permission: 0o644,
    });
  }

  it('serves the controller with real Kubernetes auth, and mints a certificate per call rather than per controller pod', async () => {
    const m = await syncMount([{ objectName: 'p', secretPath: 'secret/data/sync-app', secretKey: 'password' }]);
    assert.equal(m.error, '', m.grpcMessage);
    const issue = [{ objectName: 'crt', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'a.prod.svc' }, secretKey: 'serial_number' }];
    await w.mark();
    const a = await syncMount(issue);
    const b = await syncMount(issue);
    assert.equal(a.error, '', a.grpcMessage);
    assert.notDeepEqual(a.objectVersions, b.objectVersions);
    assert.equal((await w.vaultRequests('pki/issue/web')).length, 2);
    // A kubelet pod's republish keeps its certificate.
    await w.mark();
    await w.mount({ objects: issue });
    await w.mount({ objects: issue });
    assert.equal((await w.vaultRequests('pki/issue/web')).length, 1);
  });

  it('picks the first audience of --audience the driver delivered a token for', async () => {
    // Only "vault" delivered: "vault-other" (first in the list) is skipped, and real Kubernetes auth accepts it.
    const m = await w.mount({ objects: [{ objectName: 'p', secretPath: 'secret/data/sync-app', secretKey: 'password' }] });
    assert.equal(m.error, '', m.grpcMessage);
    // An SPC list naming only an audience the driver did not deliver: the provider cannot request one outside a cluster.
    const none = await w.mount({ params: { audience: 'vault-other' }, objects: [{ objectName: 'p', secretPath: 'secret/data/sync-app', secretKey: 'password' }] });
    assert.match(none.grpcMessage, /TOKEN_UNAVAILABLE/);
  });
});
