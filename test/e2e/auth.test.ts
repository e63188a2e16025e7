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
    assert.match(err.details, /FOREIGN_TOKEN.*not the pod's ServiceAccount staging\/api/);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
    // Its own token still works.
    const ok = await h.client.mount(h.request({ pod, objects: OBJECTS, params: { roleName: 'shared' } }));
    assert.equal(Buffer.from(ok.files[0]!.contents).toString(), 'auth-pw');
  });

  it("takes the attributes' token, not the one in secrets (the pod author's nodePublishSecretRef)", async () => {
    h.vault.clearRequests();
    // prod/api's pod puts a validly signed token of prod/web into its nodePublishSecretRef; the driver's token for
    // prod/api is in the attributes. Only the driver's may log in.
    const pod = { ...POD, serviceAccountName: 'api', uid: 'uid-api-1' };
    const victim = { ...POD, serviceAccountName: 'web' };
    const req = h.request({ pod, objects: OBJECTS, params: { roleName: 'shared' } });
    req.secrets = JSON.stringify({ 'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ vault: { token: h.jwtFor(victim), expirationTimestamp: '' } }) });
    const res = await h.client.mount(req);
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'auth-pw');
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1);
    // The token in secrets is used only when the attributes carry none, and then it must be the pod's own too.
    const fromSecrets = h.request({ pod, objects: OBJECTS, params: { roleName: 'shared' }, jwt: null });
    fromSecrets.secrets = req.secrets;
    const err = await h.client.mountError(fromSecrets);
    assert.match(err.details, /FOREIGN_TOKEN.*not the pod's ServiceAccount prod\/api/);
  });

  it('refuses, before any login, a JWT that is no ServiceAccount token and a token that is no JWT', async () => {
    const pod = { ...POD, serviceAccountName: 'oidc', uid: 'uid-oidc' };
    // A JWT auth role that would accept it: the refusal is the provider's, not Vault's.
    h.vault.enableJwtAuth('jwt-any', { publicKeysPem: [h.issuer.publicKeyPem] });
    h.vault.addJwtRole('jwt-any', 'anyone', { boundAudiences: ['vault'], userClaim: 'sub', policies: ['web'] });
    const now = Math.floor(Date.now() / 1000);
    const oidc = h.issuer.signClaims({ sub: 'alice@example.com', aud: ['vault'], iss: 'https://idp.example.com', iat: now, exp: now + 600 });
    h.vault.clearRequests();
    for (const jwt of [oidc, 'an-opaque-token-of-no-shape']) {
      const err = await h.client.mountError(h.request({ pod, objects: OBJECTS, jwt, params: { roleName: 'anyone', vaultAuthMountPath: 'jwt-any' } }));
      assert.equal(err.code, status.PERMISSION_DENIED);
      assert.match(err.details, /^FOREIGN_TOKEN: /);
    }
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
  });

  it('refuses a token bound to another pod even while a token for the identity is cached', async () => {
    await h.client.mount(h.request({ objects: OBJECTS }));
    h.vault.clearRequests();
    const err = await h.client.mountError(h.request({ objects: OBJECTS, jwt: h.jwtFor({ ...POD, uid: 'uid-of-another-pod' }) }));
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details, /FOREIGN_TOKEN.*bound to another pod/);
    assert.equal(h.vault.countRequests(), 0, 'nothing reached Vault: the cached token was not used either');
  });

  it("accepts an unbound token of the pod's own ServiceAccount (the secrets-store-sync-controller's)", async () => {
    const controller = { ...POD, name: 'secrets-store-sync-controller-0', uid: 'uid-sync-controller' };
    const res = await h.client.mount(h.request({ pod: controller, objects: OBJECTS, jwt: h.jwtFor(controller, 'vault', { unbound: true }) }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'auth-pw');
  });

  it('lets a mount whose caller gave up leave a shared login without failing the others', async () => {
    h.vault.addKubernetesRole('kubernetes', 'slow-login', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] });
    h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', delayMs: 600, times: 1 });
    h.vault.clearRequests();
    const params = { roleName: 'slow-login' };
    const impatient = h.client.mountError(h.request({ objects: OBJECTS, params }), 150);
    // A second volume of the same pod: the same identity, so the same login.
    const patient = h.client.mount(h.request({ objects: OBJECTS, params }));
    const err = await impatient;
    // Its own answer before its deadline, naming the login it waited for; the shared login goes on for the other.
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /^VAULT_UNAVAILABLE: logging in for object "p": no successful answer from Vault at http:\/\/127\.0\.0\.1:\d+ to the login \(role "slow-login", auth mount "kubernetes"\) within the mount's time budget/);
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

  it("never uses one pod's token for another's mount where the role can tell pods apart (JWT auth, bound_claims on the pod)", async () => {
    h.vault.enableJwtAuth('jwt-pods', { publicKeysPem: [h.issuer.publicKeyPem] });
    const first = { ...POD, name: 'web-a', uid: 'uid-jwt-pod-a' };
    const second = { ...POD, name: 'web-b', uid: 'uid-jwt-pod-b' };
    // Vault authorises exactly one pod: the role binds the JWT's kubernetes.io.pod.uid claim.
    h.vault.addJwtRole('jwt-pods', 'only-a', {
      boundAudiences: ['vault'], userClaim: 'sub', boundClaims: { '/kubernetes.io/pod/uid': first.uid }, policies: ['web'],
    });
    const params = { vaultAuthMountPath: 'jwt-pods', roleName: 'only-a' };
    h.vault.clearRequests();
    h.vault.injectFault({ pathPrefix: 'auth/jwt-pods/login', delayMs: 200, times: 1 });
    // Concurrently, before the provider knows what kind of auth mount this is: the second pod may join the first
    // pod's login, but must not take its token.
    const [a, b] = await Promise.all([
      h.client.mount(h.request({ pod: first, objects: OBJECTS, params })),
      h.client.mountError(h.request({ pod: second, objects: OBJECTS, params })),
    ]);
    assert.equal(Buffer.from(a.files[0]!.contents).toString(), 'auth-pw');
    assert.equal(b.code, status.PERMISSION_DENIED);
    assert.match(b.details, /^AUTH_FAILED: .*does not match any associated bound claim values/);
    // And again, now that the kind is known and the first pod's token is cached.
    const again = await h.client.mountError(h.request({ pod: second, objects: OBJECTS, params }));
    assert.match(again.details, /^AUTH_FAILED: /);
    assert.equal(h.vault.countRequests({ kind: 'read', status: 200 }), 1, 'only the first pod read the secret');
    // The first pod's own token is reused for its own mounts.
    h.vault.clearRequests();
    await h.client.mount(h.request({ pod: first, objects: OBJECTS, params }));
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
  });

  it('keys JWT-auth and Kubernetes-auth tokens by pod: one login per pod, reused by its republishes', async () => {
    h.vault.enableJwtAuth('jwt-sa', { publicKeysPem: [h.issuer.publicKeyPem] });
    h.vault.addJwtRole('jwt-sa', 'web', { boundAudiences: ['vault'], userClaim: 'sub', boundSubject: 'system:serviceaccount:prod:web', policies: ['web'] });
    h.vault.addKubernetesRole('kubernetes', 'per-sa', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] });
    const pods = [1, 2, 3].map((n) => ({ ...POD, name: `web-key-${n}`, uid: `uid-key-${n}` }));
    h.vault.clearRequests();
    for (const pod of [...pods, ...pods]) await h.client.mount(h.request({ pod, objects: OBJECTS, params: { vaultAuthMountPath: 'jwt-sa' } }));
    assert.equal(h.vault.countRequests({ kind: 'login', routePrefix: 'auth/jwt-sa/login' }), 3, 'one login per pod, reused by its republish');
    for (const pod of [...pods, ...pods]) await h.client.mount(h.request({ pod, objects: OBJECTS, params: { roleName: 'per-sa' } }));
    assert.equal(h.vault.countRequests({ kind: 'login', routePrefix: 'auth/kubernetes/login' }), 3, 'one login per pod');
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
    // The operator allows the address (docs/security.md): only then does the provider try it.
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
