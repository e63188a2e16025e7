/**
 * The fake Kubernetes API reads a Secret created the way client-go's clientsets send one (protobuf, as the
 * reference provider creates its HMAC Secret in the benchmark), stores what it says, and answers a protobuf body it
 * cannot read with an error instead of an empty object.
 */
import assert from 'node:assert/strict';
import { request } from 'undici';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { encodeSecret, KUBE_PROTOBUF } from '../helpers/kube-protobuf.js';

describe('fake Kubernetes API: protobuf bodies', () => {
  let kube: FakeKubeApi;
  beforeEach(async () => {
    kube = await FakeKubeApi.start();
  });
  afterEach(async () => {
    await kube.close();
  });

  const post = async (path: string, body: Buffer) => {
    const res = await request(`${kube.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${kube.token}`, 'content-type': KUBE_PROTOBUF, accept: `${KUBE_PROTOBUF}, application/json` },
      body,
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };

  it('creates a Secret from a protobuf body: name, labels, data, immutable, an empty type as Opaque', async () => {
    const key = Buffer.alloc(32, 7);
    const body = encodeSecret({ name: 'vault-csi-provider-hmac-key', namespace: 'csi', labels: { a: 'b' }, data: { key }, type: '', immutable: true });
    const answer = await post('/api/v1/namespaces/csi/secrets', body);
    assert.equal(answer.status, 201);
    const stored = kube.getSecret('csi', 'vault-csi-provider-hmac-key');
    assert.ok(stored);
    assert.deepEqual(stored.metadata.labels, { a: 'b' });
    assert.equal(stored.data?.['key'], key.toString('base64'));
    assert.equal(stored.immutable, true);
    assert.equal(stored.type, 'Opaque');
    assert.deepEqual(
      kube.requests.map((r) => [r.operation, r.status, r.contentType]),
      [['secretCreate', 201, KUBE_PROTOBUF]],
    );
    // A second create of the same name loses, as against the real API server.
    assert.equal((await post('/api/v1/namespaces/csi/secrets', body)).status, 409);
  });

  it('refuses a protobuf body that is not a Secret create, and a body that is not protobuf', async () => {
    const token = await post('/api/v1/namespaces/csi/serviceaccounts/sa/token', encodeSecret({ name: 'x', namespace: 'csi' }));
    assert.equal(token.status, 415);
    const broken = await post('/api/v1/namespaces/csi/secrets', Buffer.from('{"kind":"Secret"}'));
    assert.equal(broken.status, 400);
    assert.match(String(broken.body['message']), /protobuf/);
    assert.equal(kube.getSecret('csi', 'x'), undefined);
  });
});
