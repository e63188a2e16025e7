/**
 * The stage of one isolation case: the Vault-compatible fake on loopback, two tenants (the victim's namespace and the
 * attacker's) with their roles, policies and secrets, and the provider started exactly as the image starts it —
 * `dist/main.js` with the environment of the Dockerfile's runtime stage (NODE_OPTIONS, NODE_ENV) and the arguments
 * and environment of the DaemonSet's container (deploy/base/daemonset.yaml), with only what has to point at this
 * machine replaced: the socket, the health address (a free loopback port), the HMAC key (a file: there is no
 * Kubernetes API here) and VAULT_ADDR (the fake). Each case gets a stage of its own, so a daemon that died in one
 * case leaves the next a fresh one.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { DaemonProcess, waitForServing } from '../helpers/daemon-process.js';
import { DriverClient } from '../helpers/grpc-client.js';
import { imageEntrypointFlags, imageEnv } from '../../scripts/image/dockerfile.js';
import { MemoryCgroup } from '../helpers/memory-cgroup.js';
import { daemonSetMemoryLimit } from '../helpers/memory-pressure.js';
import { TOKENS_KEY } from '../../src/config/mount-request.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';
import {
  createTlsMaterial,
  ServiceAccountJwtIssuer,
  startTestVault,
  writeTlsFiles,
  type TestVault,
  type TlsFiles,
  type TlsMaterial,
} from '../vault-server/index.js';

export interface Tenant {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The Vault role (Kubernetes auth) the tenant's SecretProviderClasses name. */
  readonly role: string;
}

export const VICTIM: Tenant = { namespace: 'victim', serviceAccount: 'app', role: 'victim' };
export const ATTACKER: Tenant = { namespace: 'attacker', serviceAccount: 'app', role: 'attacker' };

export interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly serviceAccount: string;
}

export function podOf(tenant: Tenant, name: string): Pod {
  return { name, namespace: tenant.namespace, uid: `uid-${tenant.namespace}-${name}`, serviceAccount: tenant.serviceAccount };
}

/** The victim's secrets: what its ordinary mounts read, and what each file must hold. */
export const VICTIM_SECRETS = { db: { username: 'victim-user', password: 'victim-db-password-4f1c' }, api: { key: 'victim-api-key-93ab' } } as const;
export const VICTIM_OBJECTS: ReadonlyArray<Record<string, unknown>> = [
  { objectName: 'db-password', secretPath: 'secret/data/victim/db', secretKey: 'password' },
  { objectName: 'api-key', secretPath: 'secret/data/victim/api', secretKey: 'key' },
];
export const VICTIM_FILES: Readonly<Record<string, string>> = { 'db-password': VICTIM_SECRETS.db.password, 'api-key': VICTIM_SECRETS.api.key };

const VICTIM_POLICY = 'path "secret/data/victim/*" { capabilities = ["read"] }';
const ATTACKER_POLICY = `
path "secret/data/attacker/*" { capabilities = ["read"] }
path "pki/issue/attacker" { capabilities = ["create", "update"] }
`;

export interface StageOptions {
  /** Vault over TLS (asking for, not requiring, a client certificate); the daemon trusts its CA through --vault-tls-ca-cert. */
  readonly tls?: boolean;
  /** With tls: the daemon also presents the operator's client certificate (--vault-tls-client-cert/-key). */
  readonly operatorClientCertificate?: boolean;
  /** Run the daemon with --write-files, so that "nothing written" is checked on disk. */
  readonly writeFiles?: boolean;
  /** Flags added after the DaemonSet's (e.g. the operator's TLS flags). */
  readonly extraArgs?: readonly string[];
  /** Node flags after the image's, to look inside a failure (e.g. `--heapsnapshot-near-heap-limit=1`). */
  readonly nodeFlags?: readonly string[];
}

