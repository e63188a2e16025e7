/**
 * The other ways to log in (vaultAuthMethod approle, userpass, cert) end to end over the socket, against the fake's
 * approle, userpass and cert auth: credentials from the nodePublishSecretRef, the pod's token not needed, and a Vault
 * token shared only between mounts that present the very same credentials.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { status } from '@grpc/grpc-js';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';
import { createTlsMaterial, writeTlsFiles, type TlsFiles, type TlsMaterial } from '../vault-server/index.js';

const OBJECTS = [{ objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' }];
const OTHER_POD = { name: 'web-2', namespace: 'prod', uid: '0b2c3d4e-0000-4000-8000-000000000002', serviceAccountName: 'web' };

/** An https address on loopback where nothing listens: a connection to it is refused. */
async function deadHttpsAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `https://127.0.0.1:${port}`;
}

function logins(h: Harness, mount: string): number {
  return h.vault.countRequests({ kind: 'login', routePrefix: `auth/${mount}/` });
}

describe('e2e: approle, userpass and cert login', function () {
  this.timeout(30_000);

  describe('approle and userpass', () => {
    let h: Harness;
    let roleId: string;
    let secretId: string;

    before(async () => {
      h = await startHarness();
      h.vault.putKv('secret', 'app', { password: 'approle-pw' });
      h.vault.enableAppRoleAuth();
      roleId = h.vault.addAppRole('approle', 'web', { policies: ['web'], ttlSeconds: 3600 });
      secretId = h.vault.newAppRoleSecretId('approle', 'web');
      h.vault.enableUserpassAuth();
      h.vault.addUserpassUser('userpass', 'alice', 'alice-password-1', { policies: ['web'], ttlSeconds: 3600 });
      await h.startProvider();
    });
    after(async () => h.close());

    const approle = (over: { secrets?: Record<string, string>; pod?: typeof POD | typeof OTHER_POD; jwt?: string | null } = {}) =>
      h.request({
        objects: OBJECTS,
        params: { vaultAuthMethod: 'approle', vaultRoleID: roleId, roleName: '' },
        jwt: over.jwt === undefined ? null : over.jwt,
        secrets: over.secrets ?? { secretId },
        ...(over.pod === undefined ? {} : { pod: over.pod }),
      });

    it('logs in with the role ID and the secret ID of the nodePublishSecretRef, without the pod token', async () => {
      const before = logins(h, 'approle');
      const res = await h.client.mount(approle());
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'approle-pw');
      assert.equal(logins(h, 'approle'), before + 1);
      assert.equal(h.vault.countRequests({ kind: 'login', routePrefix: 'auth/kubernetes/' }), 0);
    });

    it('reuses the token for mounts with the same credentials, other pods of the ServiceAccount included', async () => {
      const before = logins(h, 'approle');
      await h.client.mount(approle());
      await h.client.mount(approle({ pod: OTHER_POD }));
      assert.equal(logins(h, 'approle'), before);
    });

    it('logs in anew for other credentials, and never hands the cached token to a mount with a wrong secret ID', async () => {
      const second = h.vault.newAppRoleSecretId('approle', 'web');
      const before = logins(h, 'approle');
      await h.client.mount(approle({ secrets: { secretId: second } }));
      assert.equal(logins(h, 'approle'), before + 1);
      const err = await h.client.mountError(approle({ secrets: { secretId: 'not-the-secret-id-5e1b' }, pod: OTHER_POD }));
      assert.equal(err.code, status.PERMISSION_DENIED);
      assert.match(err.details, /^AUTH_FAILED: Vault login with approle at auth mount "approle" of http:\/\/127\.0\.0\.1:\d+ failed for ServiceAccount prod\/web \(400\): invalid role or secret ID$/);
      assert.equal(logins(h, 'approle'), before + 2);
      assert.ok(!err.details.includes(roleId));
    });

    it('ignores the driver token, even one of another ServiceAccount (the pod-token checks belong to kubernetes/jwt)', async () => {
      const foreign = h.jwtFor({ ...POD, serviceAccountName: 'admin' });
      const res = await h.client.mount(approle({ jwt: foreign }));
      assert.equal(res.files.length, 1);
    });

    it('fails with CREDENTIALS_MISSING without the secret ID, naming the key, and sends nothing to Vault', async () => {
      const before = h.vault.requests.length;
      const err = await h.client.mountError(approle({ secrets: {} }));
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.match(err.details, /^CREDENTIALS_MISSING: vaultAuthMethod "approle" reads "secretId" from the volume's nodePublishSecretRef Secret/);
      assert.equal(h.vault.requests.length, before);
    });

    it('refuses an unknown method and approle without a role ID as INVALID_CONFIG', async () => {
      const bad = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultAuthMethod: 'ldap' } }));
      assert.match(bad.details, /^INVALID_CONFIG: vaultAuthMethod must be one of kubernetes, jwt, approle, userpass, cert$/);
      const noRole = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultAuthMethod: 'approle' }, secrets: { secretId } }));
      assert.match(noRole.details, /^INVALID_CONFIG: vaultAuthMethod "approle" needs vaultRoleID/);
    });

    it('logs in with userpass: the username as a parameter, the password from the Secret', async () => {
      const request = (password: string, username = 'alice') =>
        h.request({ objects: OBJECTS, params: { vaultAuthMethod: 'userpass', vaultUsername: username }, jwt: null, secrets: { password } });
      const before = logins(h, 'userpass');
      const res = await h.client.mount(request('alice-password-1', 'Alice'));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'approle-pw');
      await h.client.mount(request('alice-password-1', 'Alice'));
      assert.equal(logins(h, 'userpass'), before + 1);
      // (A password sharing 8 characters in a row with Vault's message, "password" say, withholds the message.)
      const err = await h.client.mountError(request('wrong-pw-9c-x'));
      assert.match(err.details, /^AUTH_FAILED: Vault login with userpass user "alice" at auth mount "userpass" .* \(400\): invalid username or password$/);
      const missing = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultAuthMethod: 'userpass', vaultUsername: 'alice' }, jwt: null }));
      assert.match(missing.details, /^CREDENTIALS_MISSING: .*"password"/);
      const slash = await h.client.mountError(request('x', 'a/b'));
      assert.match(slash.details, /^INVALID_CONFIG: vaultUsername must be one path segment/);
      // `.` and `..` are dot segments: the URL would resolve them, and the password would go to another path.
      for (const dots of ['.', '..']) {
        const err = await h.client.mountError(request('x', dots));
        assert.match(err.details, /^INVALID_CONFIG: vaultUsername must be one path segment/);
      }
    });

    it('keeps leases per pod with the credential methods too', async () => {
      const db = [{ objectName: 'user', secretPath: 'database/creds/web', secretKey: 'username' }];
      const mount = (pod: typeof POD | typeof OTHER_POD) =>
        h.client.mount(h.request({ objects: db, params: { vaultAuthMethod: 'approle', vaultRoleID: roleId }, jwt: null, secrets: { secretId }, pod }));
      const a1 = await mount(POD);
      const a2 = await mount(POD);
      const b = await mount(OTHER_POD);
      assert.equal(Buffer.from(a1.files[0]!.contents).toString(), Buffer.from(a2.files[0]!.contents).toString());
      assert.notEqual(Buffer.from(a1.files[0]!.contents).toString(), Buffer.from(b.files[0]!.contents).toString());
    });
  });

  describe('cert', () => {
    it('needs an https Vault address: the certificate is presented in the TLS handshake', async () => {
      const m = await createTlsMaterial();
      const h = await startHarness();
      try {
        await h.startProvider();
        const err = await h.client.mountError(
          h.request({ objects: OBJECTS, params: { vaultAuthMethod: 'cert' }, jwt: null, secrets: { 'tls.crt': m.clientCertPem, 'tls.key': m.clientKeyPem } }),
        );
        assert.match(err.details, /^INVALID_CONFIG: cert auth presents a client certificate, which needs an https:\/\/ Vault address/);
        assert.equal(h.vault.requests.length, 0);
      } finally {
        await h.close();
      }
    });

    let h: Harness;
    let material: TlsMaterial;
    let stranger: TlsMaterial;
    let files: TlsFiles;
    let dead: string;

    before(async () => {
      material = await createTlsMaterial({ clientCommonName: 'web-client' });
      stranger = await createTlsMaterial({ clientCommonName: 'stranger' });
      files = await writeTlsFiles(material);
      h = await startHarness({ tls: { key: material.serverKeyPem, cert: material.serverCertPem, clientCa: material.caCertPem } });
      // After the harness's servers: a port freed before them could become its Vault's, and the list one address.
      dead = await deadHttpsAddress();
      h.vault.putKv('secret', 'app', { password: 'cert-pw' });
      h.vault.enableCertAuth();
      h.vault.addCertRole('cert', 'web', material.caCertPem, { policies: ['web'], ttlSeconds: 3600 });
      await h.startProvider({
        defaults: { vaultAddress: h.vault.address, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: { caCertPath: files.caFile } },
        trust: { vaultAddresses: [dead], tlsDirectories: [], allowSkipTlsVerify: false },
      });
    });
    after(async () => {
      await h.close();
      await files.cleanup();
    });

    const request = (secrets: Record<string, string>, params: Record<string, string> = {}) =>
      h.request({ objects: OBJECTS, params: { vaultAuthMethod: 'cert', roleName: 'web', ...params }, jwt: null, secrets });

    it('logs in with the client certificate and key of the nodePublishSecretRef (tls.crt, tls.key)', async () => {
      const res = await h.client.mount(request({ 'tls.crt': material.clientCertPem, 'tls.key': material.clientKeyPem }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'cert-pw');
      await h.client.mount(request({ 'tls.crt': material.clientCertPem, 'tls.key': material.clientKeyPem }));
      assert.equal(logins(h, 'cert'), 1);
      // Without roleName Vault tries every certificate role of the mount.
      await h.client.mount(request({ 'tls.crt': material.clientCertPem, 'tls.key': material.clientKeyPem }, { roleName: '' }));
      assert.equal(logins(h, 'cert'), 2);
    });

    it('with several addresses, presents the certificate to the node that answers after one that is down', async () => {
      const before = logins(h, 'cert');
      const creds = { 'tls.crt': material.clientCertPem, 'tls.key': material.clientKeyPem };
      // A list of addresses is a connection of its own, so no Vault token cached by the tests above answers it.
      const res = await h.client.mount(request(creds, { vaultAddress: `${dead},${h.vault.address}` }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'cert-pw');
      assert.equal(logins(h, 'cert'), before + 1, 'one login, on the second address, with the certificate');
      const last = h.vault.requests.filter((r) => r.kind === 'login').at(-1);
      assert.equal(last?.status, 200);
    });

    it('fails AUTH_FAILED for a certificate Vault does not trust', async () => {
      const err = await h.client.mountError(request({ 'tls.crt': stranger.clientCertPem, 'tls.key': stranger.clientKeyPem }));
      assert.match(err.details, /^AUTH_FAILED: Vault login with cert role "web" .* \(400\): failed to match all constraints for this login certificate$/);
    });

    it('refuses a certificate that is no PEM, or a key that is not its own, before any request', async () => {
      const before = h.vault.requests.length;
      const notPem = await h.client.mountError(request({ 'tls.crt': 'not a certificate', 'tls.key': material.clientKeyPem }));
      assert.match(notPem.details, /^CREDENTIALS_INVALID: "tls.crt" of the nodePublishSecretRef Secret is not a PEM certificate$/);
      const mismatch = await h.client.mountError(request({ 'tls.crt': material.clientCertPem, 'tls.key': stranger.clientKeyPem }));
      assert.match(mismatch.details, /^CREDENTIALS_INVALID: "tls.key" of the nodePublishSecretRef Secret is not the key of "tls.crt"$/);
      const noKey = await h.client.mountError(request({ 'tls.crt': material.clientCertPem }));
      assert.match(noKey.details, /^CREDENTIALS_MISSING: .*"tls.key"/);
      assert.equal(h.vault.requests.length, before);
    });
  });
});
