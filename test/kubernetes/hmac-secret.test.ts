import assert from 'node:assert/strict';
import { kubeConfigFromUrl } from '../../src/kubernetes/cluster.js';
import {
  HMAC_KEY_LENGTH,
  KubeSecretHmacKeySource,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from '../../src/kubernetes/hmac-secret.js';
import { rejection } from '../helpers/rejection.js';
import { ManualClock } from '../helpers/clocks.js';
import { waitFor } from '../helpers/wait-for.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';

const NAMESPACE = 'csi';
const NAME = 'vault-csi-provider-hmac-key';
const SECRET_PATH = `/api/v1/namespaces/${NAMESPACE}/secrets/${NAME}`;

describe('KubeSecretHmacKeySource', () => {
  let api: FakeKubeApi;

  beforeEach(async () => {
    api = await FakeKubeApi.start();
  });

  afterEach(async () => {
    await api.close();
  });

  function source(options: { timeoutMs?: number; randomBytes?: (n: number) => Buffer; timer?: (ms: number, fn: () => void) => () => void } = {}): KubeSecretHmacKeySource {
    return new KubeSecretHmacKeySource(kubeConfigFromUrl(api.url, api.token), NAMESPACE, NAME, options);
  }

  it('describes where the key lives', () => {
    assert.equal(source().description, `Kubernetes Secret ${NAMESPACE}/${NAME}`);
  });

  it('creates the Secret when missing: 32 random bytes under "key", immutable, labelled', async () => {
    const key = await source().getKey();

    assert.equal(key.length, HMAC_KEY_LENGTH);
    assert.deepEqual(
      api.requests.map((r) => [r.method, r.path, r.status]),
      [
        ['GET', SECRET_PATH, 404],
        ['POST', `/api/v1/namespaces/${NAMESPACE}/secrets`, 201],
      ],
    );
    const stored = api.getSecret(NAMESPACE, NAME);
    assert.ok(stored !== undefined);
    assert.equal(stored.immutable, true);
    assert.equal(stored.metadata.labels?.[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
    assert.deepEqual(Object.keys(stored.data ?? {}), ['key']);
    assert.deepEqual(Buffer.from(stored.data?.['key'] ?? '', 'base64'), key);
  });

  it('uses fresh randomness for a new key', async () => {
    const first = await source().getKey();
    api.deleteSecret(NAMESPACE, NAME);
    const second = await source().getKey();
    assert.notDeepEqual(first, second);
  });

  it('reads an existing Secret once, however many calls (concurrent and later) ask for the key', async () => {
    const existing = Buffer.alloc(32, 7);
    api.putSecret(NAMESPACE, NAME, { key: existing }, { immutable: true });
    const keys = source();

    const concurrent = await Promise.all(Array.from({ length: 25 }, () => keys.getKey()));
    const later = await Promise.all(Array.from({ length: 25 }, () => keys.getKey()));

    for (const key of [...concurrent, ...later]) assert.deepEqual(key, existing);
    assert.equal(api.requests.length, 1);
    assert.deepEqual(api.requests.map((r) => [r.method, r.path, r.status]), [['GET', SECRET_PATH, 200]]);
  });

  it('creates the Secret once when many first calls arrive together', async () => {
    const keys = source();
    const all = await Promise.all(Array.from({ length: 10 }, () => keys.getKey()));
    assert.equal(new Set(all.map((k) => k.toString('hex'))).size, 1);
    assert.equal(api.requestsOf('secretGet').length, 1);
    assert.equal(api.requestsOf('secretCreate').length, 1);
  });

  it('accepts a Secret created by the reference provider (no label, not necessarily immutable)', async () => {
    const existing = Buffer.alloc(32, 3);
    api.putSecret(NAMESPACE, NAME, { key: existing });
    assert.deepEqual(await source().getKey(), existing);
  });

  it("on 409 AlreadyExists (another node won the race) reads the winner's key", async () => {
    const winner = Buffer.alloc(32, 9);
    api.loseNextCreateRace(NAMESPACE, NAME, { key: winner });
    const key = await source({ randomBytes: (n) => Buffer.alloc(n, 1) }).getKey();

    assert.deepEqual(key, winner);
    assert.deepEqual(
      api.requests.map((r) => [r.method, r.status]),
      [
        ['GET', 404],
        ['POST', 409],
        ['GET', 200],
      ],
    );
  });

  it('two providers starting at once: both find no Secret, both create, the loser (409) reads and uses the winner\'s key', async () => {
    // Held answers make both reads return 404 before either create arrives: the race, every time.
    api.delayMs = 100;
    const made: string[] = [];
    const provider = (fill: number): KubeSecretHmacKeySource =>
      source({ randomBytes: (n) => (made.push(`provider ${fill}`), Buffer.alloc(n, fill)) });
    const [a, b] = await Promise.all([provider(1).getKey(), provider(2).getKey()]);

    assert.deepEqual(made.sort(), ['provider 1', 'provider 2'], 'both saw no Secret and made a key');
    assert.deepEqual(a, b, 'both use the same key, so object versions agree');
    assert.deepEqual(Buffer.from(api.getSecret(NAMESPACE, NAME)?.data?.['key'] ?? '', 'base64'), a);
    const creates = api.requestsOf('secretCreate').map((r) => r.status).sort();
    assert.deepEqual(creates, [201, 409]);
    assert.deepEqual(api.requestsOf('secretGet').map((r) => r.status), [404, 404, 200]);
  });

  for (const [label, data] of [
    ['without a "key"', { other: Buffer.alloc(32, 1) }],
    ['with an empty "key"', { key: Buffer.alloc(0) }],
    ['without data', undefined],
  ] as const) {
    it(`refuses a Secret ${label}, telling the operator to delete it`, async () => {
      api.putSecret(NAMESPACE, NAME, data);
      const err = await rejection(source().getKey());
      assert.equal(err.code, 'LOCAL_FILE_ERROR');
      assert.equal(err.context.parameter, 'hmac-secret-name');
      assert.match(err.message, new RegExp(`${NAMESPACE}/${NAME}`));
      assert.match(err.message, /delete the Secret/);
    });
  }

  it('does not cache a failure: the next call tries again', async () => {
    api.failNext('secretGet', { status: 503, message: 'etcd is unavailable' });
    const keys = source();

    const err = await rejection(keys.getKey());
    assert.equal(err.code, 'KUBERNETES_API_ERROR');
    assert.equal(err.context.httpStatus, 503);
    assert.match(err.message, /cannot read the HMAC key Kubernetes Secret csi\/vault-csi-provider-hmac-key/);
    assert.match(err.message, /the Kubernetes API server is failing; the next mount tries again/);

    const key = await keys.getKey();
    assert.equal(key.length, 32);
    assert.equal(api.requestsOf('secretGet').length, 2);
    // Cached from now on.
    await keys.getKey();
    assert.equal(api.requests.length, 3);
  });

  it('explains a 403 on the read as missing RBAC, and tries again once it is granted', async () => {
    api.putSecret(NAMESPACE, NAME, { key: Buffer.alloc(32, 4) });
    api.failNext('secretGet', { status: 403, message: 'secrets "vault-csi-provider-hmac-key" is forbidden' }, 2);
    const keys = source();
    for (let i = 0; i < 2; i++) {
      const err = await rejection(keys.getKey());
      assert.equal(err.code, 'KUBERNETES_API_ERROR');
      assert.equal(err.context.httpStatus, 403);
      assert.match(err.message, /403 Forbidden/);
      assert.match(err.message, /the provider's ServiceAccount needs get and create on secrets in csi \(get on "vault-csi-provider-hmac-key", create on secrets: the Role and RoleBinding in deploy\/base\/rbac\.yaml\); the next mount tries again/);
    }
    // RBAC fixed: the next call asks again (the failure was not kept) and the key is kept from then on.
    assert.deepEqual(await keys.getKey(), Buffer.alloc(32, 4));
    assert.deepEqual(await keys.getKey(), Buffer.alloc(32, 4));
    assert.equal(api.requestsOf('secretGet').length, 3);
  });

  it('explains a 403 on the create as missing create on secrets', async () => {
    api.failNext('secretCreate', { status: 403, message: 'secrets is forbidden' });
    const err = await rejection(source().getKey());
    assert.equal(err.code, 'KUBERNETES_API_ERROR');
    assert.match(err.message, /cannot create the HMAC key/);
    assert.match(err.message, /needs get and create on secrets in csi/);
  });

  it('explains a 401 as a token the API server does not accept', async () => {
    api.failNext('secretGet', { status: 401 });
    const err = await rejection(source().getKey());
    assert.equal(err.code, 'KUBERNETES_API_ERROR');
    assert.match(err.message, /does not accept the provider's ServiceAccount token/);
  });

  it('reports an API server that is down as KUBERNETES_API_ERROR, and reads the key once it is back', async () => {
    const stored = Buffer.alloc(32, 6);
    const keys = new KubeSecretHmacKeySource(kubeConfigFromUrl(api.url, api.token), NAMESPACE, NAME);
    const url = api.url;
    await api.close();
    const err = await rejection(keys.getKey());
    assert.equal(err.code, 'KUBERNETES_API_ERROR');
    assert.match(err.message, /the Kubernetes API request failed \(ECONNREFUSED\)/);
    assert.match(err.message, /cannot be reached or did not answer/);
    // Back on the same address: the next call reads the key.
    api = await FakeKubeApi.start({ port: Number(new URL(url).port) });
    api.putSecret(NAMESPACE, NAME, { key: stored });
    assert.deepEqual(await keys.getKey(), stored);
  });

  it('reports a failed create without quoting the key', async () => {
    const candidate = Buffer.alloc(32, 5);
    api.failNext('secretCreate', { status: 422, message: 'admission webhook denied the request' });
    const err = await rejection(source({ randomBytes: () => candidate }).getKey());
    assert.equal(err.code, 'KUBERNETES_API_ERROR');
    assert.match(err.message, /cannot create the HMAC key/);
    assert.ok(!err.message.includes(candidate.toString('base64')));
    assert.equal(api.getSecret(NAMESPACE, NAME), undefined);
  });

  it('times out a hung API server and lets a later call retry', async () => {
    api.putSecret(NAMESPACE, NAME, { key: Buffer.alloc(32, 2) });
    api.delayMs = 1_000;
    const clock = new ManualClock();
    const keys = source({ timeoutMs: 50, timer: (ms, fn) => clock.after(ms, fn) });
    const running = rejection(keys.getKey());
    await waitFor(() => api.requests.length > 0, 'the read held by the API server');
    clock.advance(50);
    const err = await running;
    assert.equal(err.code, 'KUBERNETES_API_ERROR');
    assert.match(err.message, /the Kubernetes API did not answer within 50 ms \(request timeout\)/);
    assert.match(err.message, /cannot be reached or did not answer/);

    api.delayMs = 0;
    assert.deepEqual(await keys.getKey(), Buffer.alloc(32, 2));
  });
});