/** The provider container of deploy/base/daemonset.yaml: its args and its literal environment values. */
export function daemonSetContainer(): { readonly args: readonly string[]; readonly env: Readonly<Record<string, string | undefined>> } {
  const text = readFileSync(new URL('../../deploy/base/daemonset.yaml', import.meta.url), 'utf8');
  for (const doc of parseAllDocuments(text)) {
    const value = doc.toJS() as {
      kind?: string;
      spec?: { template?: { spec?: { containers?: Array<{ args?: string[]; env?: Array<{ name: string; value?: string }> }> } } };
    };
    if (value?.kind !== 'DaemonSet') continue;
    const container = value.spec?.template?.spec?.containers?.[0];
    if (container === undefined) break;
    return { args: container.args ?? [], env: Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value])) };
  }
  throw new Error('deploy/base/daemonset.yaml has no DaemonSet container');
}

/**
 * The DaemonSet's arguments with the node-specific ones pointed at this machine. A flag that must be replaced has to
 * be written `--flag=value` there (as it is); anything else is passed exactly as the DaemonSet passes it.
 */
export function daemonArguments(args: readonly string[], local: { socket: string; hmacKeyFile: string }): string[] {
  const replaced = new Set<string>();
  const out = args.map((arg) => {
    const name = /^--?([a-z0-9-]+)(?:=|$)/.exec(arg)?.[1];
    switch (name) {
      case 'endpoint':
        replaced.add(name);
        return `--endpoint=${local.socket}`;
      case 'health-addr':
        replaced.add(name);
        return '--health-addr=127.0.0.1:0';
      case 'hmac-secret-name':
        replaced.add(name);
        return `--hmac-key-file=${local.hmacKeyFile}`;
      default:
        return arg;
    }
  });
  if (!replaced.has('endpoint') || !replaced.has('health-addr')) throw new Error(`the DaemonSet's args lack --endpoint=… or --health-addr=…: ${args.join(' ')}`);
  if (!replaced.has('hmac-secret-name')) out.push(`--hmac-key-file=${local.hmacKeyFile}`);
  return out;
}

const MiB = 1024 * 1024;
let cgroups = 0;

export class Stage {
  readonly issuer = new ServiceAccountJwtIssuer();
  readonly memoryLimitBytes = daemonSetMemoryLimit();
  daemon!: DaemonProcess;
  client!: DriverClient;
  healthUrl!: string;
  tls: (TlsMaterial & { files: TlsFiles }) | undefined;
  #targets = 0;
  #cgroup: MemoryCgroup | undefined;
  /** Why the daemon runs without a memory cgroup here, if it does. */
  cgroupMissing: string | undefined;
  readonly #jwts = new Map<string, string>();

  private constructor(
    readonly vault: TestVault,
    readonly dir: string,
    readonly options: StageOptions,
  ) {}

  static async open(options: StageOptions = {}): Promise<Stage> {
    let tls: (TlsMaterial & { files: TlsFiles }) | undefined;
    if (options.tls === true) {
      const material = await createTlsMaterial({ clientCommonName: 'platform-operator' });
      tls = { ...material, files: await writeTlsFiles(material) };
    }
    // The request log is bounded: a case sends tens of thousands of requests.
    const vault = await startTestVault({
      requestLogLimit: 20_000,
      ...(tls === undefined ? {} : { tls: { key: tls.serverKeyPem, cert: tls.serverCertPem, clientCa: tls.caCertPem } }),
    });
    const stage = new Stage(vault, await mkdtemp(join(tmpdir(), 'vcp-isolation-')), options);
    stage.tls = tls;
    stage.#seed();
    return stage;
  }

