import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import type { PodInfo } from '../../src/config/types.js';
import { kubeConfigFromUrl } from '../../src/kubernetes/cluster.js';
import { KubeSecretHmacKeySource } from '../../src/kubernetes/hmac-secret.js';
import { KubeClient } from '../../src/kubernetes/kube-client.js';
import { KubeTokenRequester, TOKEN_EXPIRATION_SECONDS } from '../../src/kubernetes/token-requester.js';
import { rejection } from '../helpers/rejection.js';
import { ManualClock } from '../helpers/clocks.js';
import { waitFor } from '../helpers/wait-for.js';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy.js';
import { createTlsMaterial } from '../vault-server/index.js';
import { FakeKubeApi, type ServiceAccountClaims } from '../helpers/fake-kube-api.js';
import { ServiceAccountJwtIssuer } from '../vault-server/jwt-issuer.js';

const pod: PodInfo = { name: 'web-0', namespace: 'team-a', uid: '9d1f5c3e-0000-4000-8000-000000000001', serviceAccountName: 'web' };

function decodeClaims(jwt: string): ServiceAccountClaims {
  const payload = jwt.split('.')[1];
  assert.ok(payload !== undefined, 'JWT has a payload');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as ServiceAccountClaims;
}

describe('KubeTokenRequester', () => {
  let api: FakeKubeApi;

  beforeEach(async () => {
    api = await FakeKubeApi.start();
  });

  afterEach(async () => {
    await api.close();
  });

  it('POSTs a pod-bound TokenRequest for the audience, 900 s, and returns status.token', async () => {
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const token = await requester.requestToken(pod, 'vault');

    assert.deepEqual(
      api.requests.map((r) => [r.method, r.path, r.status, r.authorized]),
      [['POST', '/api/v1/namespaces/team-a/serviceaccounts/web/token', 201, true]],
    );
    assert.deepEqual(api.tokenRequests, [
      {
        namespace: 'team-a',
        serviceAccountName: 'web',
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        audiences: ['vault'],
        expirationSeconds: TOKEN_EXPIRATION_SECONDS,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web-0', uid: pod.uid },
      },
    ]);
    assert.equal(TOKEN_EXPIRATION_SECONDS, 900);
    const claims = decodeClaims(token);
    assert.deepEqual(claims.aud, ['vault']);
    assert.equal(claims.sub, 'system:serviceaccount:team-a:web');
    assert.deepEqual(claims['kubernetes.io'].pod, { name: 'web-0', uid: pod.uid });
    assert.equal(claims.exp - claims.iat, 900);
  });

  it('asks for the API default audiences when the audience is empty, like the reference', async () => {
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    await requester.requestToken(pod, '');
    assert.deepEqual(api.tokenRequests[0]?.audiences, []);
  });

  it('returns the token a pluggable signer made (a real RS256 ServiceAccount JWT)', async () => {
    await api.close();
    const issuer = new ServiceAccountJwtIssuer();
    api = await FakeKubeApi.start({ signToken: (claims) => issuer.signClaims(claims) });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const jwt = await requester.requestToken(pod, 'vault');

    const [head = '', body = '', signature = ''] = jwt.split('.');
    assert.equal((JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg: string }).alg, 'RS256');
    assert.ok(verify('sha256', Buffer.from(`${head}.${body}`), createPublicKey(issuer.publicKeyPem), Buffer.from(signature, 'base64url')));
    assert.deepEqual(decodeClaims(jwt)['kubernetes.io'].pod, { name: 'web-0', uid: pod.uid });
  });

  for (const [field, attribute] of [
    ['name', 'csi.storage.k8s.io/pod.name'],
    ['namespace', 'csi.storage.k8s.io/pod.namespace'],
    ['uid', 'csi.storage.k8s.io/pod.uid'],
    ['serviceAccountName', 'csi.storage.k8s.io/serviceAccount.name'],
  ] as const) {
    it(`refuses without calling the API when the pod's ${field} is missing`, async () => {
      const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
      const err = await rejection(requester.requestToken({ ...pod, [field]: '' }, 'vault'));
      assert.equal(err.code, 'INVALID_CONFIG');
      assert.match(err.message, new RegExp(attribute.replace(/\./g, '\\.')));
      assert.equal(err.context.parameter, attribute);
      assert.equal(api.requests.length, 0);
    });
  }

  it('maps a 403 from the API to TOKEN_UNAVAILABLE naming the pod, ServiceAccount and status, without a token', async () => {
    api.failNext('tokenCreate', {
      status: 403,
      message: 'serviceaccounts "web" is forbidden: User "system:serviceaccount:csi:vault-csi-provider" cannot create resource "serviceaccounts/token"',
    });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault'));

    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.equal(err.context.httpStatus, 403);
    assert.match(err.message, /team-a\/web-0/);
    assert.match(err.message, /ServiceAccount "web"/);
    assert.match(err.message, /403 Forbidden/);
    assert.match(err.message, /cannot create resource "serviceaccounts\/token"/);
    // What to grant, named: the verb, the resource, and where the rule lives.
    assert.match(err.message, /the provider's ServiceAccount needs create on serviceaccounts\/token for ServiceAccount "web" in team-a \(the ClusterRole and ClusterRoleBinding of deploy\/overlays\/token-request-fallback, or the chart's flags\.token-request-fallback\)/);
    assert.doesNotMatch(err.message, new RegExp(api.token));
    assert.doesNotMatch(err.message, /eyJ/);
  });

  it('strips anything JWT-shaped that the API echoes back in its Status message', async () => {
    const jwtLike = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    api.failNext('tokenCreate', { status: 400, message: `bad request near ${jwtLike}` });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.ok(!err.message.includes(jwtLike));
  });

  it('maps a rejected provider credential (401) to TOKEN_UNAVAILABLE', async () => {
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, 'not-the-right-token'));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.equal(err.context.httpStatus, 401);
    assert.match(err.message, /401 Unauthorized/);
    assert.ok(!err.message.includes('not-the-right-token'));
    assert.equal(api.requests[0]?.authorized, false);
  });

  it('maps a missing ServiceAccount (404) to TOKEN_UNAVAILABLE', async () => {
    await api.close();
    api = await FakeKubeApi.start({ serviceAccounts: ['team-a/other'] });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.match(err.message, /404 NotFound: serviceaccounts "web" not found/);
  });

  for (const [label, asked, status, message] of [
    ['a pod that does not exist (404)', { ...pod, name: 'gone-0' }, 404, /404 NotFound: pods "gone-0" not found; the pod or its ServiceAccount does not exist/],
    ['a pod recreated under the same name (409, another UID)', { ...pod, uid: '9d1f5c3e-0000-4000-8000-00000000ffff' }, 409, /409 Conflict: .*does not match the UID in record.*; the pod was deleted and created again/],
    ['a pod of another ServiceAccount (400)', { ...pod, serviceAccountName: 'other' }, 400, /400 BadRequest: cannot bind token for serviceaccount "other" to pod running with different serviceaccount name/],
  ] as const) {
    it(`maps the real API server's answer for ${label} to TOKEN_UNAVAILABLE`, async () => {
      await api.close();
      api = await FakeKubeApi.start({ pods: [pod] });
      const err = await rejection(new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token)).requestToken(asked, 'vault'));
      assert.equal(err.code, 'TOKEN_UNAVAILABLE');
      assert.equal(err.context.httpStatus, status);
      assert.match(err.message, message);
    });
  }

  it('reports an unreachable API server by error code only', async () => {
    const url = api.url;
    await api.close();
    const requester = new KubeTokenRequester(kubeConfigFromUrl(url, 'x'));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.match(err.message, /ECONNREFUSED/);
    api = await FakeKubeApi.start();
  });

  it('gives up after its timeout when the API does not answer', async () => {
    api.delayMs = 1_000;
    const clock = new ManualClock();
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token), { timeoutMs: 50, timer: (ms, fn) => clock.after(ms, fn) });
    const running = rejection(requester.requestToken(pod, 'vault'));
    await waitFor(() => api.requests.length > 0, 'the request held by the API server');
    clock.advance(49);
    assert.equal(clock.pending, 1, 'still waiting before its timeout');
    clock.advance(1);
    const err = await running;
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.match(err.message, /the Kubernetes API did not answer within 50 ms \(request timeout\)/);
  });

  it('times out the same way over TLS when the server is slow from the handshake on (a proxy holding its bytes)', async () => {
    // Over https a slow server stalls the handshake first, and the request timeout covers that too. (At the default
    // 10 s, undici's own connect timeout used to race it: kube-client.real.ts found it, kube-client.ts fixes it.)
    const tls = await createTlsMaterial();
    const secure = await FakeKubeApi.start({ tls: { key: tls.serverKeyPem, cert: tls.serverCertPem } });
    const proxy = await TcpFaultProxy.start(Number(new URL(secure.url).port));
    try {
      proxy.answerDelayMs = 2_000;
      const config = kubeConfigFromUrl(`https://127.0.0.1:${proxy.port}`, secure.token, { caData: tls.caCertPem });
      const clock = new ManualClock();
      const running = rejection(new KubeTokenRequester(config, { timeoutMs: 200, timer: (ms, fn) => clock.after(ms, fn) }).requestToken(pod, 'vault'));
      await waitFor(() => proxy.connections > 0, 'the connection held by the proxy');
      clock.advance(200);
      const err = await running;
      assert.equal(err.code, 'TOKEN_UNAVAILABLE');
      assert.match(err.message, /the Kubernetes API did not answer within 200 ms \(request timeout\)/);
      assert.equal(secure.tokenRequests.length, 0, 'the request never got through the handshake');
      proxy.answerDelayMs = 0;
      assert.match(await new KubeTokenRequester(config).requestToken(pod, 'vault'), /^eyJ/);
    } finally {
      await proxy.close();
      await secure.close();
    }
  });

  it("times out under the caller's signal too (the mount's), as TOKEN_UNAVAILABLE", async () => {
    api.delayMs = 5_000;
    const clock = new ManualClock();
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token), { timer: (ms, fn) => clock.after(ms, fn) });
    const running = rejection(requester.requestToken(pod, 'vault', new AbortController().signal));
    await waitFor(() => api.requests.length > 0, 'the request held by the API server');
    clock.advance(10_000);
    const err = await running;
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.match(err.message, /did not answer within 10 s \(request timeout\)/);
  });

  it("ends with DEADLINE_EXCEEDED when the caller's signal aborts", async () => {
    api.delayMs = 1_000;
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault', AbortSignal.timeout(50)));
    assert.equal(err.code, 'DEADLINE_EXCEEDED');
    assert.match(err.message, /team-a\/web-0/);
  });

  it('maps a failing API server (5xx) to TOKEN_UNAVAILABLE with its status', async () => {
    api.failNext('tokenCreate', { status: 503, message: 'etcdserver: request timed out' });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.equal(err.context.httpStatus, 503);
    assert.match(err.message, /503 ServiceUnavailable: etcdserver: request timed out; the Kubernetes API server is failing/);
  });

  it('refuses a 2xx answer that is not JSON without quoting it (it could hold a token)', async () => {
    const tokenish = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    api.failNext('tokenCreate', { status: 201, rawBody: `{"status":{"token":"${tokenish}"` });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.match(err.message, /answered 201 with a body that is not JSON/);
    assert.ok(!err.message.includes(tokenish));
    assert.equal(err.cause, undefined, 'nothing of the answer is attached');
  });

  it('stops reading an answer past its size bound', async () => {
    api.failNext('tokenCreate', { status: 201, rawBody: `{"status":{"token":"${'a'.repeat(300 * 1024)}"}}` });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.match(err.message, /answered with more than 262144 bytes/);
  });

  it('shares one KubeClient with the HMAC Secret source: one token file, read once for both', async () => {
    let reads = 0;
    const client = new KubeClient(
      { server: api.url, skipTLSVerify: false, tokenFile: '/sa/token' },
      { now: () => 0, readFile: () => (reads++, Promise.resolve(api.token)) },
    );
    await new KubeTokenRequester(client).requestToken(pod, 'vault');
    api.putSecret('csi', 'vault-csi-provider-hmac-key', { key: Buffer.alloc(32, 1) });
    assert.deepEqual(await new KubeSecretHmacKeySource(client, 'csi', 'vault-csi-provider-hmac-key').getKey(), Buffer.alloc(32, 1));
    assert.equal(reads, 1);
    assert.deepEqual(api.requests.map((r) => [r.operation, r.authorized]), [['tokenCreate', true], ['secretGet', true]]);
  });

  it('treats an answer without status.token as TOKEN_UNAVAILABLE', async () => {
    await api.close();
    api = await FakeKubeApi.start({ signToken: () => '' });
    const requester = new KubeTokenRequester(kubeConfigFromUrl(api.url, api.token));
    const err = await rejection(requester.requestToken(pod, 'vault'));
    assert.equal(err.code, 'TOKEN_UNAVAILABLE');
    assert.match(err.message, /without a token/);
  });
});
