/**
 * The real control plane itself: etcd and kube-apiserver from their Go modules, RBAC, the test's own
 * ServiceAccount issuer and RS256 key, the admin client certificate, kubectl against it. What later suites rely on
 * (TokenRequest bound to real Pods, the authoriser's answers) is checked here first.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { KubeControlPlane } from '../harness/kube.js';

interface TokenRequestStatus {
  readonly status: { readonly token: string; readonly expirationTimestamp: string };
}

function decodeJwt(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown>; signed: Buffer; signature: Buffer } {
  const [h, p, s] = jwt.split('.');
  assert.ok(h !== undefined && p !== undefined && s !== undefined, 'a JWT has three parts');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
    signed: Buffer.from(`${h}.${p}`),
    signature: Buffer.from(s, 'base64url'),
  };
}

describe('real control plane: etcd and kube-apiserver', function () {
  let kube: KubeControlPlane;

  before(async function () {
    this.timeout(600_000);
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
    await kube.must('POST', '/api/v1/namespaces', { metadata: { name: 'prod' } });
    await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts', { metadata: { name: 'web' } });
    await kube.must('POST', '/api/v1/namespaces/prod/pods', {
      metadata: { name: 'web-0' },
      spec: { serviceAccountName: 'web', automountServiceAccountToken: false, containers: [{ name: 'app', image: 'app:1' }] },
    });
  });

  after(async () => {
    await kube?.stop();
  });

  it('serves TLS from the test CA and answers /readyz and /version', async () => {
    const ready = await kube.api('GET', '/readyz');
    assert.equal(ready.status, 200);
    const version = (await kube.must('GET', '/version')) as { gitVersion?: string };
    assert.match(version.gitVersion ?? '', /^v1\.36\.\d+/);
  });

  it('refuses an anonymous request to read Secrets, and a bearer token it did not issue', async () => {
    const bogus = await kube.api('GET', '/api/v1/namespaces/prod/secrets', undefined, { token: 'not-a-token' });
    assert.equal(bogus.status, 401);
  });

  it('kubectl talks to it with the admin kubeconfig', async () => {
    const out = await kube.kubectl(['get', 'namespace', 'prod', '-o', 'jsonpath={.metadata.name}']);
    assert.equal(out, 'prod');
  });

  it('mints a pod-bound token with the requested audience and lifetime, signed RS256 by the test key', async () => {
    const pod = (await kube.must('GET', '/api/v1/namespaces/prod/pods/web-0')) as { metadata: { uid: string } };
    const answer = (await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts/web/token', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['vault'], expirationSeconds: 900, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: pod.metadata.uid } },
    })) as TokenRequestStatus;
    const jwt = decodeJwt(answer.status.token);
    assert.equal(jwt.header['alg'], 'RS256');
    assert.ok(verify('RSA-SHA256', jwt.signed, createPublicKey(kube.serviceAccountPublicKeyPem), jwt.signature), 'signed by the test key');
    assert.equal(jwt.claims['iss'], kube.issuer);
    assert.deepEqual(jwt.claims['aud'], ['vault']);
    assert.equal(jwt.claims['sub'], 'system:serviceaccount:prod:web');
    const k8s = jwt.claims['kubernetes.io'] as { namespace: string; pod: { name: string; uid: string } };
    assert.equal(k8s.namespace, 'prod');
    assert.deepEqual(k8s.pod, { name: 'web-0', uid: pod.metadata.uid });
    assert.equal(Number(jwt.claims['exp']) - Number(jwt.claims['iat']), 900);

    // The API server itself accepts it only for the audiences it serves; TokenReview for "vault" accepts it.
    const review = (await kube.must('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: answer.status.token, audiences: ['vault'] },
    })) as { status: { authenticated?: boolean; user?: { username?: string; extra?: Record<string, string[]> }; audiences?: string[] } };
    assert.equal(review.status.authenticated, true);
    assert.equal(review.status.user?.username, 'system:serviceaccount:prod:web');
    assert.deepEqual(review.status.user?.extra?.['authentication.kubernetes.io/pod-uid'], [pod.metadata.uid]);
  });

  it('refuses a token bound to a Pod of another ServiceAccount, and one bound to a UID that is not the pod', async () => {
    await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts', { metadata: { name: 'other' } });
    const pod = (await kube.must('GET', '/api/v1/namespaces/prod/pods/web-0')) as { metadata: { uid: string } };
    const otherSa = await kube.api('POST', '/api/v1/namespaces/prod/serviceaccounts/other/token', {
      spec: { audiences: ['vault'], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: pod.metadata.uid } },
    });
    assert.equal(otherSa.status, 400, JSON.stringify(otherSa.body));
    const wrongUid = await kube.api('POST', '/api/v1/namespaces/prod/serviceaccounts/web/token', {
      spec: { audiences: ['vault'], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: '00000000-0000-0000-0000-000000000000' } },
    });
    assert.equal(wrongUid.status, 409, JSON.stringify(wrongUid.body));
  });

  it('authorises with RBAC: a ServiceAccount with no binding may do nothing, one with a Role may do that alone', async () => {
    const token = ((await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts/web/token', { spec: {} })) as TokenRequestStatus).status.token;
    const denied = await kube.api('GET', '/api/v1/namespaces/prod/secrets/x', undefined, { token });
    assert.equal(denied.status, 403);
    await kube.must('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/prod/roles', {
      metadata: { name: 'read-x' },
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['x'], verbs: ['get'] }],
    });
    await kube.must('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings', {
      metadata: { name: 'web-read-x' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-x' },
      subjects: [{ kind: 'ServiceAccount', name: 'web', namespace: 'prod' }],
    });
    await kube.must('POST', '/api/v1/namespaces/prod/secrets', { metadata: { name: 'x' }, stringData: { k: 'v' } });
    const allowed = await kube.api('GET', '/api/v1/namespaces/prod/secrets/x', undefined, { token });
    assert.equal(allowed.status, 200);
    const list = await kube.api('GET', '/api/v1/namespaces/prod/secrets', undefined, { token });
    assert.equal(list.status, 403);
    const can = await kube.kubectl(['auth', 'can-i', 'get', 'secrets/x', '-n', 'prod', '--as', 'system:serviceaccount:prod:web']);
    assert.equal(can.trim(), 'yes');
  });
});