  #seed(): void {
    const v = this.vault;
    v.enableKv('secret', 2);
    v.enableKubernetesAuth('kubernetes', { publicKeysPem: [this.issuer.publicKeyPem] });
    v.putKv('secret', 'victim/db', { ...VICTIM_SECRETS.db });
    v.putKv('secret', 'victim/api', { ...VICTIM_SECRETS.api });
    v.putPolicy('victim', VICTIM_POLICY);
    v.putPolicy('attacker', ATTACKER_POLICY);
    for (const tenant of [VICTIM, ATTACKER]) {
      v.addKubernetesRole('kubernetes', tenant.role, {
        boundServiceAccountNames: [tenant.serviceAccount],
        boundServiceAccountNamespaces: [tenant.namespace],
        audience: 'vault',
        policies: [tenant.role],
        ttlSeconds: 3600,
      });
    }
  }

  /** Starts the daemon as the image and the DaemonSet run it; resolves once it serves. */
  async startDaemon(): Promise<void> {
    const socket = join(this.dir, 'sock', 'vault.sock');
    const hmacKeyFile = join(this.dir, 'hmac.key');
    await writeFile(hmacKeyFile, 'an-isolation-suite-hmac-key-of-enough-bytes\n');
    const container = daemonSetContainer();
    const args = daemonArguments(container.args, { socket, hmacKeyFile });
    const tls = this.tls;
    if (tls !== undefined) {
      args.push(`--vault-tls-ca-cert=${tls.files.caFile}`);
      if (this.options.operatorClientCertificate === true) {
        args.push(`--vault-tls-client-cert=${tls.files.clientCertFile}`, `--vault-tls-client-key=${tls.files.clientKeyFile}`);
      }
    }
    if (this.options.writeFiles === true) args.push('--write-files');
    args.push(...(this.options.extraArgs ?? []));
    const env: Record<string, string> = { ...imageEnv() };
    for (const [name, value] of Object.entries(container.env)) if (value !== undefined) env[name] = value;
    env['VAULT_ADDR'] = this.vault.address;
    // The DaemonSet takes it from the pod's metadata.
    env['POD_NAMESPACE'] = 'vault-csi-provider';
    // coverage: false — the memory measured is the image's process, not one with V8's coverage counters.
    this.#cgroup?.remove();
    const cgroup = MemoryCgroup.create(this.memoryLimitBytes, `vcp-stage-${process.pid}-${++cgroups}`);
    this.#cgroup = typeof cgroup === 'string' ? undefined : cgroup;
    this.cgroupMissing = typeof cgroup === 'string' ? cgroup : undefined;
    this.daemon = new DaemonProcess(args, env, [...imageEntrypointFlags(), ...(this.options.nodeFlags ?? [])], { coverage: false, ...(this.#cgroup === undefined ? {} : { cgroup: this.#cgroup }) });
    await waitForServing(this.daemon);
    const line = this.daemon.lines().find((l) => l['msg'] === 'provider serving');
    this.healthUrl = `http://${String(line?.['health'])}/health/ready`;
    this.client = new DriverClient(socket);
  }

  /** A new daemon in place of one that died (or is killed here): the fuzzer's survey goes on after a crash. */
  async restartDaemon(): Promise<void> {
    this.client?.close();
    if (this.daemon.running) this.daemon.kill('SIGKILL');
    await this.daemon.exited;
    await this.startDaemon();
  }

  /** The pod's projected ServiceAccount token (audience vault, bound to the pod), signed once per pod. */
  jwt(pod: Pod): string {
    let jwt = this.#jwts.get(pod.uid);
    if (jwt === undefined) {
      jwt = this.issuer.signServiceAccountJwt({ namespace: pod.namespace, serviceAccountName: pod.serviceAccount, podName: pod.name, podUid: pod.uid, ttlSeconds: 3600 });
      this.#jwts.set(pod.uid, jwt);
    }
    return jwt;
  }

  /** Signs the tokens of these pods now, so that no RSA signing runs in this process while latencies are measured. */
  prepare(pods: readonly Pod[]): void {
    for (const pod of pods) this.jwt(pod);
  }

  /** A fresh, empty target directory (the kubelet creates it before it calls the driver). */
  async target(pod: Pod): Promise<string> {
    const dir = join(this.dir, 'targets', pod.namespace, pod.name, String(++this.#targets));
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * The MountRequest the driver would send for this pod's volume: the SecretProviderClass parameters (role, objects
   * as YAML text, anything in `params`), the pod's identity, its token, and `secrets` from a nodePublishSecretRef.
   */
  request(
    pod: Pod,
    target: string,
    options: {
      readonly role: string;
      readonly objects: string | ReadonlyArray<Record<string, unknown>>;
      readonly params?: Readonly<Record<string, string>>;
      readonly secrets?: Readonly<Record<string, string>>;
      readonly secretProviderClass?: string;
    },
  ): MountRequest {
    const attributes: Record<string, string> = {
      'csi.storage.k8s.io/ephemeral': 'false',
      'csi.storage.k8s.io/pod.name': pod.name,
      'csi.storage.k8s.io/pod.namespace': pod.namespace,
      'csi.storage.k8s.io/pod.uid': pod.uid,
      'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
      [TOKENS_KEY]: JSON.stringify({ vault: { token: this.jwt(pod), expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() } }),
      secretProviderClass: options.secretProviderClass ?? `${pod.namespace}-secrets`,
      roleName: options.role,
      objects: typeof options.objects === 'string' ? options.objects : stringify(options.objects),
      ...options.params,
    };
    const secrets = options.secrets === undefined ? 'null' : JSON.stringify(options.secrets);
    return { attributes: JSON.stringify(attributes), secrets, target_path: target, permission: '420', current_object_version: [] };
  }

  /** The lines the daemon wrote to stdout and stderr so far. */
  output(): string[] {
    return [...this.daemon.out.join('').split('\n'), ...this.daemon.err.join('').split('\n')].filter((l) => l !== '');
  }

  async readFileIn(target: string, name: string): Promise<string | undefined> {
    return readFile(join(target, name), 'utf8').catch(() => undefined);
  }

  /**
   * Whether the daemon has kept within the DaemonSet's memory limit: judged by the kernel where the machine allows a
   * memory cgroup (no OOM kill there), else by VmHWM (`peakRss`, bytes) under the limit, which also counts the
   * reclaimable pages of the node binary and so is stricter. Undefined when it has; else what broke it.
   */
  memoryViolation(peakRss: number): string | undefined {
    const limit = `the DaemonSet's limit ${(this.memoryLimitBytes / MiB).toFixed(0)} MiB`;
    if (this.#cgroup !== undefined) {
      const kills = this.#cgroup.oomKills();
      return kills === 0 ? undefined : `the kernel OOM-killed the daemon in its memory cgroup at ${limit} (${kills}×)`;
    }
    return peakRss < this.memoryLimitBytes ? undefined : `peak RSS ${(peakRss / MiB).toFixed(1)} MiB ≥ ${limit}`;
  }

  /** `cgroup peak 121.3 MiB, limit reached 0×, 0 OOM kills`, or why there is no cgroup: for reports beside VmHWM. */
  memoryFigures(): string {
    if (this.#cgroup === undefined) return `no memory cgroup (${this.cgroupMissing ?? 'not started'})`;
    // The page cache of what the process reads and writes is charged too, and reclaimed at the limit: hits are no harm.
    return `cgroup peak ${(this.#cgroup.peakBytes() / MiB).toFixed(1)} MiB, limit reached ${this.#cgroup.limitHits()}×, ${this.#cgroup.oomKills()} OOM kills`;
  }

  async close(): Promise<void> {
    try {
      this.client?.close();
      if (this.daemon !== undefined && this.daemon.running) {
        this.daemon.kill('SIGKILL');
        await this.daemon.exited;
      }
      this.#cgroup?.remove();
    } finally {
      await this.vault.close();
      await this.tls?.files.cleanup();
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
