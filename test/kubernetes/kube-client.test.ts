import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describeApiFailure } from '../../src/kubernetes/api.js';
import { KubeAnswerError, KubeApiError, KubeClient, TOKEN_FILE_REFRESH_MS } from '../../src/kubernetes/kube-client.js';
import { createTlsMaterial } from '../vault-server/index.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { waitFor } from '../helpers/wait-for.js';

const signal = () => AbortSignal.timeout(5_000);

describe('kubernetes/kube-client', () => {
  let api: FakeKubeApi;
  beforeEach(async () => {
    api = await FakeKubeApi.start({ token: 'first' });
  });
  afterEach(async () => {
    await api.close();
  });

  it('re-reads the token file at most once a minute, so a rotated token is picked up', async () => {
    let t = 0;
    let onDisk = 'first';
    let reads = 0;
    const client = new KubeClient(
      { server: api.url, skipTLSVerify: false, tokenFile: '/sa/token' },
      { now: () => t, readFile: (path) => (path === '/sa/token' ? (reads++, Promise.resolve(`${onDisk}\n`)) : Promise.reject(new Error(path))) },
    );
    const get = () => client.request('GET', '/api/v1/namespaces/csi/secrets/absent', undefined, signal()).catch((err: unknown) => err);
    assert.ok((await get()) instanceof KubeApiError);
    onDisk = 'second';
    t += TOKEN_FILE_REFRESH_MS - 1;
    await get();
    assert.equal(reads, 1);
    assert.deepEqual(api.requests.map((r) => r.authorized), [true, true]);
    t += 1;
    await get();
    assert.equal(reads, 2);
    assert.equal(api.requests[2]?.authorized, false, 'the new token was sent');
  });

  it('close() ends its connections; a request after it opens a new one; closing twice or before any request is a no-op', async () => {
    const client = new KubeClient({ server: api.url, skipTLSVerify: false, token: 'first' });
    await client.close();
    await client.request('GET', '/api/v1/namespaces/csi/secrets/absent', undefined, signal()).catch(() => undefined);
    assert.equal(api.openConnections, 1, 'kept alive after the answer');
    await client.close();
    await client.close();
    await waitFor(() => api.openConnections === 0, 'the server to see the connection closed', { timeoutMs: 500 });
    await client.request('GET', '/api/v1/namespaces/csi/secrets/absent', undefined, signal()).catch(() => undefined);
    assert.equal(api.requests.length, 2);
    await client.close();
  });

  it('returns the JSON of a 2xx answer and throws KubeApiError with the Status text otherwise', async () => {
    const client = new KubeClient({ server: api.url, skipTLSVerify: false, token: 'first' });
    const created = (await client.request('POST', '/api/v1/namespaces/csi/secrets', { metadata: { name: 's' }, data: { key: 'a2V5' } }, signal())) as {
      data?: Record<string, string>;
    };
    assert.equal(created.data?.['key'], 'a2V5');
    const err = await client.request('GET', '/api/v1/namespaces/csi/secrets/nope', undefined, signal()).catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.status, 404);
    assert.match(err.body, /NotFound/);
  });

  it("describes undici's own timeouts as timeouts, and a 2xx body that is not JSON without quoting it", async () => {
    for (const code of ['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']) {
      const failure = describeApiFailure(Object.assign(new Error('timeout to https://10.0.0.1:443'), { code }));
      assert.equal(failure.aborted, true);
      assert.equal(failure.detail, `the Kubernetes API did not answer in time (${code})`);
    }
    api.failNext('secretGet', { status: 200, rawBody: '{"data":{"key":"c2VjcmV0' });
    const client = new KubeClient({ server: api.url, skipTLSVerify: false, token: 'first' });
    const err = await client.request('GET', '/api/v1/namespaces/csi/secrets/s', undefined, signal()).catch((e: unknown) => e);
    assert.ok(err instanceof KubeAnswerError);
    assert.ok(!err.message.includes('c2VjcmV0'));
    assert.equal(describeApiFailure(err).detail, 'the Kubernetes API answered 200 with a body that is not JSON');
  });

  it('trusts the CA it is given over https, and refuses a server it cannot verify', async () => {
    const tls = await createTlsMaterial();
    const server = createServer({ key: tls.serverKeyPem, cert: tls.serverCertPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const trusted = new KubeClient({ server: url, skipTLSVerify: false, caData: tls.caCertPem, token: 't' });
      assert.deepEqual(await trusted.request('GET', '/version', undefined, signal()), { ok: true });
      const untrusted = new KubeClient({ server: url, skipTLSVerify: false, token: 't' });
      await assert.rejects(untrusted.request('GET', '/version', undefined, signal()));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
