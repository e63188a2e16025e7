/**
 * TLS to real Vault: a second listener with a server certificate from a CA of the test's own. The provider trusts
 * that CA by flag; a SecretProviderClass that names another CA (from an allowed directory) is refused by the TLS
 * handshake, and the JWT never reaches a Vault the provider cannot verify.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTlsMaterial, writeTlsFiles, type TlsFiles, type TlsMaterial } from '../../vault-server/certs.js';
import { World } from '../harness/world.js';
import { RealSuiteProvider } from '../harness/provider.js';
import { RealDriverClient } from '../harness/driver-client.js';

describe('real Vault: TLS', function () {
  let w: World;
  let files: TlsFiles;
  let otherCa: string;

  before(async () => {
    const material = await createTlsMaterial();
    files = await writeTlsFiles(material);
    otherCa = join(files.dir, 'other-ca.pem');
    await writeFile(otherCa, material.otherCaCertPem);
    w = await World.start({
      tls: { certFile: files.serverCertFile, keyFile: files.serverKeyFile },
      providerVaultAddress: (v) => v.tlsAddress ?? '',
      providerFlags: [`--vault-tls-ca-cert=${files.caFile}`, `--allowed-tls-directories=${files.dir}`],
    });
    await w.vault.must('POST', 'secret/data/tls-app', { data: { password: 'over-tls' } });
  });

  after(async () => {
    await w?.close();
    await files?.cleanup();
  });

  it('mounts over TLS with the CA given by flag', async () => {
    const m = await w.mount({ objects: [{ objectName: 'p', secretPath: 'secret/data/tls-app', secretKey: 'password' }] });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('p')?.text, 'over-tls');
  });

  it('mounts with a CA directory named by the SecretProviderClass', async () => {
    const m = await w.mount({
      params: { vaultCADirectory: files.caDir },
      objects: [{ objectName: 'p', secretPath: 'secret/data/tls-app', secretKey: 'password' }],
    });
    assert.equal(m.error, '', m.grpcMessage);
  });

  it('fails the handshake against a CA that did not sign Vault, and logs in nowhere', async () => {
    await w.mark();
    const m = await w.mount({
      params: { vaultCACertPath: otherCa },
      objects: [{ objectName: 'p', secretPath: 'secret/data/tls-app', secretKey: 'password' }],
    });
    assert.equal(m.grpcCode, 'Unavailable', m.error);
    assert.match(m.grpcMessage, /VAULT_UNAVAILABLE/);
    assert.ok(m.grpcMessage.includes(w.vault.tlsAddress ?? '?'), m.grpcMessage);
    assert.equal(m.files.size, 0);
    assert.equal((await w.vaultRequests('auth/')).length, 0);
  });
});

/**
 * The operator's client certificate is never lent (issue 19, class 6), against real Vault's cert auth: the provider
 * presents its --vault-tls-client-cert on every connection, and a cert role trusts exactly that certificate with the
 * platform's policy. A mount naming the cert mount (or reading its login path) is refused before anything reaches
 * Vault; with --allowed-auth-mounts=cert it logs in as the platform (what the default prevents); a pod's own cert
 * login presents only the pod's certificate.
 */
