/**
 * The Secrets Store CSI driver's own binary (test/real/csi-driver/, v1.6.1) against the real API server, and the
 * kubelet's side of its CSI node API played by csi-kubelet. The driver runs in a private mount namespace
 * (`unshare -m`): its tmpfs mounts on the target paths stay inside the test and vanish with it. csi-kubelet joins
 * that namespace (`nsenter --mount`) so it sees what a pod would see, and reads the files back.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { toolPath } from './tools.js';
import { goModuleDir, type KubeControlPlane } from './kube.js';
import { Child, freePort, until } from './processes.js';

const REPO = new URL('../../../', import.meta.url).pathname;

/**
 * What the driver needs in the API server before it starts: its own CRDs and RBAC from its module (its
 * ServiceAccount in kube-system, reading SecretProviderClasses, writing pod statuses, syncing Secrets) and our
 * CSIDriver object. Returns a kubeconfig of the driver's ServiceAccount, to run it with what those grant.
 */
export async function installDriver(kube: KubeControlPlane): Promise<string> {
  const driverDir = goModuleDir('test/real/csi-driver', 'sigs.k8s.io/secrets-store-csi-driver');
  for (const f of [
    'secrets-store.csi.x-k8s.io_secretproviderclasses.yaml',
    'secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml',
    'rbac-secretproviderclass.yaml',
    'rbac-secretprovidersyncing.yaml',
  ]) {
    await kube.kubectl(['apply', '--server-side', '-f', join(driverDir, 'deploy', f)]);
  }
  await kube.kubectl(['apply', '--server-side', '-f', join(REPO, 'deploy/driver/csidriver.yaml')]);
  await kube.kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/secretproviderclasses.secrets-store.csi.x-k8s.io',
    'crd/secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io',
  ]);
  const driverToken = (await kube.must('POST', '/api/v1/namespaces/kube-system/serviceaccounts/secrets-store-csi-driver/token', {
    spec: { expirationSeconds: 7200 },
  })) as { status: { token: string } };
  return kube.writeKubeconfig('csi-driver', kube.kubeconfig('secrets-store-csi-driver', { token: driverToken.status.token }));
}

/** What the kubelet knows of the pod whose volume it publishes. */
export interface KubeletPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

export interface PublishOptions {
  readonly pod: KubeletPod;
  /** The inline volume's name in the pod spec. */
  readonly volumeName?: string;
  /** The volume's `volumeAttributes` (secretProviderClass and any override). */
  readonly volumeAttributes: Readonly<Record<string, string>>;
  /** The tokens the kubelet requested for the CSIDriver's tokenRequests: audience → token and expiry. */
  readonly tokens?: Readonly<Record<string, { readonly token: string; readonly expirationTimestamp: string }>>;
  /** The nodePublishSecretRef's data. */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly readOnly?: boolean;
  readonly timeoutMs?: number;
}

export interface KubeletFile {
  readonly path: string;
  readonly mode: number;
  readonly text: string;
}

export interface PublishAnswer {
  readonly grpcCode: string;
  readonly grpcMessage: string;
  /** The target path is a tmpfs mount point in the driver's mount namespace. */
  readonly mounted: boolean;
  readonly files: ReadonlyMap<string, KubeletFile>;
  readonly targetPath: string;
  readonly volumeId: string;
  readonly elapsedMs: number;
}

interface RawAnswer {
  readonly id: string;
  readonly grpcCode: string;
  readonly grpcMessage: string;
  readonly mounted: boolean;
  readonly files: ReadonlyArray<{ path: string; mode: number; contents: string }> | null;
  readonly error?: string;
  readonly elapsedMs: number;
}

export interface CsiDriverOptions {
  /** A kubeconfig of the identity the driver runs as (its own ServiceAccount, as its manifests grant). */
  readonly kubeconfig: string;
  /** The directory that holds our provider's socket (vault.sock). */
  readonly providerDir: string;
  readonly nodeName?: string;
  /** --enable-secret-rotation with this --rotation-poll-interval (a Go duration, e.g. "1s"). */
  readonly rotationPollInterval?: string;
}

export class RealCsiDriver {
  private readonly waiting = new Map<string, { resolve: (a: RawAnswer) => void; reject: (e: Error) => void }>();
  private next = 0;

  private constructor(
    private readonly dir: string,
    private readonly driver: Child,
    private readonly kubelet: Child,
    readonly nodeName: string,
  ) {
    const lines = createInterface({ input: kubelet.child.stdout! });
    lines.on('line', (line) => {
      const answer = JSON.parse(line) as RawAnswer;
      this.waiting.get(answer.id)?.resolve(answer);
      this.waiting.delete(answer.id);
    });
    void kubelet.exited.then(() => {
      for (const w of this.waiting.values()) w.reject(new Error(`csi-kubelet exited:\n${kubelet.log.slice(-2000)}`));
      this.waiting.clear();
    });
  }

