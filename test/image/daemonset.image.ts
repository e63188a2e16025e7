/**
 * The image run as deploy/base runs it, judged by the real suite's core scenarios. The container gets what its
 * DaemonSet gives it (test/image/harness/daemonset.ts reads every field from the rendered manifests): the user,
 * a read-only root with no tmpfs, every capability dropped, no new privileges, the memory and CPU limits, the
 * arguments (--hmac-secret-name included) and environment (VAULT_ADDR as written, POD_NAMESPACE from the downward
 * API), the providers hostPath directory bind-mounted, the health port, and what a kubelet adds: the projected
 * ServiceAccount token of the manifests' ServiceAccount at the in-cluster path and KUBERNETES_SERVICE_HOST/PORT of a
 * real API server, where deploy/base is applied. Vault answers at the manifest's VAULT_ADDR: its name resolves (as
 * the cluster's DNS would) to a proxy on its port in front of real Vault. Mounts go through the driver's own client
 * code (driver-client) on the directory's socket, as the driver on the node dials it.
 *
 * Runs in a network namespace of its own with loopback only (scripts/image/test.sh): the container shares it
 * (--network=host there), so the manifest's ports (8200, 8080) are free and nothing leaves the machine.
 */
import assert from 'node:assert/strict';
import { chmod, chown, lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageNodeFlags, imageNodeOptions } from '../../scripts/image/dockerfile.js';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy.js';
import { writeServiceAccountFiles } from '../real/harness/in-cluster-provider.js';
import { KubeControlPlane } from '../real/harness/kube.js';
import { until } from '../real/harness/processes.js';
import { RealDriverClient } from '../real/harness/driver-client.js';
import { readTarget, World, WEB_POD, type Pod } from '../real/harness/world.js';
import { ContainerProvider } from './harness/container-provider.js';
import { memoryBytes, providerDaemonSet, type ProviderDaemonSet } from './harness/daemonset.js';
import { builtImage } from './harness/podman.js';
import { assertCertificateAndKey, assertCoreFiles, CORE_OBJECTS, PKI_OBJECTS } from '../helpers/core-mount.js';

const REPO = new URL('../../', import.meta.url).pathname;
const POD_NAME = 'vault-csi-provider-node1';
const KV = [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }];

