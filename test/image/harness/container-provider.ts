/**
 * The provider image run as its DaemonSet runs it (podmanRunArgs), as a World's provider: the node's providers
 * directory is a directory of the test's own, bind-mounted where the DaemonSet mounts its hostPath; the socket the
 * driver client dials is in it. Each start is a new container (a new pod after a rollout); `podman run` stays
 * attached, so the provider's log lines arrive here and its exit status is the container's.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { WorldProvider } from '../../real/harness/world.js';
import { Child } from '../../real/harness/processes.js';
import { podman, podmanEnv } from './podman.js';
import { podmanRunArgs, type ProviderDaemonSet, type RunAs } from './daemonset.js';

export interface ContainerProviderOptions {
  readonly image: string;
  readonly daemonSet: ProviderDaemonSet;
  /** Container names are <prefix>-1, <prefix>-2, ... */
  readonly namePrefix: string;
  readonly serviceAccountDir: string | undefined;
  readonly kubeletEnv: Readonly<Record<string, string>>;
  readonly hosts: Readonly<Record<string, string>>;
  readonly podName: string;
  /** Called with the host directories before the first container starts: a node prepared for the pod. */
  readonly prepareNode?: (hostPaths: Readonly<Record<string, string>>) => Promise<void>;
}

/** One container's run: its name, its output, and how it ended. */
export interface ContainerRun {
  readonly name: string;
  readonly child: Child;
}

export class ContainerProvider implements WorldProvider {
  readonly runs: ContainerRun[] = [];

  private constructor(
    private readonly dir: string,
    private readonly options: ContainerProviderOptions,
    /** The host directory of each hostPath volume. */
    readonly hostPaths: Readonly<Record<string, string>>,
    /** The socket's path inside the container (the DaemonSet's --endpoint). */
    readonly endpoint: string,
  ) {}

  static async start(options: ContainerProviderOptions): Promise<ContainerProvider> {
    const dir = await mkdtemp(join(tmpdir(), 'vcp-image-provider-'));
    const pod = options.daemonSet.daemonSet.spec!.template.spec!;
    const hostPaths: Record<string, string> = {};
    for (const v of pod.volumes ?? []) {
      if (v.hostPath === undefined) continue;
      hostPaths[v.name] = join(dir, 'node', v.name);
      // DirectoryOrCreate: the kubelet creates it, root-owned, 0755; Directory: the node must have it already.
      await mkdir(hostPaths[v.name]!, { recursive: true, mode: 0o755 });
    }
    const endpoint = options.daemonSet.container.args?.find((a) => a.startsWith('--endpoint='))?.slice('--endpoint='.length);
    if (endpoint === undefined) throw new Error('the DaemonSet passes no --endpoint');
    const p = new ContainerProvider(dir, options, hostPaths, endpoint);
    try {
      await options.prepareNode?.(hostPaths);
      await p.launch();
    } catch (err: unknown) {
      await p.stop();
      throw err;
    }
    return p;
  }

  /** The host directory the socket is in: the hostPath volume mounted at the endpoint's directory. */
  get socketDir(): string {
    const mount = this.options.daemonSet.container.volumeMounts?.find((m) => m.mountPath === dirname(this.endpoint));
    const host = mount === undefined ? undefined : this.hostPaths[mount.name];
    if (host === undefined) throw new Error(`no hostPath volume is mounted at ${dirname(this.endpoint)}, where the socket is`);
    return host;
  }

  get socketPath(): string {
    return join(this.socketDir, this.endpoint.slice(dirname(this.endpoint).length + 1));
  }

  /** The container running now (the last one started). */
  get current(): ContainerRun {
    const run = this.runs.at(-1);
    if (run === undefined) throw new Error('no container started');
    return run;
  }

  runArgs(name: string): string[] {
    const o = this.options;
    const run: RunAs = { name, image: o.image, hostPaths: this.hostPaths, serviceAccountDir: o.serviceAccountDir, kubeletEnv: o.kubeletEnv, podName: o.podName, hosts: o.hosts };
    return podmanRunArgs(o.daemonSet, run);
  }

  /** Starts a new container and waits until the provider in it says it serves. */
  async launch(): Promise<void> {
    const name = `${this.options.namePrefix}-${this.runs.length + 1}`;
    await podman(['rm', '--force', '--ignore', name]);
    const child = new Child(name, 'podman', ['run', ...this.runArgs(name)], { env: podmanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.runs.push({ name, child });
    await child.waitForOutput(/"msg":"provider serving"/, 120_000);
  }

  /** The provider's pino lines in the current container. */
  lines(run: ContainerRun = this.current): Array<Record<string, unknown>> {
    return run.child.log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** The host's PID of the container's first process (the provider: node is PID 1 in it). */
  async pid(run: ContainerRun = this.current): Promise<number> {
    return Number((await podman(['inspect', '--format', '{{.State.Pid}}', run.name])).trim());
  }

  /** `podman stop`: SIGTERM, then SIGKILL after the DaemonSet's grace period, as the kubelet stops a pod. */
  async stopContainer(run: ContainerRun = this.current): Promise<number | null> {
    if (run.child.running) await podman(['stop', `--time=${this.options.daemonSet.terminationGracePeriodSeconds}`, run.name], 120_000);
    return run.child.exited;
  }

  /** SIGKILL, as the OOM killer or a node crash ends it: no cleanup runs. */
  async killContainer(run: ContainerRun = this.current): Promise<number | null> {
    if (run.child.running) await podman(['kill', '--signal=KILL', run.name]);
    return run.child.exited;
  }

  async restart(): Promise<void> {
    await this.stopContainer();
    await this.launch();
  }

  async stop(): Promise<void> {
    for (const run of this.runs) {
      if (run.child.running) await podman(['rm', '--force', '--time=5', run.name]).catch(() => undefined);
      await run.child.stop('SIGKILL', 1_000);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
