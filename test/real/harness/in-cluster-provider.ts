/**
 * Our provider as its DaemonSet pod runs it in a cluster, against the real API server: the kubelet's in-cluster
 * environment (KUBERNETES_SERVICE_HOST/PORT, POD_NAMESPACE) and its projected ServiceAccount files (token, ca.crt,
 * namespace) at the in-cluster path /var/run/secrets/kubernetes.io/serviceaccount. That path is fixed, so the
 * provider runs in a private mount namespace (`unshare -m`) with a tmpfs on /run holding a link to the test's
 * directory: the host's /run is untouched. The token is the one the kubelet would project: the provider
 * ServiceAccount's, bound to a Pod object of the DaemonSet.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtMain } from '../../helpers/built.js';
import { imageNodeOptions } from '../../../scripts/image/dockerfile.js';
import type { KubeControlPlane } from './kube.js';
import { RealDriverClient } from './driver-client.js';
import { Child } from './processes.js';
import { inClusterArgs } from '../../helpers/in-cluster.js';

export interface InClusterProviderOptions {
  readonly kube: KubeControlPlane;
  readonly vaultAddress: string;
  /** The provider's namespace and ServiceAccount (deploy/base: csi, vault-csi-provider). */
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The DaemonSet pod the token is bound to; created when missing. */
  readonly podName: string;
  readonly flags?: readonly string[];
  /** Where KUBERNETES_SERVICE_HOST/PORT point (default the API server itself), e.g. a proxy that slows it down. */
  readonly apiServer?: string;
}

/** deploy/base's provider: ServiceAccount csi/vault-csi-provider, as its DaemonSet pod on `node`. */
export function baseIdentity(node = 'node1'): Pick<InClusterProviderOptions, 'namespace' | 'serviceAccount' | 'podName'> {
  return { namespace: 'csi', serviceAccount: 'vault-csi-provider', podName: `vault-csi-provider-${node}` };
}

/** deploy/base's provider on node1 with `more` (flags, an API server address), and the driver's client on its socket. */
export async function startBaseProvider(
  kube: KubeControlPlane,
  vaultAddress: string,
  more: Pick<InClusterProviderOptions, 'flags' | 'apiServer'> = {},
): Promise<{ provider: InClusterProvider; driver: RealDriverClient }> {
  const provider = await InClusterProvider.start({ kube, vaultAddress, ...baseIdentity(), ...more });
  return { provider, driver: new RealDriverClient(provider.socketDir) };
}

export class InClusterProvider {
  private child: Child | undefined;

  private constructor(
    private readonly dir: string,
    private readonly options: InClusterProviderOptions,
  ) {}

  get socketDir(): string {
    return join(this.dir, 'providers');
  }

  static async start(options: InClusterProviderOptions): Promise<InClusterProvider> {
    const dir = await mkdtemp(join(tmpdir(), 'vcp-real-incluster-'));
    const p = new InClusterProvider(dir, options);
    await writeServiceAccountFiles(options.kube, options, join(dir, 'serviceaccount'));
    await p.launch();
    return p;
  }

  private async launch(): Promise<void> {
    const { kube, vaultAddress, namespace, flags = [] } = this.options;
    const url = new URL(this.options.apiServer ?? kube.server);
    const sa = join(this.dir, 'serviceaccount');
    this.child = new Child(
      'provider',
      'unshare',
      inClusterArgs(sa, [
        process.execPath,
        ...imageNodeOptions(),
        builtMain(),
        `--endpoint=${join(this.socketDir, 'vault.sock')}`,
        `--vault-addr=${vaultAddress}`,
        '--health-addr=127.0.0.1:0',
        '--log-level=debug',
        ...flags,
      ]),
      {
        env: {
          PATH: process.env['PATH'] ?? '',
          KUBERNETES_SERVICE_HOST: url.hostname,
          KUBERNETES_SERVICE_PORT: url.port,
          POD_NAMESPACE: namespace,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    await this.child.waitForOutput(/"msg":"provider serving"/, 60_000);
  }

  /** The provider's pino lines so far. */
  lines(): Array<Record<string, unknown>> {
    return (this.child?.log ?? '')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  get log(): string {
    return this.child?.log ?? '';
  }

  async restart(): Promise<void> {
    await this.child?.stop();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.child?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The projected ServiceAccount volume as the kubelet writes it for a pod of `serviceAccount` in `namespace`: a
 * pod-bound token (the Pod object `podName` is created when missing), the cluster CA and the namespace, in `dir`.
 */
export async function writeServiceAccountFiles(
  kube: KubeControlPlane,
  pod: { readonly namespace: string; readonly serviceAccount: string; readonly podName: string },
  dir: string,
): Promise<void> {
  const { namespace, serviceAccount, podName } = pod;
  let found = await kube.api('GET', `/api/v1/namespaces/${namespace}/pods/${podName}`);
  if (found.status === 404) {
    found = {
      status: 201,
      body: await kube.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
        metadata: { name: podName },
        spec: { serviceAccountName: serviceAccount, nodeName: 'node1', containers: [{ name: 'provider', image: 'vault-csi-provider-ts:0.1.0' }] },
      }),
    };
  }
  const uid = (found.body as { metadata: { uid: string } }).metadata.uid;
  const token = (await kube.must('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
    spec: { expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid } },
  })) as { status: { token: string } };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'token'), token.status.token, { mode: 0o600 });
  await writeFile(join(dir, 'ca.crt'), kube.caPem);
  await writeFile(join(dir, 'namespace'), namespace);
}
