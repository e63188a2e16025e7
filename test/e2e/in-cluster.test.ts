/**
 * Inside a cluster: no token from the driver, so the provider asks the TokenRequest API (a fake Kubernetes API
 * server speaking the REST shapes) for a pod-bound token, which Vault accepts; the HMAC key comes from a
 * Kubernetes Secret, created when missing and read once.
 */
import assert from 'node:assert/strict';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';
import { kubeConfigFromUrl } from '../../src/kubernetes/cluster.js';
import { KubeTokenRequester } from '../../src/kubernetes/token-requester.js';
import { KubeSecretHmacKeySource } from '../../src/kubernetes/hmac-secret.js';

const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];

describe('e2e: in a cluster (TokenRequest and the HMAC Secret)', function () {
  this.timeout(30_000);
  let h: Harness;
  let kube: FakeKubeApi;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'cluster-pw' });
    kube = await FakeKubeApi.start({ signToken: (claims) => h.issuer.signClaims(claims) });
    const kubeConfig = kubeConfigFromUrl(kube.url, kube.token);
    await h.startProvider(
      {},
      {
        tokenRequester: new KubeTokenRequester(kubeConfig),
        hmacKey: new KubeSecretHmacKeySource(kubeConfig, 'csi', 'vault-csi-provider-hmac-key'),
      },
    );
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
    assert.ok(kube.getSecret('csi', 'vault-csi-provider-hmac-key'));
  });

  it('keeps object versions stable across a restart that reads the same Secret', async () => {
    const before = await h.client.mount(h.request({ objects: OBJECTS }));
    await h.stopProvider();
    const kubeConfig = kubeConfigFromUrl(kube.url, kube.token);
    await h.startProvider({}, { hmacKey: new KubeSecretHmacKeySource(kubeConfig, 'csi', 'vault-csi-provider-hmac-key') });
    const after = await h.client.mount(h.request({ objects: OBJECTS }));
    assert.equal(after.object_version[0]!.version, before.object_version[0]!.version);
  });
});