  static async start(options: CsiDriverOptions): Promise<RealCsiDriver> {
    const driverBin = toolPath('csi-driver');
    const kubeletBin = toolPath('csi-kubelet');
    const dir = await mkdtemp(join(tmpdir(), 'vcp-real-csi-'));
    const socket = join(dir, 'csi.sock');
    const nodeName = options.nodeName ?? 'node1';
    const metricsPort = await freePort();
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir };
    const driver = new Child(
      'secrets-store-csi-driver',
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        driverBin,
        `--endpoint=unix://${socket}`,
        `--nodeid=${nodeName}`,
        `--provider-volume=${options.providerDir}`,
        // Only our directory: not the host's /etc/kubernetes/secrets-store-csi-providers.
        `--additional-provider-volume-paths=${options.providerDir}`,
        `--metrics-addr=127.0.0.1:${metricsPort}`,
        `--kubeconfig=${options.kubeconfig}`,
        ...(options.rotationPollInterval === undefined ? [] : ['--enable-secret-rotation=true', `--rotation-poll-interval=${options.rotationPollInterval}`]),
        '-v=2',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      await until(() => existsSync(socket) || !driver.running, 'the driver to listen on its CSI socket', 60_000);
      if (!driver.running) throw new Error(`the driver exited:\n${driver.log.slice(-4000)}`);
    } catch (err: unknown) {
      await driver.stop();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const pid = driver.child.pid;
    if (pid === undefined) throw new Error('the driver has no pid');
    // unshare execs the driver: its pid is the driver's, and its mount namespace is the private one.
    const kubelet = new Child('csi-kubelet', 'nsenter', [`--target=${pid}`, '--mount', kubeletBin, '-endpoint', socket], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new RealCsiDriver(dir, driver, kubelet, nodeName);
  }

  get log(): string {
    return this.driver.log;
  }

  /** Where the kubelet would put this pod's volume: /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~csi/<vol>/mount. */
  targetPath(pod: KubeletPod, volumeName = 'secrets-store'): string {
    return join(this.dir, 'pods', pod.uid, 'volumes', 'kubernetes.io~csi', volumeName, 'mount');
  }

  /** NodePublishVolume as the kubelet sends it for a CSI ephemeral inline volume with podInfoOnMount. */
  async publish(options: PublishOptions): Promise<PublishAnswer> {
    const volumeName = options.volumeName ?? 'secrets-store';
    const targetPath = this.targetPath(options.pod, volumeName);
    // The kubelet creates the volume's parent directory; the driver creates the mount point itself.
    await mkdir(join(targetPath, '..'), { recursive: true });
    // The kubelet's handle of an ephemeral inline volume: "csi-" + sha256(pod UID + volume name).
    const volumeId = `csi-${createHash('sha256').update(`${options.pod.uid}${volumeName}`).digest('hex')}`;
    const volumeContext: Record<string, string> = {
      ...options.volumeAttributes,
      'csi.storage.k8s.io/pod.name': options.pod.name,
      'csi.storage.k8s.io/pod.namespace': options.pod.namespace,
      'csi.storage.k8s.io/pod.uid': options.pod.uid,
      'csi.storage.k8s.io/serviceAccount.name': options.pod.serviceAccountName,
      'csi.storage.k8s.io/ephemeral': 'true',
      ...(options.tokens === undefined ? {} : { 'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify(options.tokens) }),
    };
    const raw = await this.send({
      op: 'publish',
      volumeId,
      targetPath,
      volumeContext,
      ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
      readOnly: options.readOnly ?? true,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    return toAnswer(raw, targetPath, volumeId);
  }

  async unpublish(answer: Pick<PublishAnswer, 'targetPath' | 'volumeId'>): Promise<PublishAnswer> {
    const raw = await this.send({ op: 'unpublish', volumeId: answer.volumeId, targetPath: answer.targetPath });
    return toAnswer(raw, answer.targetPath, answer.volumeId);
  }

  /** The files under a target path as the pod sees them now. */
  async read(targetPath: string): Promise<PublishAnswer> {
    return toAnswer(await this.send({ op: 'read', targetPath }), targetPath, '');
  }

  private send(request: Record<string, unknown>): Promise<RawAnswer> {
    const id = String(++this.next);
    return new Promise<RawAnswer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.kubelet.child.stdin!.write(`${JSON.stringify({ id, ...request })}\n`, (err) => {
        if (err) reject(err);
      });
    });
  }

  /** csi-kubelet first, then the driver (its tmpfs mounts go with its mount namespace), then the directory. */
  async stop(): Promise<void> {
    this.kubelet.child.stdin?.end();
    await this.kubelet.stop('SIGTERM', 5_000);
    await this.driver.stop('SIGTERM', 10_000);
    await rm(this.dir, { recursive: true, force: true });
  }
}

function toAnswer(raw: RawAnswer, targetPath: string, volumeId: string): PublishAnswer {
  if (raw.error !== undefined && raw.error !== '') throw new Error(`csi-kubelet: ${raw.error}`);
  const files = new Map<string, KubeletFile>();
  for (const f of raw.files ?? []) files.set(f.path, { path: f.path, mode: f.mode, text: Buffer.from(f.contents, 'base64').toString('utf8') });
  return { grpcCode: raw.grpcCode, grpcMessage: raw.grpcMessage, mounted: raw.mounted, files, targetPath, volumeId, elapsedMs: raw.elapsedMs };
}
