/**
 * Our provider as deploy/base runs it: in-cluster, as the ServiceAccount those manifests create, with the RBAC they
 * grant, against the real API server. The HMAC Secret is created on the first mount and read after, through the
 * real API; versions survive a restart; without a driver token the default fails naming the CSIDriver's tokenRequests,
 * and the TokenRequest fallback (its overlay and flag) mints pod-bound tokens from the real API for real Pods; a
 * missing RBAC rule is reported, not crashed on. Vault reviews every login through the same API server.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RealDriverClient } from '../harness/driver-client.js';
import { startBaseProvider, type InClusterProvider } from '../harness/in-cluster-provider.js';
import { KubeControlPlane } from '../harness/kube.js';
import { mountWebSecrets, startProdWorkloads, type PodRef } from '../harness/kube-vault.js';
import { RealVault } from '../harness/vault-dev.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const HMAC_SECRET = 'vault-csi-provider-hmac-key';
interface HmacSecret {
  readonly immutable?: boolean;
  readonly type: string;
  readonly metadata: { readonly resourceVersion: string; readonly labels?: Record<string, string> };
  readonly data?: Record<string, string>;
}

describe('real control plane: the provider in-cluster as the ServiceAccount of deploy/base', function () {
  let kube: KubeControlPlane;
  let vault: RealVault;
  let provider: InClusterProvider;
  let driver: RealDriverClient;
  let dir: string;
  let web: PodRef;
  let worker: PodRef;

  /** A mount as the driver sends it; `token: false` for a CSIDriver without tokenRequests (the fallback's case). */
  const mount = (pod: PodRef, token: boolean, roleName = 'web') => mountWebSecrets(driver, kube, dir, pod, { token, roleName });

  async function startProvider(flags: readonly string[] = []): Promise<void> {
    ({ provider, driver } = await startBaseProvider(kube, vault.address, { flags }));
  }

  async function stopProvider(): Promise<void> {
    await driver?.close();
    await provider?.stop();
  }

  before(async function () {
    this.timeout(600_000);
    dir = await mkdtemp(join(tmpdir(), 'vcp-real-incluster-test-'));
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'], auditTokenRequests: true });
    await kube.kubectl(['apply', '--server-side', '-k', join(REPO, 'deploy/base')]);
    ({ web, worker, vault } = await startProdWorkloads(kube, 'in-cluster'));
    await startProvider();
  });

  after(async () => {
    await stopProvider();
    await vault?.stop();
    await kube?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  let firstVersions: Readonly<Record<string, string>> | null = null;
  let firstSecret: HmacSecret;

  it('creates the HMAC Secret on the first mount, immutable, labelled, 32 random bytes, through the real API', async () => {
    assert.equal((await kube.api('GET', `/api/v1/namespaces/csi/secrets/${HMAC_SECRET}`)).status, 404);
    const m = await mount(web, true);
    assert.equal(m.error, '', `${m.error}\n${provider.log.slice(-2000)}`);
    assert.equal(m.files.get('password')?.text, 'in-cluster');
    firstVersions = m.objectVersions;
    firstSecret = (await kube.must('GET', `/api/v1/namespaces/csi/secrets/${HMAC_SECRET}`)) as HmacSecret;
    assert.equal(firstSecret.immutable, true);
    assert.equal(firstSecret.type, 'Opaque');
    assert.equal(firstSecret.metadata.labels?.['app.kubernetes.io/managed-by'], 'vault-csi-provider');
    assert.equal(Buffer.from(firstSecret.data?.['key'] ?? '', 'base64').length, 32);
  });

  it('keeps object versions across a restart: the second process reads the same Secret and creates nothing', async () => {
    await stopProvider();
    await startProvider();
    const m = await mount(web, true);
    assert.equal(m.error, '');
    assert.deepEqual(m.objectVersions, firstVersions);
    const now = (await kube.must('GET', `/api/v1/namespaces/csi/secrets/${HMAC_SECRET}`)) as HmacSecret;
    assert.equal(now.metadata.resourceVersion, firstSecret.metadata.resourceVersion);
  });

  it('as deploy/base runs it (no fallback), a mount without a driver token fails naming the CSIDriver\'s tokenRequests, and no token is requested', async () => {
    const before = (await kube.auditEvents()).length;
    const m = await mount(worker, false, 'worker');
    assert.equal(m.grpcCode, 'Unauthenticated', m.error);
    assert.match(m.error, /TOKEN_UNAVAILABLE: the mount request carries no ServiceAccount token for audience "vault": add \{audience: "vault"\} to spec\.tokenRequests of the CSIDriver secrets-store\.csi\.k8s\.io/);
    const requests = (await kube.auditEvents()).slice(before).filter((e) => e.objectRef?.subresource === 'token');
    assert.deepEqual(requests, []);
  });

  it('with the token-request-fallback overlay and its flag, requests one from the real TokenRequest API: pod-bound, audience vault, 15 minutes', async () => {
    await kube.kubectl(['apply', '--server-side', '-k', join(REPO, 'deploy/overlays/token-request-fallback')]);
    await stopProvider();
    await startProvider(['--token-request-fallback']);
    const before = (await kube.auditEvents()).length;
    const m = await mount(worker, false, 'worker');
    assert.equal(m.error, '', m.error);
    assert.equal(m.files.get('password')?.text, 'in-cluster');
    const requests = (await kube.auditEvents())
      .slice(before)
      .filter((e) => e.objectRef?.subresource === 'token' && e.user.username === 'system:serviceaccount:csi:vault-csi-provider');
    assert.equal(requests.length, 1, JSON.stringify(requests));
    const [request] = requests;
    assert.equal(request?.responseStatus?.code, 201);
    assert.equal(request?.objectRef?.namespace, 'prod');
    assert.equal(request?.objectRef?.name, 'worker');
    const spec = (request?.requestObject as { spec: { audiences: string[]; expirationSeconds: number; boundObjectRef: Record<string, string> } }).spec;
    assert.deepEqual(spec.audiences, ['vault']);
    assert.equal(spec.expirationSeconds, 900);
    assert.equal(spec.boundObjectRef['kind'], 'Pod');
    assert.equal(spec.boundObjectRef['name'], 'worker-0');
    assert.equal(spec.boundObjectRef['uid'], worker.uid);
  });

  it('the fallback for a pod that does not exist fails with the TokenRequest API answer, and the daemon serves on', async () => {
    await stopProvider();
    await startProvider(['--token-request-fallback']); // no Vault token cached for "worker"
    const ghost: PodRef = { name: 'ghost-0', namespace: 'prod', uid: '11111111-2222-3333-4444-555555555555', serviceAccountName: 'worker' };
    const m = await mount(ghost, false, 'worker');
    // The driver wraps a gRPC error from the provider as GRPCProviderError; our code leads the message.
    assert.equal(m.errorCode, 'GRPCProviderError', m.error);
    assert.equal(m.grpcCode, 'Unauthenticated');
    assert.match(m.error, /TOKEN_UNAVAILABLE: cannot request a ServiceAccount token for pod prod\/ghost-0 .*404 NotFound: pods "ghost-0" not found/);
    assert.equal((await mount(web, true)).error, '');
  });

  it('a missing RBAC rule (no get on the HMAC Secret) fails the mount with a clear code and message, not INTERNAL', async () => {
    await kube.must('DELETE', '/apis/rbac.authorization.k8s.io/v1/namespaces/csi/rolebindings/vault-csi-provider');
    try {
      await stopProvider();
      await startProvider();
      const m = await mount(web, true);
      assert.equal(m.errorCode, 'GRPCProviderError', m.error);
      assert.equal(m.grpcCode, 'FailedPrecondition', m.error);
      assert.match(m.error, /desc = KUBERNETES_API_ERROR: cannot read the HMAC key/);
      assert.match(m.error, /403 Forbidden/);
      assert.match(m.error, /needs get and create on secrets in csi/);
      assert.match(m.error, new RegExp(`csi/${HMAC_SECRET}`));
    } finally {
      await kube.kubectl(['apply', '--server-side', '-k', join(REPO, 'deploy/base')]);
    }
  });
});
