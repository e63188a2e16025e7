// The providers the benches compare, each in a process of its own on its own Unix socket:
//
// - ours: `node dist/main.js` with the image's NODE_OPTIONS (Dockerfile), in-cluster as its DaemonSet pod runs it
//   (KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount files at their fixed path, through a private mount
//   namespace: test/helpers/in-cluster.ts), its HMAC key in a Secret of the fake Kubernetes API;
// - the floor: bench/floor-provider.ts, transpiled, with the same NODE_OPTIONS;
// - the reference: hashicorp/vault-csi-provider v1.7.4 (bench/reference.ts), in-cluster the same way, against a
//   fake Kubernetes API of its own (it GETs its HMAC Secret on every Mount and creates it, in protobuf, when missing).
//
// Each may be pinned to a CPU from exec on (`taskset -c`), so Go's GOMAXPROCS and Node's thread pool see the CPU
// they get. Output goes to a file (as cheap as /dev/null), shown when a process fails to start.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { FakeKubeApi } from '../test/helpers/fake-kube-api.js';
import { imageNodeFlags } from '../scripts/image/dockerfile.js';
import { inClusterArgs } from '../test/helpers/in-cluster.js';
import { createTlsMaterial } from '../test/vault-server/index.js';
import { LeanDriverClient } from './driver-client.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export type ProviderKind = 'ours' | 'floor' | 'reference';

export interface ProviderProcess {
  readonly kind: ProviderKind;
  /** What the table calls it, e.g. "ours" or "ours, default flags". */
  readonly label: string;
  readonly pid: number;
  readonly endpoint: string;
  readonly client: LeanDriverClient;
  /** The fake Kubernetes API it talks to (in-cluster runs), for counting its requests. */
  readonly kube: FakeKubeApi | undefined;
  /** Whether its MountResponse carries an object version per object (the floor sends none). */
  readonly versions: boolean;
  /** Milliseconds from spawn to the first Version answered. */
  readonly readyMs: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** A directory of this provider's own. */
  readonly dir: string;
  readonly vaultAddress: string;
  readonly label?: string;
  /** Pin to this CPU from exec on. */
  readonly cpu?: number;
  /** Extra provider flags (ours). */
  readonly flags?: readonly string[];
  /** Extra Node options after the image's (ours and the floor). */
  readonly nodeArgs?: readonly string[];
  /** Ours only: run out of cluster with an HMAC key file instead (no `unshare`, no Kubernetes API). */
  readonly outOfCluster?: boolean;
  /** The reference binary (bench/reference.ts). */
  readonly referenceBinary?: string;
  /** Poll interval while waiting for the socket, ms (bench:rest times readiness with a short one). */
  readonly pollMs?: number;
  /**
   * A real cluster instead of the fake API (bench:real): its API server and a directory holding the provider's
   * ServiceAccount files (token, ca.crt, namespace) as the kubelet would project them.
   */
  readonly cluster?: { readonly server: string; readonly serviceAccountDir: string; readonly namespace: string };
}

/** A fake Kubernetes API over https and the in-cluster ServiceAccount files that point at it. */
async function fakeCluster(dir: string, namespace: string): Promise<{ kube: FakeKubeApi; serviceAccountDir: string; env: Record<string, string> }> {
  const tls = await createTlsMaterial();
  const kube = await FakeKubeApi.start({ tls: { key: tls.serverKeyPem, cert: tls.serverCertPem } });
  const serviceAccountDir = join(dir, 'serviceaccount');
  await mkdir(serviceAccountDir, { recursive: true });
  await writeFile(join(serviceAccountDir, 'token'), kube.token, { mode: 0o600 });
  await writeFile(join(serviceAccountDir, 'ca.crt'), tls.caCertPem);
  await writeFile(join(serviceAccountDir, 'namespace'), namespace);
  return {
    kube,
    serviceAccountDir,
    env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(kube.url).port, POD_NAMESPACE: namespace },
  };
}

/** The floor, transpiled next to node_modules (so its imports resolve) and run by plain node. */
export async function floorScript(): Promise<string> {
  const source = await readFile(join(ROOT, 'bench', 'floor-provider.ts'), 'utf8');
  const out = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const dir = join(ROOT, 'node_modules', '.cache', 'vault-csi-provider-ts');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'floor-provider.mjs');
  await writeFile(file, out);
  return file;
}

