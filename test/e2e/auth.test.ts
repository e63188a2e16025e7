/**
 * Logins end to end: auth mounts and audiences, JWT auth, Vault namespaces, token reuse and its isolation,
 * the one re-login after a 403, and object versions across a provider restart.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startHarness, POD, WEB_POLICY, type Harness } from '../helpers/provider-harness.js';

const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];

describe('e2e: auth', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'auth-pw' });
    await h.startProvider();
  });

  after(async () => h.close());

  it('logs in once and reuses the token across mounts of the same identity', async () => {
    h.vault.clearRequests();
    for (let i = 0; i < 3; i++) await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1);
    assert.equal(h.vault.countRequests({ kind: 'read' }), 3);
  });

  it('never shares a token across ServiceAccounts, namespaces or roles', async () => {
    h.vault.addKubernetesRole('kubernetes', 'shared', {
      boundServiceAccountNames: ['web', 'api'],
      boundServiceAccountNamespaces: ['prod', 'staging'],
      audience: 'vault',
      policies: ['web'],
    });
    h.vault.clearRequests();
    const identities = [
      { ...POD, serviceAccountName: 'web', namespace: 'prod' },
      { ...POD, serviceAccountName: 'api', namespace: 'prod' },
      { ...POD, serviceAccountName: 'web', namespace: 'staging' },
    ];
    for (const pod of identities) {
      await h.client.mount(h.request({ pod, objects: OBJECTS, params: { roleName: 'shared' } }));
      await h.client.mount(h.request({ pod, objects: OBJECTS, params: { roleName: 'shared' } }));
    }
    assert.equal(h.vault.countRequests({ kind: 'login' }), 3, 'one login per identity, reused by its second mount');
  });

  it('logs in again once and retries when Vault refuses a cached token (403)', async () => {
    await h.client.mount(h.request({ objects: OBJECTS }));
    h.vault.revokeAllTokens();
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'auth-pw');
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1);
    assert.equal(h.vault.countRequests({ kind: 'read', status: 403 }), 1);
    assert.equal(h.vault.countRequests({ kind: 'read', status: 200 }), 1);
  });

  it('refuses a token of another ServiceAccount slipped in through the attributes, before any login', async () => {
    h.vault.clearRequests();
    // staging/api has no cached token yet. Its volumeAttributes carry a validly signed token of staging/web, which the
    // role "shared" would accept: without the claims check that login would be cached under staging/api.
    const pod = { ...POD, namespace: 'staging', serviceAccountName: 'api' };
    const other = { ...POD, namespace: 'staging', serviceAccountName: 'web' };
    const err = await h.client.mountError(h.request({ pod, objects: OBJECTS, jwt: h.jwtFor(other), params: { roleName: 'shared' } }));
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details, /AUTH_FAILED.*not the pod's ServiceAccount staging\/api/);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
    // Its own token still works.
    const ok = await h.client.mount(h.request({ pod, objects: OBJECTS, params: { roleName: 'shared' } }));
    assert.equal(Buffer.from(ok.files[0]!.contents).toString(), 'auth-pw');
  });

  it('lets a mount whose caller gave up leave a shared login without failing the others', async () => {
    h.vault.addKubernetesRole('kubernetes', 'slow-login', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] });
    h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', delayMs: 600, times: 1 });
    h.vault.clearRequests();
    const params = { roleName: 'slow-login' };
    const impatient = h.client.mountError(h.request({ objects: OBJECTS, params }), 150);
    const patient = h.client.mount(h.request({ objects: OBJECTS, params, pod: { ...POD, name: 'web-2', uid: 'uid-web-2' } }));
    const err = await impatient;
    assert.equal(err.code, status.DEADLINE_EXCEEDED);
    const res = await patient;
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'auth-pw');
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1, 'the two mounts shared one login');
  });

  it('uses a custom audience and auth mount', async () => {
    h.vault.enableKubernetesAuth('k8s-east', { publicKeysPem: [h.issuer.publicKeyPem] });
    h.vault.addKubernetesRole('k8s-east', 'web', {
      boundServiceAccountNames: ['web'],
      boundServiceAccountNamespaces: ['prod'],
      audience: 'east-vault',
      policies: ['web'],
    });
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: OBJECTS, audience: 'east-vault', params: { vaultKubernetesMountPath: 'k8s-east' } }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'auth-pw');
    assert.equal(h.vault.countRequests({ kind: 'login', routePrefix: 'auth/k8s-east/login' }), 1);
    // The token for the default audience alone does not do: the SecretProviderClass asked for east-vault.
    const req = h.request({ objects: OBJECTS, params: { vaultKubernetesMountPath: 'k8s-east', audience: 'other-aud', roleName: 'web' } });
    const err = await h.client.mountError(req);
    assert.equal(err.code, status.UNAUTHENTICATED);
    assert.match(err.details, /audience "other-aud"/);
  });

  it('logs in through JWT auth with vaultAuthMountPath', async () => {
    h.vault.enableJwtAuth('jwt', { publicKeysPem: [h.issuer.publicKeyPem] });
    h.vault.addJwtRole('jwt', 'web', { boundAudiences: ['vault'], userClaim: 'sub', boundSubject: 'system:serviceaccount:prod:web', policies: ['web'] });
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: OBJECTS, params: { vaultAuthMountPath: 'jwt' } }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'auth-pw');
    assert.equal(h.vault.countRequests({ kind: 'login', routePrefix: 'auth/jwt/login' }), 1);
    const denied = await h.client.mountError(
      h.request({ pod: { ...POD, serviceAccountName: 'other', namespace: 'prod' }, objects: OBJECTS, params: { vaultAuthMountPath: 'jwt' } }),
    );
    assert.equal(denied.code, status.PERMISSION_DENIED);
  });

  it('reads from a Vault namespace given by vaultNamespace, and cannot read it without', async () => {
    h.vault.createNamespace('team-a');
    h.vault.enableKv('secret', 2, 'team-a');
    h.vault.putKv('secret', 'app', { password: 'team-a-pw' }, 'team-a');
    h.vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [h.issuer.publicKeyPem] }, 'team-a');
    h.vault.putPolicy('web', WEB_POLICY, 'team-a');
    h.vault.addKubernetesRole('kubernetes', 'web', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] }, 'team-a');
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: OBJECTS, params: { vaultNamespace: 'team-a' } }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'team-a-pw');
    assert.equal(h.vault.countRequests({ kind: 'login', namespace: 'team-a' }), 1);
    assert.equal(h.vault.countRequests({ kind: 'read', namespace: 'team-a' }), 1);
    // Without the namespace the root namespace's secret is read: a different value, a different token.
    const root = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(Buffer.from(root.files[0]!.contents).toString(), 'auth-pw');
  });

  it('takes the Vault namespace from the provider default when the SecretProviderClass sets none', async () => {
    await h.stopProvider();
    await h.startProvider({ defaults: { vaultAddress: h.vault.address, vaultMount: 'kubernetes', vaultNamespace: 'team-a', tls: {} } });
    const res = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'team-a-pw');
    await h.stopProvider();
    await h.startProvider();
  });

  it('gives the same object versions after a restart with the same key', async () => {
    const req = h.request({ objects: OBJECTS });
    const before = await h.client.mount(req);
    await h.stopProvider();
    await h.startProvider();
    const after = await h.client.mount(req);
    assert.equal(after.object_version[0]!.version, before.object_version[0]!.version);
  });

  it('reports an unreachable Vault as UNAVAILABLE naming the address', async () => {
    // The operator allows the address (SECURITY.md): only then does the provider try it.
    await h.stopProvider();
    await h.startProvider({ trust: { vaultAddresses: ['http://127.0.0.1:1'], tlsDirectories: [], allowSkipTlsVerify: false } });
    const err = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultAddress: 'http://127.0.0.1:1' } }));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /127\.0\.0\.1:1/);
  });

  it('retries a 5xx and succeeds when Vault recovers', async () => {
    h.vault.injectFault({ pathPrefix: 'secret/data/app', status: 502, times: 1 });
    const res = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'auth-pw');
  });
});
