/**
 * The real Secrets Store CSI driver binary (v1.6.1, built from its module) between a kubelet and our provider:
 * csi-kubelet sends NodePublishVolume with the volume context the kubelet sends for a pod that exists in the real
 * API server; the driver reads the SecretProviderClass from that API server as its own ServiceAccount (with the
 * RBAC of its own manifests), mounts a tmpfs in its private mount namespace, calls our provider, writes the files,
 * records a SecretProviderClassPodStatus and syncs `secretObjects` into Kubernetes Secrets. Vault reviews every
 * login through the same API server.
 */
import assert from 'node:assert/strict';
import { installDriver, RealCsiDriver, type PublishAnswer } from '../harness/csi-driver.js';
import { KubeControlPlane } from '../harness/kube.js';
import { configureKubernetesAuth, configureWebRole, createPod, createReviewer, createSecretProviderClass, createWebSecretProviderClass, podToken, type PodRef } from '../harness/kube-vault.js';
import { sleep, until } from '../harness/processes.js';
import { RealSuiteProvider } from '../harness/provider.js';
import { RealVault } from '../harness/vault-dev.js';

interface SecretObject {
  readonly type: string;
  readonly metadata: { readonly labels?: Record<string, string> };
  readonly data?: Record<string, string>;
}

describe('real control plane: the real driver binary mounts through our provider', function () {
  let kube: KubeControlPlane;
  let vault: RealVault;
  let provider: RealSuiteProvider;
  let driver: RealCsiDriver;
  let web: PodRef;
  /** The first publish of web-0's volume, whose target and volume handle the kubelet unpublishes at the end. */
  let published: PublishAnswer;

  async function publish(pod: PodRef, spc: string, volumeName?: string): Promise<PublishAnswer> {
    return driver.publish({
      pod,
      ...(volumeName === undefined ? {} : { volumeName }),
      volumeAttributes: { secretProviderClass: spc },
      tokens: { vault: await podToken(kube, pod) },
    });
  }

  before(async function () {
    this.timeout(900_000);
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
    const driverKubeconfig = await installDriver(kube);

    for (const ns of ['prod', 'test']) await kube.must('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    for (const sa of ['web', 'other']) await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts', { metadata: { name: sa } });
    const reviewerJwt = await createReviewer(kube);

    vault = await RealVault.start();
    await vault.must('POST', 'secret/data/web', { data: { password: 'pw-1', username: 'web-user', env: 'A=1\n' } });
    await configureKubernetesAuth(vault, kube, reviewerJwt);
    await configureWebRole(vault);
    await createWebSecretProviderClass(
      kube,
      [
        '- objectName: "username"',
        '  secretPath: "secret/data/web"',
        '  secretKey: "username"',
        '- objectName: ".env"',
        '  secretPath: "secret/data/web"',
        '  secretKey: "env"',
        '  filePermission: 0600',
        '- objectName: "nested/password"',
        '  secretPath: "secret/data/web"',
        '  secretKey: "password"',
      ],
      {
        secretObjects: [
          {
            secretName: 'web-basic-auth',
            type: 'kubernetes.io/basic-auth',
            data: [
              { objectName: 'username', key: 'username' },
              { objectName: 'password', key: 'password' },
            ],
          },
        ],
      },
    );
    await createSecretProviderClass(kube, 'test', 'test-only', { parameters: { roleName: 'web', objects: '- objectName: "x"\n  secretPath: "secret/data/web"\n  secretKey: "password"\n' } });

    provider = await RealSuiteProvider.start(vault.address);
    driver = await RealCsiDriver.start({ kubeconfig: driverKubeconfig, providerDir: provider.socketDir, rotationPollInterval: '1s' });
    web = await createPod(kube, 'prod', 'web-0', 'web', { secretProviderClass: 'web-secrets' });
  });

  after(async () => {
    await driver?.stop();
    await provider?.stop();
    await vault?.stop();
    await kube?.stop();
  });

  it('publishes a tmpfs with the files from Vault, a dotfile and a nested path with their modes', async () => {
    const m = await publish(web, 'web-secrets');
    published = m;
    assert.equal(m.grpcCode, '', `${m.grpcCode}: ${m.grpcMessage}\n${driver.log.slice(-3000)}`);
    assert.equal(m.mounted, true, 'a tmpfs at the target path');
    assert.equal(m.files.get('password')?.text, 'pw-1');
    assert.equal(m.files.get('password')?.mode, 0o644);
    assert.equal(m.files.get('.env')?.text, 'A=1\n');
    assert.equal(m.files.get('.env')?.mode, 0o600);
    assert.equal(m.files.get('nested/password')?.text, 'pw-1');
  });

  it('records a SecretProviderClassPodStatus with the object versions our provider returned', async () => {
    const status = (await kube.must('GET', '/apis/secrets-store.csi.x-k8s.io/v1/namespaces/prod/secretproviderclasspodstatuses/web-0-prod-web-secrets')) as {
      status: { mounted: boolean; podName: string; secretProviderClassName: string; objects?: Array<{ id: string; version: string }> };
    };
    assert.equal(status.status.mounted, true);
    assert.equal(status.status.podName, 'web-0');
    const ids = (status.status.objects ?? []).map((o) => o.id).sort();
    assert.deepEqual(ids, ['.env', 'nested/password', 'password', 'username']);
    for (const o of status.status.objects ?? []) assert.match(o.version, /^[A-Za-z0-9_-]{20,}$/);
  });

  it('syncs secretObjects into a Kubernetes Secret of the declared type, through the real API', async () => {
    let secret: SecretObject | undefined;
    await until(async () => {
      const a = await kube.api('GET', '/api/v1/namespaces/prod/secrets/web-basic-auth');
      if (a.status === 200) secret = a.body as SecretObject;
      return a.status === 200;
    }, 'the driver to create the synced Secret', 60_000);
    assert.equal(secret?.type, 'kubernetes.io/basic-auth');
    assert.equal(secret?.metadata.labels?.['secrets-store.csi.k8s.io/managed'], 'true');
    assert.equal(Buffer.from(secret?.data?.['password'] ?? '', 'base64').toString(), 'pw-1');
    assert.equal(Buffer.from(secret?.data?.['username'] ?? '', 'base64').toString(), 'web-user');
  });

  it('a republish with rotation enabled brings a changed value to the file and to the synced Secret', async () => {
    await vault.must('POST', 'secret/data/web', { data: { password: 'pw-2', username: 'web-user', env: 'A=1\n' } });
    await sleep(1_100); // past --rotation-poll-interval, as the kubelet's next republish would be
    const m = await publish(web, 'web-secrets');
    assert.equal(m.grpcCode, '', m.grpcMessage);
    assert.equal(m.files.get('password')?.text, 'pw-2');
    assert.equal(m.files.get('nested/password')?.text, 'pw-2');
    await until(async () => {
      const s = (await kube.must('GET', '/api/v1/namespaces/prod/secrets/web-basic-auth')) as SecretObject;
      return Buffer.from(s.data?.['password'] ?? '', 'base64').toString() === 'pw-2';
    }, 'the synced Secret to follow the rotated value', 60_000);
  });

  it('refuses a SecretProviderClass of another namespace: the driver looks it up in the pod namespace only', async () => {
    const m = await publish(web, 'test-only', 'other-volume');
    assert.notEqual(m.grpcCode, '');
    assert.match(m.grpcMessage, /test-only.*not found|not found.*test-only/i);
    assert.equal(m.mounted, false);
  });

  it('masks a provider failure on republish (kubernetes#121271): the driver answers OK, the pod keeps its files', async () => {
    await vault.must('POST', 'sys/policies/acl/web', { policy: 'path "secret/data/nothing" { capabilities = ["read"] }' });
    try {
      await sleep(1_100);
      const m = await publish(web, 'web-secrets');
      assert.equal(m.grpcCode, '', 'the driver reports success');
      assert.equal(m.mounted, true);
      assert.equal(m.files.get('password')?.text, 'pw-2', 'the previous files stay');
      assert.match(driver.log, /failed to mount secrets store object content/);
      assert.match(driver.log, /PERMISSION_DENIED|permission denied/i);
    } finally {
      await vault.must('POST', 'sys/policies/acl/web', { policy: 'path "secret/data/web" { capabilities = ["read"] }' });
    }
  });

  it('a ServiceAccount that Vault does not bind to the role gets a FailedMount-worthy error and no files', async () => {
    const other = await createPod(kube, 'prod', 'other-0', 'other', { secretProviderClass: 'web-secrets' });
    const m = await publish(other, 'web-secrets');
    assert.notEqual(m.grpcCode, '');
    assert.match(m.grpcMessage, /failed to mount secrets store objects for pod prod\/other-0/);
    assert.match(m.grpcMessage, /permission denied|403|not authorized|denied/i);
    assert.equal(m.files.size, 0);
  });

  it('NodeUnpublishVolume unmounts the tmpfs', async () => {
    const m = await driver.unpublish(published);
    assert.equal(m.grpcCode, '', m.grpcMessage);
    assert.equal(m.mounted, false);
  });
});
