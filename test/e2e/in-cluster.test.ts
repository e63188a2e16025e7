/**
 * Inside a cluster: no token from the driver, so the provider asks the TokenRequest API (a fake Kubernetes API
 * server speaking the REST shapes) for a pod-bound token, which Vault accepts; the HMAC key comes from a
 * Kubernetes Secret, created when missing and read once.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';
import { kubeConfigFromUrl } from '../../src/kubernetes/cluster.js';
import { KubeTokenRequester } from '../../src/kubernetes/token-requester.js';
import { KubeSecretHmacKeySource } from '../../src/kubernetes/hmac-secret.js';

const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];
const HMAC_SECRET = 'vault-csi-provider-hmac-key';

/** A harness whose Vault holds secret/app, beside a fake Kubernetes API server started with `kubeOptions`. */
async function harnessAndKube(kubeOptions?: Parameters<typeof FakeKubeApi.start>[0]): Promise<{ h: Harness; kube: FakeKubeApi }> {
  const h = await startHarness();
  h.vault.putKv('secret', 'app', { password: 'cluster-pw' });
  return { h, kube: await FakeKubeApi.start(kubeOptions) };
}

/** The HMAC key from the Secret csi/vault-csi-provider-hmac-key of the API server at `url`. */
function hmacKey(url: string, token: string): KubeSecretHmacKeySource {
  return new KubeSecretHmacKeySource(kubeConfigFromUrl(url, token), 'csi', HMAC_SECRET);
}

/** The in-cluster parts: TokenRequest and the HMAC Secret, both from `kube`. */
function inCluster(kube: FakeKubeApi): { tokenRequester: KubeTokenRequester; hmacKey: KubeSecretHmacKeySource } {
  return { tokenRequester: new KubeTokenRequester(kubeConfigFromUrl(kube.url, kube.token)), hmacKey: hmacKey(kube.url, kube.token) };
}

