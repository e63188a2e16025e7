/**
 * The provider's one Kubernetes client (src/kubernetes/kube-client.ts) against the real API server, as the
 * ServiceAccount deploy/base creates, with the RBAC of the token-request-fallback overlay: the fallback for real Pods, the answers
 * a real authoriser and real validation give (403, 404), two providers racing to create the HMAC Secret (409), and
 * an API server too slow to answer in time (a loopback proxy holding its answers back) — each a clear error code,
 * and the daemon serving on. kube-provider-in-cluster.real.ts covers the daemon's first start, restart and the
 * fallback's audit trail; this file covers the client's failure answers.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '../../../src/kubernetes/kube-client.js';
import { KubeSecretHmacKeySource } from '../../../src/kubernetes/hmac-secret.js';
import { KubeTokenRequester } from '../../../src/kubernetes/token-requester.js';
import { rejection } from '../../helpers/rejection.js';
import { TcpFaultProxy } from '../../helpers/tcp-fault-proxy.js';
import { RealDriverClient } from '../harness/driver-client.js';
import { baseIdentity, InClusterProvider, startBaseProvider } from '../harness/in-cluster-provider.js';
import { KubeControlPlane } from '../harness/kube.js';
import { mountWebSecrets, podToken, startProdWorkloads, WEB_OBJECTS, type PodRef } from '../harness/kube-vault.js';
import { RealVault } from '../harness/vault-dev.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const HMAC_SECRET = 'vault-csi-provider-hmac-key';
const SECRET_PATH = `/api/v1/namespaces/csi/secrets/${HMAC_SECRET}`;
interface Claims {
  readonly aud: string[];
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
  readonly 'kubernetes.io': { readonly namespace: string; readonly pod?: { readonly name: string; readonly uid: string } };
}

function claimsOf(jwt: string): Claims {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Claims;
}

describe('real control plane: the one Kubernetes client (TokenRequest, HMAC Secret) and its failures', function () {
  let kube: KubeControlPlane;
  let vault: RealVault;
  let dir: string;
  let web: PodRef;
  let worker: PodRef;

  /** A client config as the named ServiceAccount of namespace csi, with a token the real TokenRequest API minted. */
  async function identity(serviceAccount: string): Promise<KubeConfig> {
    const minted = (await kube.must('POST', `/api/v1/namespaces/csi/serviceaccounts/${serviceAccount}/token`, { spec: { expirationSeconds: 3600 } })) as {
      status: { token: string };
    };
    return { server: kube.server, skipTLSVerify: false, caData: kube.caPem, token: minted.status.token };
  }

  before(async function () {
    this.timeout(600_000);
    dir = await mkdtemp(join(tmpdir(), 'vcp-real-kube-client-'));
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
    // deploy/base with the TokenRequest fallback's ClusterRole (its overlay): this file exercises the fallback.
    await kube.kubectl(['apply', '--server-side', '-k', join(REPO, 'deploy/overlays/token-request-fallback')]);
    // A provider identity without any rule (a forgotten RoleBinding), and one that may read but not create Secrets.
    for (const sa of ['no-rbac', 'read-only']) await kube.must('POST', '/api/v1/namespaces/csi/serviceaccounts', { metadata: { name: sa } });
    await kube.must('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/csi/roles', {
      metadata: { name: 'read-only' },
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [HMAC_SECRET], verbs: ['get'] }],
    });
    await kube.must('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/csi/rolebindings', {
      metadata: { name: 'read-only' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-only' },
      subjects: [{ kind: 'ServiceAccount', name: 'read-only', namespace: 'csi' }],
    });
    ({ web, worker, vault } = await startProdWorkloads(kube, 'one-client'));
  });

  after(async () => {
    await vault?.stop();
    await kube?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  describe('the client in this process, as the provider identities', () => {
    it('TokenRequest for a real Pod: a pod-bound token for the configured audience, 15 minutes, that the API server accepts', async () => {
      const jwt = await new KubeTokenRequester(await identity('vault-csi-provider')).requestToken(worker, 'vault');
      const claims = claimsOf(jwt);
      assert.deepEqual(claims.aud, ['vault']);
      assert.equal(claims.sub, 'system:serviceaccount:prod:worker');
      assert.equal(claims.exp - claims.iat, 900);
      assert.deepEqual(claims['kubernetes.io'].pod, { name: 'worker-0', uid: worker.uid });
      const review = (await kube.must('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token: jwt, audiences: ['vault'] } })) as {
        status: { authenticated?: boolean; user?: { username: string; extra?: Record<string, string[]> } };
      };
      assert.equal(review.status.authenticated, true);
      assert.equal(review.status.user?.username, 'system:serviceaccount:prod:worker');
      assert.deepEqual(review.status.user?.extra?.['authentication.kubernetes.io/pod-name'], ['worker-0']);
    });

    it('an empty audience asks for the API server\'s own audiences', async () => {
      const jwt = await new KubeTokenRequester(await identity('vault-csi-provider')).requestToken(worker, '');
      assert.deepEqual(claimsOf(jwt).aud, [kube.issuer, 'vault']);
    });

    it('403 from the real authoriser (no rule for serviceaccounts/token): TOKEN_UNAVAILABLE naming the verb, resource and RBAC to fix', async () => {
      const config = await identity('no-rbac');
      const err = await rejection(new KubeTokenRequester(config).requestToken(worker, 'vault'));
      assert.equal(err.code, 'TOKEN_UNAVAILABLE');
      assert.equal(err.context.httpStatus, 403);
      assert.match(err.message, /403 Forbidden: serviceaccounts "worker" is forbidden: User "system:serviceaccount:csi:no-rbac" cannot create resource "serviceaccounts\/token"/);
      assert.match(err.message, /needs create on serviceaccounts\/token for ServiceAccount "worker" in prod \(the ClusterRole and ClusterRoleBinding of deploy\/overlays\/token-request-fallback/);
      assert.ok(config.token !== undefined && !err.message.includes(config.token));
    });

    it('403 on the HMAC Secret: get missing, then create missing, each named, never INTERNAL', async () => {
      const noRbac = await rejection(new KubeSecretHmacKeySource(await identity('no-rbac'), 'csi', HMAC_SECRET).getKey());
      assert.equal(noRbac.code, 'KUBERNETES_API_ERROR');
      assert.equal(noRbac.context.httpStatus, 403);
      assert.match(noRbac.message, /cannot read the HMAC key Kubernetes Secret csi\/vault-csi-provider-hmac-key: the Kubernetes API answered 403 Forbidden: secrets "vault-csi-provider-hmac-key" is forbidden: User "system:serviceaccount:csi:no-rbac" cannot get resource "secrets"/);
      assert.match(noRbac.message, /needs get and create on secrets in csi/);

      assert.equal((await kube.api('GET', SECRET_PATH)).status, 404);
      const readOnly = await rejection(new KubeSecretHmacKeySource(await identity('read-only'), 'csi', HMAC_SECRET).getKey());
      assert.equal(readOnly.code, 'KUBERNETES_API_ERROR');
      assert.match(readOnly.message, /cannot create the HMAC key .*403 Forbidden: .*cannot create resource "secrets"/);
      assert.equal((await kube.api('GET', SECRET_PATH)).status, 404, 'nothing was created');
    });

    it('404 from the real API: a pod that does not exist, a ServiceAccount that does not exist', async () => {
      const requester = new KubeTokenRequester(await identity('vault-csi-provider'));
      const ghost = await rejection(requester.requestToken({ ...worker, name: 'ghost-0' }, 'vault'));
      assert.equal(ghost.code, 'TOKEN_UNAVAILABLE');
      assert.equal(ghost.context.httpStatus, 404);
      assert.match(ghost.message, /404 NotFound: pods "ghost-0" not found; the pod or its ServiceAccount does not exist/);
      const noSa = await rejection(requester.requestToken({ ...worker, serviceAccountName: 'nobody' }, 'vault'));
      assert.equal(noSa.context.httpStatus, 404);
      assert.match(noSa.message, /404 NotFound: serviceaccounts "nobody" not found/);
    });

    it('409 Conflict for a pod whose UID is not the one in the mount (deleted and recreated): named as such', async () => {
      const requester = new KubeTokenRequester(await identity('vault-csi-provider'));
      const err = await rejection(requester.requestToken({ ...worker, uid: web.uid }, 'vault'));
      assert.equal(err.code, 'TOKEN_UNAVAILABLE');
      assert.equal(err.context.httpStatus, 409);
      assert.match(err.message, /409 Conflict: Operation cannot be fulfilled on Pod "worker-0": the UID in the bound object reference \([0-9a-f-]+\) does not match the UID in record/);
      assert.match(err.message, /the pod was deleted and created again under the same name/);
    });

    it('a pod of another ServiceAccount is refused by the real API', async () => {
      const requester = new KubeTokenRequester(await identity('vault-csi-provider'));
      const err = await rejection(requester.requestToken({ ...worker, serviceAccountName: 'web' }, 'vault'));
      assert.equal(err.code, 'TOKEN_UNAVAILABLE');
      assert.equal(err.context.httpStatus, 400);
      assert.match(err.message, /400 BadRequest: cannot bind token for serviceaccount "web" to pod running with different serviceaccount name/);
    });

    it('409 on a create race: two providers starting at once end with the one key the API server stored', async () => {
      const config = await identity('vault-csi-provider');
      // The race needs both reads to find no Secret: when the two calls did not overlap, it is run again.
      for (let round = 1; ; round++) {
        await kube.api('DELETE', SECRET_PATH);
        const made: number[] = [];
        const provider = (fill: number): KubeSecretHmacKeySource =>
          new KubeSecretHmacKeySource(config, 'csi', HMAC_SECRET, { randomBytes: (n) => (made.push(fill), Buffer.alloc(n, fill)) });
        const [a, b] = await Promise.all([provider(1).getKey(), provider(2).getKey()]);
        assert.deepEqual(a, b, 'both providers use the same key');
        const stored = (await kube.must('GET', SECRET_PATH)) as { data: { key: string } };
        assert.deepEqual(Buffer.from(stored.data.key, 'base64'), a);
        if (made.length === 2) break; // both read 404 and created: one got 409 and read the winner's key
        assert.ok(round < 20, 'the two providers never raced in 20 rounds');
      }
    });
  });

  describe('the daemon against a slow API server (a loopback proxy holding answers past the 10 s request timeout)', () => {
    let proxy: TcpFaultProxy;
    let provider: InClusterProvider;
    let driver: RealDriverClient;

    const mount = (pod: PodRef, token: boolean, roleName: string) => mountWebSecrets(driver, kube, dir, pod, { token, roleName, timeoutMs: 60_000 });

    async function start(): Promise<void> {
      ({ provider, driver } = await startBaseProvider(kube, vault.address, { apiServer: `https://127.0.0.1:${proxy.port}`, flags: ['--token-request-fallback'] }));
    }

    async function stop(): Promise<void> {
      await driver?.close();
      await provider?.stop();
    }

    before(async () => {
      proxy = await TcpFaultProxy.start(Number(new URL(kube.server).port));
      await start();
    });

    after(async () => {
      await stop();
      await proxy?.close();
    });

    it('the TokenRequest fallback times out with TOKEN_UNAVAILABLE naming the timeout; mounts with a driver token go on', async function () {
      this.timeout(120_000);
      const first = await mount(web, true, 'web'); // loads the HMAC key while the API is quick
      assert.equal(first.error, '', `${first.error}\n${provider.log.slice(-2000)}`);
      proxy.answerDelayMs = 15_000;
      try {
        const slow = await mount(worker, false, 'worker');
        assert.equal(slow.errorCode, 'GRPCProviderError', slow.error);
        assert.equal(slow.grpcCode, 'Unauthenticated', slow.error);
        assert.match(slow.error, /TOKEN_UNAVAILABLE: cannot request a ServiceAccount token for pod prod\/worker-0 .*the Kubernetes API did not answer within 10 s \(request timeout\)/);
        assert.ok(slow.elapsedMs < 14_000, `answered after our timeout, not the server: ${slow.elapsedMs} ms`);
        // Vault reviews the token on the API server directly, not through the slow proxy: the daemon serves on.
        const ok = await mount(web, true, 'web');
        assert.equal(ok.error, '', ok.error);
        assert.equal(ok.files.get('password')?.text, 'one-client');
      } finally {
        proxy.answerDelayMs = 0;
      }
      assert.equal((await mount(worker, false, 'worker')).error, '', 'the fallback works again once the API answers');
      assert.doesNotMatch(provider.log, /INTERNAL/);
    });

    it('a fresh daemon cannot load the HMAC key from it: KUBERNETES_API_ERROR naming the timeout, then serves once the API answers', async function () {
      this.timeout(120_000);
      await stop();
      proxy.answerDelayMs = 15_000;
      try {
        await start();
        const slow = await mount(web, true, 'web');
        assert.equal(slow.grpcCode, 'FailedPrecondition', slow.error);
        assert.match(slow.error, /KUBERNETES_API_ERROR: cannot read the HMAC key Kubernetes Secret csi\/vault-csi-provider-hmac-key: the Kubernetes API did not answer within 10 s \(request timeout\)/);
      } finally {
        proxy.answerDelayMs = 0;
      }
      const ok = await mount(web, true, 'web');
      assert.equal(ok.error, '', ok.error);
      assert.equal(ok.files.get('password')?.text, 'one-client');
      assert.doesNotMatch(provider.log, /INTERNAL/);
    });
  });

  describe('two daemons started at once on an empty cluster', () => {
    it('both create or read the HMAC Secret and give the same object versions', async function () {
      this.timeout(180_000);
      await kube.api('DELETE', SECRET_PATH);
      const start = (node: string): Promise<InClusterProvider> =>
        InClusterProvider.start({ kube, vaultAddress: vault.address, ...baseIdentity(node) });
      const providers = await Promise.all([start('node2'), start('node3')]);
      const drivers = providers.map((p) => new RealDriverClient(p.socketDir));
      try {
        const token = JSON.stringify({ vault: await podToken(kube, web) });
        const answers = await Promise.all(
          drivers.map(async (d, i) => {
            const target = join(dir, `race-${i}`);
            await mkdir(target);
            return d.mount({
              attributes: {
                roleName: 'web',
                objects: WEB_OBJECTS,
                secretProviderClass: 'web-secrets',
                'csi.storage.k8s.io/pod.name': web.name,
                'csi.storage.k8s.io/pod.namespace': web.namespace,
                'csi.storage.k8s.io/pod.uid': web.uid,
                'csi.storage.k8s.io/serviceAccount.name': web.serviceAccountName,
                'csi.storage.k8s.io/ephemeral': 'true',
                'csi.storage.k8s.io/serviceAccount.tokens': token,
              },
              secrets: null,
              targetPath: target,
            });
          }),
        );
        for (const a of answers) assert.equal(a.error, '', a.error);
        assert.deepEqual(answers[0]?.objectVersions, answers[1]?.objectVersions);
        assert.ok(answers[0]?.objectVersions !== null);
        const logs = providers.map((p) => p.log).join('\n');
        assert.doesNotMatch(logs, /INTERNAL/);
      } finally {
        await Promise.all(drivers.map((d) => d.close()));
        await Promise.all(providers.map((p) => p.stop()));
      }
    });
  });
});
