/**
 * The project's own examples (examples/*.yaml) proven end to end through the real Secrets Store CSI driver binary:
 * kubectl applies each example to the real API server as it stands (ServiceAccounts, SecretProviderClasses, Pods,
 * Deployments), Vault is set up as the example's header says, and csi-kubelet publishes the example's volume for a
 * pod that exists (the example's Pod, or a Pod made from the example's Deployment template) with the pod's own
 * token from the real TokenRequest API. The driver reads the SecretProviderClass, calls our provider and writes
 * the files on its tmpfs; Vault reviews each login through the same API server and logs each request in its file
 * audit device, which is what the counts below read.
 *
 * Covered: an SSH key pair, a dotfile, prod and test database credentials from one pod template (real PostgreSQL),
 * a TLS pair from PKI, registry credentials synced as kubernetes.io/dockerconfigjson, basic-auth synced as
 * kubernetes.io/basic-auth, an Opaque synced Secret following a changed value; and republishes with rotation on and
 * unchanged inputs, which cost Vault no second database credential or certificate.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installDriver, RealCsiDriver, type PublishAnswer } from '../harness/csi-driver.js';
import { KubeControlPlane } from '../harness/kube.js';
import { configureKubernetesAuth, createReviewer, podToken, type PodRef } from '../harness/kube-vault.js';
import { Postgres } from '../harness/postgres.js';
import { sleep, until } from '../harness/processes.js';
import { RealSuiteProvider } from '../harness/provider.js';
import { VaultAudit } from '../harness/vault-audit.js';
import { RealVault } from '../harness/vault-dev.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const SPC_API = '/apis/secrets-store.csi.x-k8s.io/v1';

interface CsiVolume {
  readonly name: string;
  readonly csi?: { readonly driver: string; readonly readOnly?: boolean; readonly volumeAttributes?: Record<string, string> };
}

interface PodObject {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly uid: string };
  readonly spec: { readonly nodeName?: string; readonly serviceAccountName?: string; readonly volumes?: readonly CsiVolume[] };
}

interface DeploymentObject {
  readonly spec: { readonly template: { readonly metadata?: { readonly labels?: Record<string, string> }; readonly spec: Record<string, unknown> } };
}

interface SecretObject {
  readonly type: string;
  readonly metadata: { readonly labels?: Record<string, string> };
  readonly data?: Record<string, string>;
}

describe('real control plane: the examples, through the real driver binary and our provider', function () {
  let kube: KubeControlPlane;
  let vault: RealVault;
  let audit: VaultAudit;
  let postgres: Postgres;
  let provider: RealSuiteProvider;
  let driver: RealCsiDriver;
  let dir: string;
  let sshPrivateKey: string;
  let sshPublicKey: string;
  const dockerConfig = JSON.stringify({ auths: { 'registry.example.com': { auth: Buffer.from('ci-robot:r3g1stry').toString('base64') } } });

  /**
   * An example's Pod as the API server has it, bound to the driver's node the way the scheduler binds a Pod (there
   * is no scheduler here): the driver watches only the Pods of its own node, and syncs no Secret for any other.
   */
  async function pod(namespace: string, name: string): Promise<PodRef> {
    const p = (await kube.must('GET', `/api/v1/namespaces/${namespace}/pods/${name}`)) as PodObject;
    if (p.spec.nodeName === undefined) {
      await kube.must('POST', `/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name },
        target: { apiVersion: 'v1', kind: 'Node', name: driver.nodeName },
      });
    }
    return { name, namespace, uid: p.metadata.uid, serviceAccountName: p.spec.serviceAccountName ?? 'default' };
  }

  /** A Pod made from a Deployment's template as the API server stored it, as its ReplicaSet would make one. */
  async function podFromDeployment(namespace: string, deployment: string, name: string): Promise<PodRef> {
    const d = (await kube.must('GET', `/apis/apps/v1/namespaces/${namespace}/deployments/${deployment}`)) as DeploymentObject;
    await kube.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
      metadata: { name, labels: d.spec.template.metadata?.labels ?? {} },
      // There is no scheduler: the Pod is bound to the driver's node as the scheduler would bind it.
      spec: { ...d.spec.template.spec, nodeName: driver.nodeName },
    });
    return pod(namespace, name);
  }

  /**
   * NodePublishVolume for one CSI volume of a Pod, the way the kubelet builds it: the volume's attributes and
   * readOnly from the Pod's spec, the pod's identity, and a token for audience "vault" from the TokenRequest API.
   */
  async function publishVolume(ref: PodRef, volumeName: string, attributes?: Record<string, string>): Promise<PublishAnswer> {
    const p = (await kube.must('GET', `/api/v1/namespaces/${ref.namespace}/pods/${ref.name}`)) as PodObject;
    const volume = p.spec.volumes?.find((v) => v.name === volumeName);
    assert.equal(volume?.csi?.driver, 'secrets-store.csi.k8s.io', `pod ${ref.namespace}/${ref.name} has the CSI volume ${volumeName}`);
    return driver.publish({
      pod: ref,
      volumeName,
      volumeAttributes: attributes ?? volume.csi.volumeAttributes ?? {},
      readOnly: volume.csi.readOnly ?? false,
      tokens: { vault: await podToken(kube, ref) },
    });
  }

  function ok(m: PublishAnswer): void {
    assert.equal(m.grpcCode, '', `${m.grpcCode}: ${m.grpcMessage}\n${driver.log.slice(-3000)}`);
    assert.equal(m.mounted, true, 'a tmpfs at the target path');
  }

  /** The Mount calls our provider answered for a pod (its own log line per mount). */
  function providerMounts(ref: PodRef): number {
    return provider.lines().filter((l) => l['msg'] === 'mount' && l['pod'] === ref.name && l['namespace'] === ref.namespace).length;
  }

  /** Waits for `count` more mount lines than `from` (the provider buffers its log up to a second), then checks it is exactly that. */
  async function expectProviderMounts(ref: PodRef, from: number, count: number, what: string): Promise<void> {
    await until(() => providerMounts(ref) - from >= count, `the provider to log ${count} mount(s) of ${ref.namespace}/${ref.name}`, 10_000).catch(() => undefined);
    assert.equal(providerMounts(ref) - from, count, what);
  }

  /** The Secret the driver syncs from a mount, once it exists. */
  async function syncedSecret(namespace: string, name: string): Promise<SecretObject> {
    let secret: SecretObject | undefined;
    await until(async () => {
      const a = await kube.api('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`);
      if (a.status === 200) secret = a.body as SecretObject;
      return a.status === 200;
    }, `the driver to create the synced Secret ${namespace}/${name}`, 20_000).catch((err: unknown) => {
      const said = driver.log.split('\n').filter((l) => /secret/i.test(l) && l.includes(namespace)).slice(-10).join('\n');
      throw new Error(`${String(err)}; the driver said:\n${said}`, { cause: err });
    });
    assert.ok(secret);
    assert.equal(secret.metadata.labels?.['secrets-store.csi.k8s.io/managed'], 'true');
    return secret;
  }

  function decoded(secret: SecretObject, key: string): string | undefined {
    const v = secret.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  }

  /** A policy and a Kubernetes auth role, as an example's `vault policy write` and `vault write auth/kubernetes/role/...`. */
  async function role(name: string, serviceAccount: string, namespace: string, policies: Record<string, string>): Promise<void> {
    for (const [policy, text] of Object.entries(policies)) await vault.must('POST', `sys/policies/acl/${policy}`, { policy: text });
    await vault.must('POST', `auth/kubernetes/role/${name}`, {
      bound_service_account_names: [serviceAccount],
      bound_service_account_namespaces: [namespace],
      audience: 'vault',
      token_policies: Object.keys(policies),
      token_ttl: '1h',
    });
  }

  async function apply(example: string): Promise<void> {
    const out = await kube.kubectl(['apply', '--server-side', '--field-manager=real-suite', '-f', join(REPO, 'examples', example)]);
    assert.match(out, /secretproviderclass\.secrets-store\.csi\.x-k8s\.io\/\S+ serverside-applied/);
  }

  before(async function () {
    this.timeout(900_000);
    dir = await mkdtemp(join(tmpdir(), 'vcp-real-examples-'));
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
    const driverKubeconfig = await installDriver(kube);
    for (const ns of ['prod', 'test', 'apps', 'ci']) await kube.must('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    // The examples' Pods without a serviceAccountName run as "default", which the controller manager would create.
    for (const ns of ['apps', 'ci']) await kube.must('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'default' } });
    const reviewerJwt = await createReviewer(kube);

    vault = await RealVault.start();
    audit = await VaultAudit.enable(vault, join(dir, 'vault-audit.log'));
    await configureKubernetesAuth(vault, kube, reviewerJwt);
    postgres = await Postgres.start();

    // examples/ssh-key-pair.yaml
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'deploy@real-suite', '-f', join(dir, 'id_ed25519')]);
    sshPrivateKey = await readFile(join(dir, 'id_ed25519'), 'utf8');
    sshPublicKey = await readFile(join(dir, 'id_ed25519.pub'), 'utf8');
    await vault.must('POST', 'secret/data/ssh/deploy-key', { data: { 'ssh-privatekey': sshPrivateKey, 'ssh-publickey': sshPublicKey } });
    await role('git-sync', 'git-sync', 'apps', { 'ssh-deploy-key': 'path "secret/data/ssh/deploy-key" { capabilities = ["read"] }' });
    // examples/dotfile.yaml
    await vault.must('POST', 'secret/data/dotfile', { data: { value: 'hidden-value' } });
    await role('dotfile-reader', 'default', 'apps', { 'dotfile-reader': 'path "secret/data/dotfile" { capabilities = ["read"] }' });
    // examples/prod-test-credentials.yaml
    await postgres.configureVault(vault, { 'prod-db': ['app-prod'], 'test-db': ['app-test'] }, { default: '24h', max: '72h' });
    await role('app-prod', 'app', 'prod', { 'app-prod': 'path "database/creds/app-prod" { capabilities = ["read"] }' });
    await role('app-test', 'app', 'test', { 'app-test': 'path "database/creds/app-test" { capabilities = ["read"] }' });
    // examples/tls-from-pki.yaml
    await vault.must('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
    await vault.must('POST', 'pki/root/generate/internal', { common_name: 'Real Suite Examples CA', ttl: '87600h', key_type: 'ec', key_bits: 256 });
    await vault.must('POST', 'pki/roles/web', { allowed_domains: 'prod.svc.cluster.local', allow_subdomains: true, max_ttl: '72h' });
    await role('web', 'web', 'prod', { 'web-pki': 'path "pki/issue/web" { capabilities = ["create", "update"] }' });
    // examples/registry-credentials.yaml
    await vault.must('POST', 'secret/data/registry/ci', { data: { dockerconfigjson: dockerConfig } });
    await role('registry-ci', 'registry-credentials', 'ci', { 'registry-ci': 'path "secret/data/registry/ci" { capabilities = ["read"] }' });
    // examples/synced-secret.yaml
    await vault.must('POST', 'secret/data/app/db', { data: { username: 'app', password: 'app-pw-1' } });
    await role('app-db', 'app', 'apps', { 'app-db': 'path "secret/data/app/db" { capabilities = ["read"] }' });
    // examples/basic-auth.yaml
    await vault.must('POST', 'secret/data/proxy/upstream', { data: { username: 'proxy', password: 'upstream-pw' } });
    await role('proxy', 'proxy', 'apps', { 'proxy-upstream': 'path "secret/data/proxy/upstream" { capabilities = ["read"] }' });

    for (const example of ['ssh-key-pair.yaml', 'dotfile.yaml', 'prod-test-credentials.yaml', 'tls-from-pki.yaml', 'registry-credentials.yaml', 'synced-secret.yaml', 'basic-auth.yaml']) {
      await apply(example);
    }

    provider = await RealSuiteProvider.start(vault.address);
    driver = await RealCsiDriver.start({ kubeconfig: driverKubeconfig, providerDir: provider.socketDir, rotationPollInterval: '1s' });
    await audit.mark();
  });

  after(async () => {
    await driver?.stop();
    await provider?.stop();
    await vault?.stop();
    await postgres?.stop();
    await kube?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('ssh-key-pair.yaml: the private key (0400) and the public key from one KV read, and the private key is the pair of the public one', async () => {
    const gitSync = await pod('apps', 'git-sync');
    const m = await publishVolume(gitSync, 'secret-volume');
    ok(m);
    assert.deepEqual([...m.files.keys()].sort(), ['ssh-privatekey', 'ssh-publickey']);
    assert.equal(m.files.get('ssh-privatekey')?.text, sshPrivateKey);
    assert.equal(m.files.get('ssh-privatekey')?.mode, 0o400);
    assert.equal(m.files.get('ssh-publickey')?.text, sshPublicKey);
    assert.equal(m.files.get('ssh-publickey')?.mode, 0o644);
    // ssh itself derives the public key from the mounted private key.
    const copy = join(dir, 'mounted-key');
    await writeFile(copy, m.files.get('ssh-privatekey')?.text ?? '', { mode: 0o600 });
    const derived = execFileSync('ssh-keygen', ['-y', '-f', copy], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
    assert.equal(derived, sshPublicKey.trim().split(' ').slice(0, 2).join(' '));
    assert.equal((await audit.requests('secret/data/ssh/deploy-key')).length, 1, 'both keys come from one read of the secret');
  });

  it('dotfile.yaml: a dotfile key, alone in the volume', async () => {
    const m = await publishVolume(await pod('apps', 'secret-dotfiles-pod'), 'secret-volume');
    ok(m);
    assert.deepEqual([...m.files.keys()], ['.secret-file']);
    assert.equal(m.files.get('.secret-file')?.text, 'hidden-value');
  });

  describe('prod-test-credentials.yaml: one pod template, prod and test database credentials', () => {
    let prodPod: PodRef;
    let testPod: PodRef;
    let prodFirst: PublishAnswer;

    before(async () => {
      const prod = (await kube.must('GET', '/apis/apps/v1/namespaces/prod/deployments/app')) as DeploymentObject;
      const test = (await kube.must('GET', '/apis/apps/v1/namespaces/test/deployments/app')) as DeploymentObject;
      assert.deepEqual(prod.spec.template, test.spec.template, 'the same pod template in both namespaces');
      prodPod = await podFromDeployment('prod', 'app', 'app-7d4b9c8f6-prod1');
      testPod = await podFromDeployment('test', 'app', 'app-7d4b9c8f6-test1');
    });

    it('each namespace gets a real PostgreSQL user of its own database role, files 0440', async () => {
      prodFirst = await publishVolume(prodPod, 'db-credentials');
      ok(prodFirst);
      const t = await publishVolume(testPod, 'db-credentials');
      ok(t);
      const prodUser = prodFirst.files.get('db/username')?.text ?? '';
      const testUser = t.files.get('db/username')?.text ?? '';
      // Vault's PostgreSQL usernames: v-<auth display name>-<database role>-<random>-<time>.
      assert.match(prodUser, /^v-[^-]+-app-prod-/);
      assert.match(testUser, /^v-[^-]+-app-test-/);
      for (const m of [prodFirst, t]) {
        assert.deepEqual([...m.files.keys()].sort(), ['db/password', 'db/username']);
        assert.equal(m.files.get('db/username')?.mode, 0o440);
        assert.equal(m.files.get('db/password')?.mode, 0o440);
      }
      for (const user of [prodUser, testUser]) assert.equal(postgres.query(`SELECT count(*) FROM pg_roles WHERE rolname = '${user.replace(/'/g, "''")}'`), '1');
      assert.deepEqual(
        (await audit.requests('database/creds/')).map((r) => r.path).sort(),
        ['database/creds/app-prod', 'database/creds/app-test'],
        'one credential read per pod',
      );
    });

    it('a test pod given a copy of the prod SecretProviderClass is denied by Vault: no file, no prod credential', async () => {
      const prodSpc = (await kube.must('GET', `${SPC_API}/namespaces/prod/secretproviderclasses/db-credentials`)) as { spec: Record<string, unknown> };
      await kube.must('POST', `${SPC_API}/namespaces/test/secretproviderclasses`, {
        apiVersion: 'secrets-store.csi.x-k8s.io/v1',
        kind: 'SecretProviderClass',
        metadata: { name: 'db-credentials-copied-from-prod' },
        spec: prodSpc.spec,
      });
      const before = (await audit.requests('database/creds/app-prod')).length;
      // Another volume of the pod (its own target path): the first publish of a volume is the one whose failure the
      // driver reports, where a failed republish of a mounted one is masked.
      const m = await driver.publish({
        pod: testPod,
        volumeName: 'db-credentials-copy',
        volumeAttributes: { secretProviderClass: 'db-credentials-copied-from-prod' },
        tokens: { vault: await podToken(kube, testPod) },
      });
      assert.notEqual(m.grpcCode, '');
      assert.match(m.grpcMessage, /failed to mount secrets store objects for pod test\/app-7d4b9c8f6-test1/);
      assert.match(m.grpcMessage, /app-prod/);
      assert.match(m.grpcMessage, /permission denied|403|not authorized|denied/i);
      assert.equal(m.files.size, 0);
      assert.equal((await audit.requests('database/creds/app-prod')).length, before, 'Vault served no prod credential');
    });

    it('republished with rotation enabled and unchanged inputs, the prod pod keeps its credential and Vault serves no second read', async () => {
      const republishes = 3;
      const mountsBefore = providerMounts(prodPod);
      for (let i = 0; i < republishes; i++) {
        await sleep(1_100); // past --rotation-poll-interval, or the driver answers without calling the provider
        const m = await publishVolume(prodPod, 'db-credentials');
        ok(m);
        assert.equal(m.files.get('db/username')?.text, prodFirst.files.get('db/username')?.text);
        assert.equal(m.files.get('db/password')?.text, prodFirst.files.get('db/password')?.text);
      }
      await expectProviderMounts(prodPod, mountsBefore, republishes, 'every republish reached our provider');
      const reads = await audit.requests('database/creds/app-prod');
      assert.equal(reads.length, 1, `one read of database/creds/app-prod for the mount and its ${republishes} republishes`);
      assert.equal(postgres.query("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%-app-prod-%'"), '1', 'PostgreSQL holds one prod user');
    });
  });

  it('tls-from-pki.yaml: one certificate for the three objects, the key 0400 and its pair, verifying against the CA; a republish keeps it', async () => {
    const web = await pod('prod', 'web');
    const m = await publishVolume(web, 'tls');
    ok(m);
    assert.deepEqual([...m.files.keys()].sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    const cert = new X509Certificate(m.files.get('tls.crt')?.text ?? '');
    assert.match(cert.subject, /CN=web\.prod\.svc\.cluster\.local/);
    const ca = new X509Certificate(m.files.get('ca.crt')?.text ?? '');
    assert.ok(cert.verify(ca.publicKey), 'tls.crt is signed by ca.crt');
    const vaultCa = new X509Certificate((await vault.api('GET', 'pki/ca/pem', undefined, null)).body as string);
    assert.ok(cert.verify(vaultCa.publicKey), "tls.crt is signed by Vault's CA");
    assert.equal(ca.fingerprint256, vaultCa.fingerprint256);
    const keyPublic = createPublicKey(createPrivateKey(m.files.get('tls.key')?.text ?? '')).export({ type: 'spki', format: 'pem' });
    assert.equal(cert.publicKey.export({ type: 'spki', format: 'pem' }), keyPublic, 'tls.key is the key of tls.crt');
    assert.equal(m.files.get('tls.key')?.mode, 0o400);
    assert.equal((await audit.requests('pki/issue/web')).length, 1, 'one certificate issued for the three objects');

    await sleep(1_100);
    const mountsBefore = providerMounts(web);
    const again = await publishVolume(web, 'tls');
    ok(again);
    await expectProviderMounts(web, mountsBefore, 1, 'the republish reached our provider');
    assert.equal(again.files.get('tls.crt')?.text, m.files.get('tls.crt')?.text);
    assert.equal((await audit.requests('pki/issue/web')).length, 1, 'no new certificate on republish');
  });

  it('registry-credentials.yaml: .dockerconfigjson (0400) and a synced kubernetes.io/dockerconfigjson Secret the API server accepts', async () => {
    const holder = await podFromDeployment('ci', 'registry-credentials', 'registry-credentials-6f5c-x1');
    const m = await publishVolume(holder, 'registry-credentials');
    ok(m);
    assert.equal(m.files.get('.dockerconfigjson')?.text, dockerConfig);
    assert.equal(m.files.get('.dockerconfigjson')?.mode, 0o400);
    const secret = await syncedSecret('ci', 'regcred');
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    assert.deepEqual(Object.keys(secret.data ?? {}), ['.dockerconfigjson']);
    assert.equal(decoded(secret, '.dockerconfigjson'), dockerConfig);
  });

  it('basic-auth.yaml: username and password files and a synced kubernetes.io/basic-auth Secret', async () => {
    const m = await publishVolume(await pod('apps', 'proxy'), 'upstream-auth');
    ok(m);
    assert.equal(m.files.get('username')?.text, 'proxy');
    assert.equal(m.files.get('password')?.text, 'upstream-pw');
    assert.equal(m.files.get('password')?.mode, 0o400);
    const secret = await syncedSecret('apps', 'upstream-basic-auth');
    assert.equal(secret.type, 'kubernetes.io/basic-auth');
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['password', 'username']);
    assert.equal(decoded(secret, 'username'), 'proxy');
    assert.equal(decoded(secret, 'password'), 'upstream-pw');
  });

  it('synced-secret.yaml: an Opaque Secret with its labels; a changed KV value reaches the file and the Secret on republish', async () => {
    const app = await podFromDeployment('apps', 'app', 'app-5c6d7e8f9-a1');
    const m = await publishVolume(app, 'app-db');
    ok(m);
    assert.equal(m.files.get('db-password')?.text, 'app-pw-1');
    const secret = await syncedSecret('apps', 'app-db');
    assert.equal(secret.type, 'Opaque');
    assert.equal(secret.metadata.labels?.['app.kubernetes.io/name'], 'app');
    assert.equal(decoded(secret, 'username'), 'app');
    assert.equal(decoded(secret, 'password'), 'app-pw-1');

    await vault.must('POST', 'secret/data/app/db', { data: { username: 'app', password: 'app-pw-2' } });
    await sleep(1_100); // past --rotation-poll-interval, as the kubelet's next republish would be
    const again = await publishVolume(app, 'app-db');
    ok(again);
    assert.equal(again.files.get('db-password')?.text, 'app-pw-2');
    await until(
      async () => decoded((await kube.must('GET', '/api/v1/namespaces/apps/secrets/app-db')) as SecretObject, 'password') === 'app-pw-2',
      'the synced Secret to follow the new value',
      60_000,
    );
  });
});