describe('e2e: in a cluster (TokenRequest and the HMAC Secret)', function () {
  this.timeout(30_000);
  let h: Harness;
  let kube: FakeKubeApi;

  before(async () => {
    ({ h, kube } = await harnessAndKube({ signToken: (claims) => h.issuer.signClaims(claims) }));
    await h.startProvider({ tokenRequestFallback: true }, inCluster(kube));
  });

  after(async () => {
    await h.close();
    await kube.close();
  });

  it('requests a pod-bound token for the configured audience when the driver sent none', async () => {
    const res = await h.client.mount(h.request({ jwt: null, objects: OBJECTS }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'cluster-pw');
    assert.equal(kube.tokenRequests.length, 1);
    const spec = kube.tokenRequests[0]!;
    assert.deepEqual(spec.audiences, ['vault']);
    assert.equal(spec.expirationSeconds, 900);
    assert.equal(spec.boundObjectRef?.kind, 'Pod');
    assert.equal(spec.boundObjectRef?.uid, POD.uid);
  });

  it('creates the HMAC Secret once and reads it no more after that', async () => {
    for (let i = 0; i < 3; i++) await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(kube.requestsOf('secretCreate').length, 1);
    assert.ok(kube.requestsOf('secretGet').length <= 1);
    assert.ok(kube.getSecret('csi', HMAC_SECRET));
  });

  it('without --token-request-fallback (the default) requests no token: TOKEN_UNAVAILABLE naming the CSIDriver\'s tokenRequests', async () => {
    await h.stopProvider();
    await h.startProvider({}, inCluster(kube));
    const before = kube.tokenRequests.length;
    const logins = h.vault.requests.filter((r) => r.route.startsWith('auth/kubernetes/login')).length;
    try {
      const err = await h.client.mount(h.request({ jwt: null, objects: OBJECTS })).then(
        () => assert.fail('mounted without a token'),
        (e: unknown) => e as { code: number; details: string },
      );
      assert.equal(err.code, status.UNAUTHENTICATED);
      assert.match(err.details, /^TOKEN_UNAVAILABLE: the mount request carries no ServiceAccount token for audience "vault": add \{audience: "vault"\} to spec\.tokenRequests of the CSIDriver secrets-store\.csi\.k8s\.io/);
      assert.match(err.details, /--token-request-fallback/);
      assert.equal(kube.tokenRequests.length, before, 'no TokenRequest');
      assert.equal(h.vault.requests.filter((r) => r.route.startsWith('auth/kubernetes/login')).length, logins, 'no login');
    } finally {
      await h.stopProvider();
      await h.startProvider({ tokenRequestFallback: true }, inCluster(kube));
    }
  });

  it('keeps object versions stable across a restart that reads the same Secret', async () => {
    const before = await h.client.mount(h.request({ objects: OBJECTS }));
    await h.stopProvider();
    await h.startProvider({}, { hmacKey: hmacKey(kube.url, kube.token) });
    const after = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(after.object_version[0]!.version, before.object_version[0]!.version);
  });
});

describe('e2e: an HMAC key the provider cannot get (RBAC, API server down)', function () {
  this.timeout(30_000);
  let h: Harness;
  let kube: FakeKubeApi;

  before(async () => {
    ({ h, kube } = await harnessAndKube());
    await h.startProvider({}, { hmacKey: hmacKey(kube.url, kube.token) });
  });

  after(async () => {
    await h.close();
    await kube.close();
  });

  it('fails the mount with KUBERNETES_API_ERROR (FAILED_PRECONDITION, never INTERNAL) saying what to grant, and succeeds on the next mount once RBAC allows it', async () => {
    kube.putSecret('csi', HMAC_SECRET, { key: Buffer.alloc(32, 8) });
    kube.failNext('secretGet', { status: 403, message: 'secrets "vault-csi-provider-hmac-key" is forbidden: User "system:serviceaccount:csi:vault-csi-provider" cannot get resource "secrets"' }, 2);
    for (let i = 0; i < 2; i++) {
      const err = await h.client.mountError(h.request({ objects: OBJECTS }));
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.match(err.details, /^KUBERNETES_API_ERROR: cannot read the HMAC key Kubernetes Secret csi\/vault-csi-provider-hmac-key: the Kubernetes API answered 403 Forbidden/);
      assert.match(err.details, /the provider's ServiceAccount needs get and create on secrets in csi \(get on "vault-csi-provider-hmac-key"/);
    }
    // The failure was not kept: the next mount asks again, and gets the key.
    const res = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'cluster-pw');
    assert.equal(kube.requestsOf('secretGet').length, 3);
    assert.equal(h.logLinesWith('internal error').length, 0);
    const metrics = await h.provider.metrics.registry.metrics();
    assert.match(metrics, /vault_csi_provider_mounts_total\{result="KUBERNETES_API_ERROR",grpc_code="FAILED_PRECONDITION"\} 2/);
  });

  it('fails with KUBERNETES_API_ERROR while the API server is down, and serves once it is back', async () => {
    // A provider that has not loaded its key yet, and an API server that is gone.
    await h.stopProvider();
    const url = kube.url;
    await kube.close();
    await h.startProvider({}, { hmacKey: hmacKey(url, kube.token) });
    const err = await h.client.mountError(h.request({ objects: OBJECTS }));
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.details, /^KUBERNETES_API_ERROR: .*ECONNREFUSED.*cannot be reached or did not answer/);
    kube = await FakeKubeApi.start({ port: Number(new URL(url).port) });
    kube.putSecret('csi', HMAC_SECRET, { key: Buffer.alloc(32, 8) });
    const res = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'cluster-pw');
  });

  it('answers within the mount\'s time budget while the API server is slow, and serves once the key arrives', async () => {
    await h.stopProvider();
    kube.putSecret('csi', HMAC_SECRET, { key: Buffer.alloc(32, 8) });
    kube.delayMs = 1_500;
    await h.startProvider({}, { hmacKey: hmacKey(kube.url, kube.token) });
    const deadline = Date.now() + 600;
    const err = await h.client.mountError(h.request({ objects: OBJECTS }), 600);
    assert.ok(Date.now() < deadline, 'answered before the deadline');
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.details, /^KUBERNETES_API_ERROR: the HMAC key \(Kubernetes Secret csi\/vault-csi-provider-hmac-key\) was not loaded within the mount's time budget/);
    // The load went on (it is shared by every mount); the next mount gets the key.
    const res = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'cluster-pw');
    kube.delayMs = 0;
  });
});
