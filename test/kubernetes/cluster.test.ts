import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProviderError } from '../../src/errors.js';
import { detectCluster, kubeConfigFromUrl, SERVICE_ACCOUNT_DIR } from '../../src/kubernetes/cluster.js';
import { KubeApiError, KubeClient } from '../../src/kubernetes/kube-client.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';

describe('detectCluster', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kube-sa-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function serviceAccountFiles(files: { token?: string; namespace?: string; ca?: string }): Promise<void> {
    if (files.token !== undefined) await writeFile(join(dir, 'token'), files.token);
    if (files.namespace !== undefined) await writeFile(join(dir, 'namespace'), files.namespace);
    if (files.ca !== undefined) await writeFile(join(dir, 'ca.crt'), files.ca);
  }

  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  it('defaults to the kubelet-mounted ServiceAccount directory', () => {
    assert.equal(SERVICE_ACCOUNT_DIR, '/var/run/secrets/kubernetes.io/serviceaccount');
  });

  it('finds the cluster from the service variables and the ServiceAccount files', async () => {
    await serviceAccountFiles({ token: 'sa-token', namespace: 'csi\n', ca: 'PEM' });
    const cluster = detectCluster(env, undefined, dir);

    assert.ok(cluster !== undefined);
    assert.equal(cluster.namespace, 'csi');
    const config = cluster.kubeConfig;
    assert.equal(config.server, 'https://10.96.0.1:443');
    assert.equal(config.skipTLSVerify, false);
    assert.equal(config.caFile, join(dir, 'ca.crt'));
    // The token stays a file reference so rotated tokens are picked up.
    assert.equal(config.token, undefined);
    assert.equal(config.tokenFile, join(dir, 'token'));
  });

  it('sends the token from the file as the bearer credential', async () => {
    const api = await FakeKubeApi.start({ token: 'sa-token' });
    try {
      await serviceAccountFiles({ token: 'sa-token\n', namespace: 'csi' });
      const cluster = detectCluster(env, undefined, dir);
      assert.ok(cluster !== undefined);
      // Same settings, pointed at the fake API server over plain http.
      const client = new KubeClient({ ...cluster.kubeConfig, server: api.url });
      await assert.rejects(client.request('GET', '/api/v1/namespaces/csi/secrets/x', undefined, AbortSignal.timeout(5_000)), KubeApiError);
      assert.equal(api.requests[0]?.authorized, true);
    } finally {
      await api.close();
    }
  });

  it('lets POD_NAMESPACE override the namespace file', async () => {
    await serviceAccountFiles({ token: 't', namespace: 'from-file' });
    assert.equal(detectCluster({ ...env, POD_NAMESPACE: 'from-env' }, undefined, dir)?.namespace, 'from-env');
  });

  it('uses POD_NAMESPACE when there is no namespace file', async () => {
    await serviceAccountFiles({ token: 't' });
    assert.equal(detectCluster({ ...env, POD_NAMESPACE: 'from-env' }, undefined, dir)?.namespace, 'from-env');
  });

  it('brackets an IPv6 host and defaults the port to 443', async () => {
    await serviceAccountFiles({ token: 't', namespace: 'csi' });
    const cluster = detectCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1' }, undefined, dir);
    assert.equal(cluster?.kubeConfig.server, 'https://[fd00::1]:443');
  });

  it('leaves the CA to the system roots when ca.crt is absent', async () => {
    await serviceAccountFiles({ token: 't', namespace: 'csi' });
    assert.equal(detectCluster(env, undefined, dir)?.kubeConfig.caFile, undefined);
  });

  it('is not in a cluster without KUBERNETES_SERVICE_HOST', async () => {
    await serviceAccountFiles({ token: 't', namespace: 'csi' });
    assert.equal(detectCluster({}, undefined, dir), undefined);
    assert.equal(detectCluster({ KUBERNETES_SERVICE_HOST: '' }, undefined, dir), undefined);
  });

  it('is not in a cluster without the token file', async () => {
    await serviceAccountFiles({ namespace: 'csi' });
    assert.equal(detectCluster(env, undefined, dir), undefined);
    assert.equal(detectCluster(env, undefined, join(dir, 'missing')), undefined);
  });

  it('fails clearly when in a cluster but the namespace is unknown', async () => {
    await serviceAccountFiles({ token: 't', namespace: '  \n' });
    assert.throws(
      () => detectCluster(env, undefined, dir),
      (err: unknown) => err instanceof ProviderError && err.code === 'LOCAL_FILE_ERROR' && /POD_NAMESPACE/.test(err.message),
    );
  });

  it('fails rather than pretending to be outside a cluster when a file is unreadable', () => {
    const readFile = (path: string): string => {
      if (path.endsWith('token')) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
      return 'csi';
    };
    assert.throws(
      () => detectCluster(env, readFile, '/sa'),
      (err: unknown) => err instanceof ProviderError && err.code === 'LOCAL_FILE_ERROR' && /\/sa\/token \(EACCES\)/.test(err.message),
    );
  });

  it('reads through an injected reader', () => {
    const files: Record<string, string> = { '/sa/token': 't', '/sa/namespace': 'injected' };
    const readFile = (path: string): string => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return text;
    };
    assert.equal(detectCluster(env, readFile, '/sa')?.namespace, 'injected');
  });
});

describe('kubeConfigFromUrl', () => {
  it('points at the server with a fixed bearer token', () => {
    const kubeConfig = kubeConfigFromUrl('http://127.0.0.1:1234', 'tok');
    assert.equal(kubeConfig.server, 'http://127.0.0.1:1234');
    assert.equal(kubeConfig.token, 'tok');
    assert.equal(kubeConfig.tokenFile, undefined);
  });

  it('keeps TLS verification on unless told otherwise', () => {
    assert.equal(kubeConfigFromUrl('https://api.example:6443', 'tok').skipTLSVerify, false);
    assert.equal(kubeConfigFromUrl('https://api.example:6443', 'tok', { skipTLSVerify: true }).skipTLSVerify, true);
  });
});