/** Waits for the socket to answer Version; resolves with the milliseconds since `startedAt`. */
export async function waitReady(endpoint: string, child: ChildProcess, startedAt: number, logFile: string, pollMs = 20, timeoutMs = 30_000): Promise<number> {
  for (;;) {
    const client = new LeanDriverClient(endpoint);
    try {
      await client.version(2_000);
      return performance.now() - startedAt;
    } catch {
      if (child.exitCode !== null || child.signalCode !== null || performance.now() - startedAt > timeoutMs) {
        let log = '';
        try {
          log = readFileSync(logFile, 'utf8').slice(-3000);
        } catch {
          // no log yet
        }
        throw new Error(`${endpoint}: the provider did not start (exit ${child.exitCode ?? child.signalCode}):\n${log}`);
      }
    } finally {
      client.close();
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export async function launchProvider(kind: ProviderKind, options: LaunchOptions): Promise<ProviderProcess> {
  const { dir, vaultAddress } = options;
  await mkdir(join(dir, 'socket'), { recursive: true });
  const endpoint = join(dir, 'socket', kind === 'floor' ? 'floor.sock' : 'vault.sock');
  let command: string[];
  let cluster: { kube?: FakeKubeApi; serviceAccountDir: string; env: Record<string, string> } | undefined;
  const inCluster = async (): Promise<typeof cluster> => {
    if (options.cluster === undefined) return fakeCluster(dir, 'csi');
    const url = new URL(options.cluster.server);
    return {
      serviceAccountDir: options.cluster.serviceAccountDir,
      env: { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port, POD_NAMESPACE: options.cluster.namespace },
    };
  };
  let versions = true;
  if (kind === 'ours') {
    command = [
      process.execPath,
      ...imageNodeFlags(),
      ...(options.nodeArgs ?? []),
      join(ROOT, 'dist', 'main.js'),
      `--endpoint=${endpoint}`,
      `--vault-addr=${vaultAddress}`,
      '--health-addr=127.0.0.1:0',
      '--log-level=info',
    ];
    if (options.outOfCluster === true) {
      const keyFile = join(dir, 'hmac.key');
      await writeFile(keyFile, 'bench-hmac-key-0123456789abcdef0123', { mode: 0o600 });
      command.push(`--hmac-key-file=${keyFile}`);
    } else {
      cluster = await inCluster();
    }
    command.push(...(options.flags ?? []));
  } else if (kind === 'floor') {
    versions = false;
    command = [process.execPath, ...imageNodeFlags(), ...(options.nodeArgs ?? []), await floorScript(), endpoint, vaultAddress, join(ROOT, 'proto', 'service.proto')];
  } else {
    if (options.referenceBinary === undefined) throw new Error('the reference binary is needed');
    cluster = await inCluster();
    command = [options.referenceBinary, `-endpoint=${endpoint}`, `-vault-addr=${vaultAddress}`, '-health-addr=127.0.0.1:0', '-log-level=info'];
  }
  if (cluster !== undefined) command = ['unshare', ...inClusterArgs(cluster.serviceAccountDir, command)];
  if (options.cpu !== undefined) command = ['taskset', '-c', String(options.cpu), ...command];

  const logFile = join(dir, `${kind}.log`);
  const fd = openSync(logFile, 'a');
  const startedAt = performance.now();
  // The environment of a pod: PATH and the in-cluster variables, nothing of ours (no VAULT_*, no NODE_OPTIONS).
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', fd, fd], env: { PATH: process.env['PATH'] ?? '', ...(cluster?.env ?? {}) } });
  closeSync(fd);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await cluster?.kube?.close();
  };
  let readyMs: number;
  try {
    readyMs = await waitReady(endpoint, child, startedAt, logFile, options.pollMs);
  } catch (err: unknown) {
    await stop();
    throw err;
  }
  const client = new LeanDriverClient(endpoint);
  return {
    kind,
    label: options.label ?? kind,
    pid: child.pid!,
    endpoint,
    client,
    kube: cluster?.kube,
    versions,
    readyMs,
    logFile,
    stop: async () => {
      client.close();
      await stop();
    },
  };
}
