/**
 * Vault's Kubernetes auth against the real API server: Vault reviews each login's JWT with a TokenReview through
 * the real API (a reviewer ServiceAccount bound to system:auth-delegator), and the JWTs are the ones the real
 * TokenRequest API mints for real Pod objects, bound to them. Bound names, namespaces and audiences are checked by
 * Vault and the API server, not by us; the mounts go through the driver's own client and writer.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealDriverClient, type DriverAnswer } from '../harness/driver-client.js';
import { KubeControlPlane } from '../harness/kube.js';
import { bindReviewer, configureKubernetesAuth, configureWebRole, createPod as createPodIn, createReviewer, podAttributes, podToken as podTokenOf, REVIEWER_BINDING, WEB_OBJECTS, type PodRef } from '../harness/kube-vault.js';
import { RealSuiteProvider } from '../harness/provider.js';
import { RealVault } from '../harness/vault-dev.js';
import { readTarget } from '../harness/world.js';


describe('real control plane: Vault Kubernetes auth reviews real tokens through the real API server', function () {
  let kube: KubeControlPlane;
  let vault: RealVault;
  let provider: RealSuiteProvider;
  let driver: RealDriverClient;
  let dir: string;
  let targets = 0;

  const createPod = (namespace: string, name: string, serviceAccountName: string): Promise<PodRef> => createPodIn(kube, namespace, name, serviceAccountName);
  const podToken = async (pod: PodRef, audience = 'vault'): Promise<string> => (await podTokenOf(kube, pod, audience)).token;

  async function mount(pod: PodRef, jwt: string, audience = 'vault'): Promise<DriverAnswer & { files: Map<string, { text: string }> }> {
    const target = join(dir, `target-${++targets}`);
    await mkdir(target);
    const answer = await driver.mount({
      attributes: {
        roleName: 'web',
        objects: WEB_OBJECTS,
        secretProviderClass: 'web-secrets',
        ...podAttributes(pod),
        'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ [audience]: { token: jwt, expirationTimestamp: new Date(Date.now() + 3600_000).toISOString() } }),
      },
      secrets: null,
      targetPath: target,
    });
    return { ...answer, files: await readTarget(target) };
  }

  async function login(jwt: string): Promise<{ status: number; body: unknown }> {
    return vault.api('POST', 'auth/kubernetes/login', { role: 'web', jwt }, null);
  }

  let web: PodRef;
  let other: PodRef;

  before(async function () {
    this.timeout(600_000);
    dir = await mkdtemp(join(tmpdir(), 'vcp-real-kube-vault-'));
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
    await kube.must('POST', '/api/v1/namespaces', { metadata: { name: 'prod' } });
    for (const sa of ['web', 'other']) await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts', { metadata: { name: sa } });
    web = await createPod('prod', 'web-0', 'web');
    other = await createPod('prod', 'other-0', 'other');
    const reviewerJwt = await createReviewer(kube);

    vault = await RealVault.start();
    await vault.must('POST', 'secret/data/web', { data: { password: 'from-real-vault' } });
    await configureKubernetesAuth(vault, kube, reviewerJwt);
    await configureWebRole(vault);
    provider = await RealSuiteProvider.start(vault.address);
    driver = new RealDriverClient(provider.socketDir);
  });

  after(async () => {
    await driver?.close();
    await provider?.stop();
    await vault?.stop();
    await kube?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('Vault logs in a pod-bound token of the bound ServiceAccount, reviewed by the real API server', async () => {
    const answer = await login(await podToken(web));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const auth = (answer.body as { auth: { metadata: Record<string, string>; policies: string[] } }).auth;
    assert.equal(auth.metadata['service_account_name'], 'web');
    assert.equal(auth.metadata['service_account_namespace'], 'prod');
    assert.ok(auth.policies.includes('web'));
  });

  it('mounts through the driver client with the token the real TokenRequest API minted for the pod', async () => {
    const m = await mount(web, await podToken(web));
    assert.equal(m.error, '', m.error);
    assert.equal(m.files.get('password')?.text, 'from-real-vault');
  });

  it('Vault refuses another ServiceAccount of the same namespace, and the mount names the Vault role', async () => {
    const direct = await login(await podToken(other));
    assert.equal(direct.status, 403, JSON.stringify(direct.body));
    const m = await mount(other, await podToken(other));
    assert.notEqual(m.error, '');
    assert.deepEqual([...m.files.keys()], []);
    assert.match(`${m.errorCode} ${m.error} ${m.grpcMessage}`, /web|denied|403/i);
  });

  it('Vault refuses a token for the API server audience when the role asks for "vault"', async () => {
    const apiAudience = await podToken(web, kube.issuer);
    const direct = await login(apiAudience);
    assert.notEqual(direct.status, 200, JSON.stringify(direct.body));
  });

  it('a token of a deleted Pod stops working once the API server\'s authentication cache lets go of it', async () => {
    const doomed = await createPod('prod', 'web-doomed', 'web');
    const jwt = await podToken(doomed);
    assert.equal((await login(jwt)).status, 200);
    await kube.must('DELETE', '/api/v1/namespaces/prod/pods/web-doomed?gracePeriodSeconds=0');
    // kube-apiserver caches a successful token authentication for 10 s (TokenReview goes through the same
    // authenticator), so the bound-object check only bites after that.
    const deadline = Date.now() + 20_000;
    let after = await login(jwt);
    while (after.status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      after = await login(jwt);
    }
    assert.equal(after.status, 403, JSON.stringify(after.body));
  });

  it('a token bound to a Pod recreated under the same name (new UID) is refused', async () => {
    const first = await createPod('prod', 'web-recreated', 'web');
    const jwt = await podToken(first);
    await kube.must('DELETE', '/api/v1/namespaces/prod/pods/web-recreated?gracePeriodSeconds=0');
    const second = await createPod('prod', 'web-recreated', 'web');
    assert.notEqual(second.uid, first.uid);
    assert.equal((await login(jwt)).status, 403);
    assert.equal((await login(await podToken(second))).status, 200);
  });

  it('without system:auth-delegator for its reviewer, Vault cannot review and every login fails', async () => {
    await kube.must('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${REVIEWER_BINDING}`);
    try {
      const jwt = await podToken(web);
      // RBAC changes reach the authoriser's cache within moments.
      let answer = await login(jwt);
      for (let i = 0; i < 50 && answer.status === 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        answer = await login(jwt);
      }
      assert.notEqual(answer.status, 200, JSON.stringify(answer.body));
    } finally {
      await bindReviewer(kube);
    }
  });
});