describe('real Vault: the operator\'s client certificate', function () {
  let w: World;
  let files: TlsFiles;
  let team: TlsMaterial;
  const STEAL = [{ objectName: 'p', secretPath: 'secret/data/platform', secretKey: 'password' }];
  const flags = (): string[] => [`--vault-tls-ca-cert=${files.caFile}`, `--vault-tls-client-cert=${files.clientCertFile}`, `--vault-tls-client-key=${files.clientKeyFile}`];

  /** The World's provider replaced by one started with `extra` flags too. */
  async function restartWith(extra: readonly string[]): Promise<void> {
    await w.driver.close();
    await w.provider.stop();
    w.provider = await RealSuiteProvider.start(w.vault.tlsAddress ?? '', [...flags(), ...extra]);
    w.driver = new RealDriverClient(w.provider.socketDir);
  }

  before(async () => {
    const platform = await createTlsMaterial({ clientCommonName: 'platform' });
    team = await createTlsMaterial({ clientCommonName: 'team-b' });
    files = await writeTlsFiles(platform);
    const clientCas = join(files.dir, 'client-cas.pem');
    await writeFile(clientCas, `${platform.caCertPem}${team.caCertPem}`);
    w = await World.start({
      tls: { certFile: files.serverCertFile, keyFile: files.serverKeyFile, clientCaFile: clientCas },
      providerVaultAddress: (v) => v.tlsAddress ?? '',
      providerFlags: flags(),
    });
    const v = w.vault;
    await v.must('POST', 'secret/data/platform', { data: { password: 'platform-only' } });
    await v.must('POST', 'secret/data/team', { data: { password: 'team-pw' } });
    await v.must('POST', 'sys/policies/acl/platform', { policy: 'path "secret/data/platform" { capabilities = ["read"] }' });
    await v.must('POST', 'sys/auth/cert', { type: 'cert' });
    await v.must('POST', 'auth/cert/certs/platform', { certificate: platform.clientCertPem, token_policies: ['platform'], token_ttl: '1h' });
    await v.must('POST', 'auth/cert/certs/team', { certificate: team.clientCertPem, token_policies: ['web'], token_ttl: '1h' });
  });

  after(async () => {
    await w?.close();
    await files?.cleanup();
  });

  it('refuses a mount naming the cert auth mount, or reading its login path, before anything reaches Vault', async () => {
    await w.mark();
    for (const params of [{ vaultAuthMountPath: 'cert' }, { vaultKubernetesMountPath: 'cert' }, { baoAuthMountPath: 'cert' }] as Array<Record<string, string>>) {
      const m = await w.mount({ params, objects: STEAL });
      const parameter = Object.keys(params)[0]!;
      assert.equal(m.grpcCode, 'PermissionDenied', m.grpcMessage);
      assert.match(m.grpcMessage, new RegExp(`PARAMETER_NOT_ALLOWED: ${parameter} "cert" is not an auth mount .*--allowed-auth-mounts`));
      assert.equal(m.files.size, 0);
    }
    const login = await w.mount({ objects: [{ objectName: 'token.json', secretPath: 'auth/cert/login', method: 'POST' }] });
    assert.match(login.grpcMessage, /PARAMETER_NOT_ALLOWED: object "token.json" .*secretPath is a login at auth mount "cert"/);
    assert.equal((await w.vaultRequests('auth/cert/')).length, 0);
    // The default mount still works over the same certificate-presenting connection.
    const ok = await w.mount({ objects: [{ objectName: 'p', secretPath: 'secret/data/team', secretKey: 'password' }] });
    assert.equal(ok.error, '', ok.grpcMessage);
  });

  it('logs a pod in with its own certificate only: the operator\'s is not presented on that login', async () => {
    const creds = { 'tls.crt': team.clientCertPem, 'tls.key': team.clientKeyPem };
    const own = await w.mount({ jwt: null, params: { vaultAuthMethod: 'cert', roleName: 'team' }, secrets: creds, objects: [{ objectName: 'p', secretPath: 'secret/data/team', secretKey: 'password' }] });
    assert.equal(own.error, '', own.grpcMessage);
    assert.equal(own.files.get('p')?.text, 'team-pw');
    const borrowed = await w.mount({ jwt: null, params: { vaultAuthMethod: 'cert', roleName: 'platform' }, secrets: creds, objects: STEAL });
    assert.match(borrowed.grpcMessage, /AUTH_FAILED: Vault login with cert role "platform" .*\(400\)/);
  });

  it('with --allowed-auth-mounts=cert, logs the mount in as the platform (what the default refuses)', async () => {
    await restartWith(['--allowed-auth-mounts=cert']);
    try {
      const m = await w.mount({ params: { vaultAuthMountPath: 'cert' }, objects: STEAL });
      assert.equal(m.error, '', m.grpcMessage);
      assert.equal(m.files.get('p')?.text, 'platform-only');
    } finally {
      await restartWith([]);
    }
  });
});