describe('the image as deploy/base runs it: real Vault, PostgreSQL, the API server, the driver client', function () {
  this.timeout(300_000);
  let ds: ProviderDaemonSet;
  let kube: KubeControlPlane;
  let w: World;
  let provider: ContainerProvider;
  let vaultProxy: TcpFaultProxy;
  let saDir: string;

  const arg = (name: string): string | undefined => ds.container.args?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const health = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${ds.healthPort}${path}`);
  const inflight = async (): Promise<number> => Number(/^vault_csi_provider_mounts_in_flight (\d+)/m.exec(await (await health('/metrics')).text())?.[1] ?? 0);

  before(async function () {
    this.timeout(600_000);
    // The manifest's ports are bound on loopback of this namespace: only where there is nothing else.
    assert.deepEqual(Object.keys(networkInterfaces()), ['lo'], 'run through `npm run test:image`: it gives this suite a network namespace of its own');
    ds = await providerDaemonSet(join(REPO, 'deploy/base'));
    const vaultAddr = new URL(ds.container.env?.find((e) => e.name === 'VAULT_ADDR')?.value ?? '');
    assert.equal(vaultAddr.protocol, 'http:', 'the manifest VAULT_ADDR is plain HTTP (vault-helm default)');

    kube = await KubeControlPlane.start();
    await kube.kubectl(['apply', '--server-side', '-k', join(REPO, 'deploy/base')]);
    saDir = await mkdtemp(join(tmpdir(), 'vcp-image-sa-'));
    await writeServiceAccountFiles(kube, { namespace: ds.namespace, serviceAccount: ds.serviceAccountName, podName: POD_NAME }, saDir);
    // The kubelet's projected kube-api-access volume: a 0755 directory of defaultMode 0644 files, readable by any user
    // of the container.
    for (const f of await readdir(saDir)) await chmod(join(saDir, f), 0o644);
    await chmod(saDir, 0o755);
    const api = new URL(kube.server);

    w = await World.start({
      postgres: true,
      startProvider: async (vaultAddress) => {
        vaultProxy = await TcpFaultProxy.start(Number(new URL(vaultAddress).port), Number(vaultAddr.port));
        provider = await ContainerProvider.start({
          image: builtImage(),
          daemonSet: ds,
          namePrefix: 'vcp-image-test',
          serviceAccountDir: saDir,
          kubeletEnv: { KUBERNETES_SERVICE_HOST: api.hostname, KUBERNETES_SERVICE_PORT: api.port },
          hosts: { [vaultAddr.hostname]: '127.0.0.1' },
          podName: POD_NAME,
        });
        return provider;
      },
    });
    const v = w.vault;
    await v.must('POST', 'secret/data/db-pass', { data: { password: 'hunter2-kv2', port: 5432, nested: { b: [1, 2], a: 'x' } } });
    await v.must('POST', 'secret/data/dotfiles', { data: { value: 'dot-value' } });
    await v.must('POST', 'kv/legacy', { token: 'kv1-value' });
  });

  after(async () => {
    await w?.close();
    await vaultProxy?.close();
    await kube?.stop();
    if (saDir !== undefined) await rm(saDir, { recursive: true, force: true });
  });

  it('answers Version through the driver client and the DaemonSet probes on its health port', async () => {
    const m = await w.mount({ objects: KV });
    assert.equal(m.error, '', m.grpcMessage);
    assert.match(m.runtimeVersion ?? '', /^\d+\.\d+\.\d+/);
    const probes = [ds.container.readinessProbe?.httpGet, ds.container.livenessProbe?.httpGet];
    for (const probe of probes) {
      assert.equal(probe?.port, ds.healthPort);
      assert.equal((await health(probe.path ?? '/')).status, 200, probe.path);
    }
    assert.equal((await health(String(ds.daemonSet.spec?.template.metadata?.annotations?.['prometheus.io/path']))).status, 200);
  });

  it('runs as the DaemonSet says: its user, no capability, no new privileges, seccomp, a read-only root, its limits and NODE_OPTIONS', async () => {
    const pid = await provider.pid();
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
    const sc = ds.container.securityContext!;
    assert.deepEqual(field('Uid').split(/\s+/).map(Number), Array(4).fill(sc.runAsUser));
    assert.deepEqual(field('Gid').split(/\s+/).map(Number), Array(4).fill(sc.runAsGroup));
    assert.deepEqual(sc.capabilities?.drop, ['ALL']);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(BigInt(`0x${field(set)}`), 0n, set);
    assert.equal(field('NoNewPrivs'), '1');
    assert.equal(field('Seccomp'), '2', 'a seccomp filter (RuntimeDefault)');
    // The root is mounted read-only, and nothing writable is laid over it but the DaemonSet's volume (no tmpfs on /tmp
    // as podman would add; /dev/shm is the runtime's, as in a pod).
    const mounts = (await readFile(`/proc/${pid}/mountinfo`, 'utf8')).trim().split('\n').map((l) => l.split(' '));
    const root = mounts.find((m) => m[4] === '/');
    assert.match(root?.[5] ?? '', /(?:^|,)ro(?:,|$)/, 'the root filesystem is read-only');
    const writable = mounts.filter((m) => /(?:^|,)rw(?:,|$)/.test(m[5] ?? '') && !/^\/(?:proc|sys|dev)(?:\/|$)/.test(m[4] ?? '')).map((m) => m[4]);
    // The runtime mounts the volumes in no fixed order.
    assert.deepEqual(writable.sort(), ds.container.volumeMounts?.filter((m) => m.readOnly !== true).map((m) => m.mountPath).sort(), 'writable: the DaemonSet\'s volumes alone');
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    assert.deepEqual(cmdline, ['node', ...imageNodeFlags().slice(imageNodeOptions().length), '/app/dist/main.js', ...(ds.container.args ?? [])]);
    // The build stage wrote the code cache under these same flags with the same node: V8 takes it.
    assert.equal(provider.lines().find((l) => l['msg'] === 'provider serving')?.['codeCache'], 'used');
    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    assert.ok(environ.includes(`NODE_OPTIONS=${imageNodeOptions().join(' ')}`));
    assert.ok(environ.includes(`POD_NAMESPACE=${ds.namespace}`));
    const memoryCgroup = /^\d+:memory:(.*)$/m.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
    const limit = Number(await readFile(`/sys/fs/cgroup/memory${memoryCgroup}/memory.limit_in_bytes`, 'utf8'));
    assert.equal(limit, memoryBytes(ds.container.resources?.limits?.['memory'] ?? ''));
  });

  it('serves on a socket in the hostPath directory that the driver, root on the node, can dial and no one else', async () => {
    const s = await lstat(provider.socketPath);
    assert.ok(s.isSocket());
    assert.equal(s.uid, ds.container.securityContext?.runAsUser);
    assert.equal(s.mode & 0o007, 0, `socket mode ${(s.mode & 0o777).toString(8)}`);
  });

  it('keeps its HMAC key in the Secret --hmac-secret-name names, through the API server, as its ServiceAccount', async () => {
    const serving = provider.lines().find((l) => l['msg'] === 'provider serving');
    assert.equal(serving?.['inCluster'], true);
    const secret = (await kube.must('GET', `/api/v1/namespaces/${ds.namespace}/secrets/${arg('hmac-secret-name')}`)) as { data?: Record<string, string> };
    assert.ok(Object.keys(secret.data ?? {}).length > 0);
  });

  it('mounts KV v2 and v1 keys, a dotfile and nested paths with their modes', async () => {
    const m = await w.mount({
      objects: CORE_OBJECTS,
    });
    assert.equal(m.error, '', m.grpcMessage);
    assertCoreFiles(m.files);
    for (const v of Object.values(m.objectVersions ?? {})) assert.match(v, /^[A-Za-z0-9_-]{43}$/);
  });

  it('issues one PKI certificate for the certificate and key objects', async () => {
    await w.mark();
    const m = await w.mount({ objects: PKI_OBJECTS });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal((await w.vaultRequests('pki/issue/')).length, 1);
    assertCertificateAndKey(m.files);
  });

  it('reads a database credential for a mount and reuses it on republish: no new database/creds in the audit log', async () => {
    const objects = [
      { objectName: 'db/username', secretPath: 'database/creds/web', secretKey: 'username' },
      { objectName: 'db/password', secretPath: 'database/creds/web', secretKey: 'password' },
    ];
    const target = await w.newTarget();
    await w.mark();
    const first = await w.mount({ objects, target });
    assert.equal(first.error, '', first.grpcMessage);
    const user = first.files.get('db/username')!.text;
    assert.equal(w.postgres!.query(`SELECT count(*) FROM pg_roles WHERE rolname = '${user.replace(/'/g, "''")}'`), '1');
    assert.equal((await w.vaultRequests('database/creds/')).length, 1);
    await w.mark();
    const again = await w.mount({ objects, target });
    assert.equal(again.error, '', again.grpcMessage);
    assert.equal(again.files.get('db/username')!.text, user);
    assert.deepEqual(again.objectVersions, first.objectVersions);
    assert.equal((await w.vaultRequests('database/creds/')).length, 0, 'the republish reused the credential');
  });

  it('denies a ServiceAccount the role does not bind, and writes nothing', async () => {
    const intruder: Pod = { ...WEB_POD, serviceAccountName: 'intruder', name: 'intruder-0', uid: '11111111-2222-4333-8444-555555555555' };
    const m = await w.mount({ pod: intruder, objects: KV });
    assert.equal(m.grpcCode, 'PermissionDenied', m.error);
    assert.match(m.grpcMessage, /web/);
    assert.equal(m.files.size, 0);
  });

  it('drains on SIGTERM (podman stop): the mount in flight completes, the exit is clean, the socket is removed; the next container serves', async () => {
    const before = await w.mount({ objects: KV });
    assert.equal(before.error, '', before.grpcMessage);
    const draining = provider.current;
    // Vault slowed down (answers held 3 s) holds a mount in flight, on a pod of its own: a login and a read.
    vaultProxy.answerDelayMs = 3_000;
    const pod: Pod = { ...WEB_POD, name: 'web-drain', uid: '66666666-7777-4888-8999-000000000000' };
    const held = w.mount({ pod, objects: KV, timeoutMs: 60_000 });
    try {
      await until(async () => (await inflight()) > 0, 'the mount to be in flight');
      const exit = provider.stopContainer(draining);
      const m = await held;
      assert.equal(m.error, '', m.grpcMessage);
      assert.equal(m.files.get('p')?.text, 'hunter2-kv2');
      assert.equal(await exit, 0, draining.child.log.slice(-2000));
    } finally {
      vaultProxy.answerDelayMs = 0;
    }
    // It stops listening at once (the path goes with it) and leaves nothing at the path for the next container.
    const stopped = provider.lines(draining).find((l) => l['msg'] === 'gRPC server stopped');
    assert.equal(stopped?.['outcome'], 'clean');
    assert.match(String(stopped?.['socket']), /^(?:removed|already-gone)$/);
    await assert.rejects(lstat(provider.socketPath), /ENOENT/);
    // The DaemonSet's next pod: a new container on the same directory.
    await provider.launch();
    const after = await w.mount({ objects: KV });
    assert.equal(after.error, '', after.grpcMessage);
    assert.deepEqual(after.objectVersions, before.objectVersions, 'the HMAC key survived: it is in the Secret');
  });

  it('after SIGKILL leaves a stale socket, which the next container replaces before it serves', async () => {
    assert.equal(await provider.killContainer(), 137);
    assert.ok((await lstat(provider.socketPath)).isSocket(), 'a killed provider cannot remove its socket');
    await provider.launch();
    assert.ok(provider.lines().some((l) => l['existing'] === 'stale-socket-replaced'), provider.current.child.log.slice(-2000));
    const m = await w.mount({ objects: KV });
    assert.equal(m.error, '', m.grpcMessage);
  });
  describe('the non-root overlay (deploy/overlays/non-root)', () => {
    let nonRoot: ProviderDaemonSet;
    const start = (prepareNode: (hostPaths: Readonly<Record<string, string>>) => Promise<void>): Promise<ContainerProvider> =>
      ContainerProvider.start({
        image: builtImage(),
        daemonSet: nonRoot,
        namePrefix: 'vcp-image-nonroot',
        serviceAccountDir: saDir,
        kubeletEnv: { KUBERNETES_SERVICE_HOST: new URL(kube.server).hostname, KUBERNETES_SERVICE_PORT: new URL(kube.server).port },
        hosts: { [new URL(ds.container.env!.find((e) => e.name === 'VAULT_ADDR')!.value!).hostname]: '127.0.0.1' },
        podName: POD_NAME,
        prepareNode,
      });

    before(async () => {
      nonRoot = await providerDaemonSet(join(REPO, 'deploy/overlays/non-root'));
      assert.equal(nonRoot.container.securityContext?.runAsUser, 1000);
      // One node, one provider: the base's container goes first (they share the health port).
      await provider.stopContainer();
    });

    it('refuses to start in a node directory left root:root 0755, and says why', async () => {
      await assert.rejects(
        start(() => Promise.resolve()),
        (err: Error) => /EACCES|permission denied/i.test(err.message),
      );
    });

    it('serves from a node directory prepared as docs/operations.md says (0775, group 1000): the driver, root, dials its socket', async () => {
      const p = await start(async (hostPaths) => {
        for (const dir of Object.values(hostPaths)) {
          await chown(dir, 0, 1000);
          await chmod(dir, 0o775);
        }
      });
      const driver = new RealDriverClient(p.socketDir);
      try {
        const s = await lstat(p.socketPath);
        assert.equal(s.uid, 1000);
        assert.equal(s.mode & 0o007, 0, `socket mode ${(s.mode & 0o777).toString(8)}`);
        const target = await w.newTarget();
        const m = await driver.mount(w.request({ objects: KV }, target));
        assert.equal(m.error, '', m.grpcMessage);
        assert.equal((await readTarget(target)).get('p')?.text, 'hunter2-kv2');
        assert.equal(await p.stopContainer(), 0);
      } finally {
        await driver.close();
        await p.stop();
      }
    });
  });
});
