/**
 * The operator's client certificate is never lent (issue 19, class 6). The provider presents its
 * --vault-tls-client-cert on every connection to Vault, and the test Vault has a cert auth role that trusts it and
 * grants the platform's policy: a mount naming the cert auth mount, or an object reading its login path, would be
 * logged in as the platform. Refused unless --allowed-auth-mounts allows the mount (then it works: the control that
 * shows the attack is real); a pod's own cert login presents only its own certificate.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { createTlsMaterial, writeTlsFiles, type TlsFiles, type TlsMaterial } from '../vault-server/index.js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import type { TrustSettings } from '../../src/config/connection.js';

const PLATFORM_SECRET = 'platform-only-7b3e1f';
const STEAL = [{ objectName: 'stolen', secretPath: 'secret/data/platform', secretKey: 'password' }];

describe('e2e: the operator\'s client certificate is never lent', function () {
  this.timeout(60_000);
  let h: Harness;
  let platform: TlsMaterial;
  let team: TlsMaterial;
  let files: TlsFiles;
  const errors: string[] = [];

  async function startProvider(trust: Partial<TrustSettings> = {}): Promise<void> {
    await h.startProvider({
      defaults: h.tlsDefaults(files),
      trust: { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false, ...trust },
    });
  }

  before(async () => {
    platform = await createTlsMaterial({ clientCommonName: 'platform' });
    team = await createTlsMaterial({ clientCommonName: 'team-b' });
    files = await writeTlsFiles(platform);
    h = await startHarness({ tls: { key: platform.serverKeyPem, cert: platform.serverCertPem, clientCa: `${platform.caCertPem}${team.caCertPem}` } });
    h.vault.putKv('secret', 'platform', { password: PLATFORM_SECRET });
    h.vault.putKv('secret', 'app', { password: 'team-pw' });
    h.vault.putPolicy('platform', 'path "secret/data/platform" { capabilities = ["read"] }');
    h.vault.enableCertAuth('cert');
    // What a platform team sets up for its own automation: a role trusting exactly the provider's certificate.
    h.vault.addCertRole('cert', 'platform', platform.clientCertPem, { policies: ['platform'], ttlSeconds: 3600 });
    h.vault.addCertRole('cert', 'team-b', team.clientCertPem, { policies: ['web'], ttlSeconds: 3600 });
    await startProvider();
  });

  after(async () => {
    await h?.close();
    await files?.cleanup();
  });

  it('refuses a mount naming the cert auth mount, in every spelling and with either pod-token method, before any request', async () => {
    const before = h.vault.requests.length;
    for (const params of [
      { vaultAuthMountPath: 'cert' },
      { vaultKubernetesMountPath: 'cert' },
      { baoAuthMountPath: 'cert' },
      { vaultAuthMethod: 'jwt', vaultAuthMountPath: 'cert' },
    ] as Array<Record<string, string>>) {
      const parameter = Object.keys(params).find((k) => k !== 'vaultAuthMethod')!;
      const err = await h.client.mountError(h.request({ objects: STEAL, params }));
      assert.equal(err.code, status.PERMISSION_DENIED, err.details);
      assert.match(err.details, new RegExp(`^PARAMETER_NOT_ALLOWED: ${parameter} "cert" is not an auth mount this provider may log in at: .*--vault-tls-client-cert.*--allowed-auth-mounts`));
      errors.push(err.details);
    }
    assert.equal(h.vault.requests.length, before, 'nothing reached Vault');
  });

  it('refuses an object whose path is the cert mount\'s login, however spelt', async () => {
    const before = h.vault.requests.length;
    for (const secretPath of ['auth/cert/login', 'v1/auth/cert/login', 'auth//cert/./login']) {
      const err = await h.client.mountError(h.request({ objects: [{ objectName: 'token.json', secretPath, method: 'POST' }] }));
      assert.equal(err.code, status.PERMISSION_DENIED, err.details);
      assert.match(err.details, /^PARAMETER_NOT_ALLOWED: object "token.json" \(Vault path .*\): secretPath is a login at auth mount "cert".*--allowed-auth-mounts/);
      errors.push(err.details);
    }
    assert.equal(h.vault.requests.length, before);
  });

  it('still serves the default auth mount with the certificate presented', async () => {
    const res = await h.client.mount(h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }] }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'team-pw');
  });

  it('logs a pod in with its own certificate only: the operator\'s is not presented on its login', async () => {
    const creds = { 'tls.crt': team.clientCertPem, 'tls.key': team.clientKeyPem };
    const own = await h.client.mount(h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }], params: { vaultAuthMethod: 'cert', roleName: 'team-b' }, jwt: null, secrets: creds }));
    assert.equal(Buffer.from(own.files[0]!.contents).toString(), 'team-pw');
    // The platform's role, asked for by name over the pod's certificate: Vault sees the pod's, not the operator's.
    const err = await h.client.mountError(h.request({ objects: STEAL, params: { vaultAuthMethod: 'cert', roleName: 'platform' }, jwt: null, secrets: creds }));
    assert.match(err.details, /^AUTH_FAILED: Vault login with cert role "platform" .*\(400\): failed to match all constraints for this login certificate$/);
    errors.push(err.details);
  });

  it('lets the mount log in there once the operator allows it (the attack the default stops is real)', async () => {
    await h.stopProvider();
    await startProvider({ authMounts: ['cert'] });
    try {
      const res = await h.client.mount(h.request({ objects: STEAL, params: { vaultAuthMountPath: 'cert' } }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), PLATFORM_SECRET);
    } finally {
      await h.stopProvider();
      await startProvider();
    }
  });

  it('has put no secret, token or JWT into a log line or error', () => {
    assertNoLeaks('log line', h.logs, [PLATFORM_SECRET]);
    assertNoLeaks('error message', errors, [PLATFORM_SECRET]);
  });
});
