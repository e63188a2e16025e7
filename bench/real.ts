// `npm run bench:real`: what a node's provider costs Vault and the Kubernetes API at cluster scale, ours beside the
// reference, on the real stack. Not a test and not in CI: a run of about an hour on this machine (BENCH_REAL_* below
// shorten it).
//
// The stack: real Vault with integrated storage (raft, on disk) and a file audit device, Kubernetes auth reviewing
// every login's token through a real kube-apiserver (with etcd), the database secrets engine on a real PostgreSQL;
// BENCH_REAL_NODES provider processes as nodes, each in-cluster as its DaemonSet pod runs it (its ServiceAccount's
// pod-bound token, RBAC to get and create its HMAC Secret), each with a driver: the driver-client tool, which
// mounts through the Secrets Store CSI driver's own client code and writes the files with its writer. Every pod
// mounts one volume (a static KV v2 secret and a database credential) with its own pod-bound token from the real
// TokenRequest API, then republishes it on a compressed schedule; the same run is made with the reference in our
// place.
//
// The schedule: the driver's default --rotation-poll-interval (2 min), a Kubernetes-auth role's token TTL of 20 min
// (as HashiCorp's CSI tutorial sets it) and a database credential TTL of 1 h (max 24 h) are all divided by one
// compression factor, so what happens per republish and per token or lease lifetime keeps its proportions. The
// factor is set so each node mounts BENCH_REAL_RATE volumes a second (4: the reference reads its HMAC Secret through
// client-go's 5 requests/s limiter on every mount, and a faster schedule would measure that limiter instead), at
// most 60. Each volume republishes on its own schedule, several at once, as the kubelet republishes volumes of a
// driver with RequiresRepublish (one operation per volume at a time). Pods start spread over the first
// BENCH_REAL_WARM_MINUTES (20, compressed) so their tokens and leases are of every age, then BENCH_REAL_MINUTES (60,
// compressed) are measured.
//
// Measured over that window: Vault requests by kind, tokens and leases created (Vault's audit log), the growth of
// Vault's raft directory, Vault's CPU seconds (/proc), TokenReviews and Secret reads at the API server (its
// apiserver_request_total), the providers' CPU and peak RSS (/proc), mount latency at the driver. Reported per
// 1,000 republishes and per hour of a node (the window is an hour of the uncompressed schedule), for each number
// of pods per node in BENCH_REAL_PODS (10,30,100). Writes docs/benchmark-real.md (the table, between its markers),
// docs/benchmark-real.json (the raw figures) and docs/benchmark-real.svg (the chart).
// BENCH_REAL_CHART_ONLY=1 redraws the page and chart from the JSON without running anything.
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { RealDriverClient } from '../test/real/harness/driver-client.js';
import { configureKubernetesAuth, createPod, createReviewer, podAttributes, podToken, type PodRef } from '../test/real/harness/kube-vault.js';
import { KubeControlPlane } from '../test/real/harness/kube.js';
import { Postgres } from '../test/real/harness/postgres.js';
import { sleep, until } from '../test/real/harness/processes.js';
import { VaultAudit } from '../test/real/harness/vault-audit.js';
import { RealVault } from '../test/real/harness/vault-dev.js';
import { lineChartsSvg, type Series } from './chart.js';
import { percentile } from './load.js';
import { cpuMs } from './peak-rss.js';
import { launchProvider, type ProviderKind, type ProviderProcess } from './providers.js';
import { referenceBinary } from './reference.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = join(ROOT, 'docs');
const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const NODES = Number(env('BENCH_REAL_NODES', '3'));
const PODS_STEPS = env('BENCH_REAL_PODS', '10,30,100').split(',').map(Number);
const RATE = Number(env('BENCH_REAL_RATE', '4'));
const MINUTES = Number(env('BENCH_REAL_MINUTES', '60'));
const WARM_MINUTES = Number(env('BENCH_REAL_WARM_MINUTES', '20'));
const PROVIDERS = env('BENCH_REAL_PROVIDERS', 'ours,reference').split(',') as ProviderKind[];
/** The driver's default --rotation-poll-interval. */
const ROTATION_S = 120;
const TOKEN_TTL_S = 20 * 60;
const DB_TTL_S = 3600;
const DB_MAX_TTL_S = 24 * 3600;
const MAX_COMPRESSION = 60;
/** Seconds of idle after each window, for the providers' CPU at rest. */
const IDLE_S = 20;
const APP_NAMESPACE = 'bench';
const SERVICE_ACCOUNTS = 10;
const PROVIDER_NAMESPACE = 'csi';
const PROVIDER_SA = 'vault-csi-provider';
const OBJECTS = stringify([
  { objectName: 'app/password', secretPath: 'secret/data/app', secretKey: 'password' },
  { objectName: 'db/username', secretPath: 'database/creds/bench', secretKey: 'username' },
  { objectName: 'db/password', secretPath: 'database/creds/bench', secretKey: 'password' },
]);
const POLICY = 'path "secret/data/app" { capabilities = ["read"] }\npath "database/creds/bench" { capabilities = ["read"] }\n';

const VAULT_KINDS = ['login', 'kv read', 'database creds', 'lease renew', 'lease revoke', 'token lookup', 'token renew', 'token revoke', 'other'] as const;
type VaultKind = (typeof VAULT_KINDS)[number];

function vaultKind(path: string): VaultKind {
  if (/^auth\/[^/]+\/login/.test(path)) return 'login';
  if (path.startsWith('secret/data/')) return 'kv read';
  if (path.startsWith('database/creds/')) return 'database creds';
  if (path === 'sys/renew' || path.startsWith('sys/leases/renew') || path.startsWith('sys/renew/')) return 'lease renew';
  if (path.startsWith('sys/leases/revoke') || path.startsWith('sys/revoke')) return 'lease revoke';
  if (path.startsWith('auth/token/lookup')) return 'token lookup';
  if (path.startsWith('auth/token/renew')) return 'token renew';
  if (path.startsWith('auth/token/revoke')) return 'token revoke';
  return 'other';
}

/** What one point of the run measured: one provider, one number of pods per node. */
export interface PointResult {
  readonly provider: ProviderKind;
  readonly podsPerNode: number;
  readonly nodes: number;
  readonly compression: number;
  /** Compressed seconds of the measured window; `windowSeconds * compression` is the time it stands for. */
  readonly windowSeconds: number;
  readonly republishes: number;
  readonly failedMounts: number;
  readonly firstFailure: string | undefined;
  readonly mountP50Ms: number;
  readonly mountP99Ms: number;
  readonly vaultRequests: Record<VaultKind, number>;
  readonly vaultErrors: number;
  readonly tokensCreated: number;
  readonly leasesCreated: number;
  readonly leasesOutstandingAtEnd: number | undefined;
  readonly tokenReviews: number;
  readonly kubeSecretRequests: number;
  readonly vaultCpuSeconds: number;
  /** The providers' CPU over the window (all nodes) less what they use at idle over as long. */
  readonly providerCpuSeconds: number;
  /** One provider's CPU at idle, per hour of real time. */
  readonly providerIdleCpuSecondsPerHour: number;
  readonly providerPeakRssMiB: number;
  readonly raftGrowthBytes: number;
  /** Entries committed to the raft log over the window (sys/leader's raft_committed_index): Vault's storage writes. */
  readonly raftEntries: number;
  readonly raftBytesAtEnd: number;
  readonly load: readonly number[];
}

interface RunRecord {
  readonly date: string;
  readonly machine: string;
  readonly settings: { nodes: number; rate: number; minutes: number; warmMinutes: number; rotationSeconds: number; tokenTtlSeconds: number; dbTtlSeconds: number };
  readonly notes: readonly string[];
  readonly points: readonly PointResult[];
}

// ---- measuring ----------------------------------------------------------------------------------------------

/** Requests by kind, tokens and leases created, and errors, in the audit log from byte `offset` on. */
async function auditSince(file: string, offset: number): Promise<{ requests: Record<VaultKind, number>; tokens: number; leases: number; errors: number }> {
  const requests = Object.fromEntries(VAULT_KINDS.map((k) => [k, 0])) as Record<VaultKind, number>;
  let tokens = 0;
  let leases = 0;
  let errors = 0;
  const lines = createInterface({ input: createReadStream(file, { start: offset }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const entry = JSON.parse(line) as {
      type?: string;
      error?: string;
      request?: { path?: string };
      response?: { auth?: { client_token?: string }; secret?: { lease_id?: string } };
    };
    if (entry.type === 'request') requests[vaultKind(entry.request?.path ?? '')] += 1;
    else if (entry.type === 'response') {
      if ((entry.response?.auth?.client_token ?? '') !== '') tokens += 1;
      if ((entry.response?.secret?.lease_id ?? '') !== '') leases += 1;
      if ((entry.error ?? '') !== '') errors += 1;
    }
  }
  return { requests, tokens, leases, errors };
}

/** apiserver_request_total summed by `resource verb`, from the API server's /metrics. */
async function apiserverRequests(kube: KubeControlPlane): Promise<Map<string, number>> {
  const answer = await kube.api('GET', '/metrics');
  const out = new Map<string, number>();
  for (const line of String(answer.body).split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const label = (name: string) => new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1] ?? '';
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const key = `${label('resource')} ${label('verb')}`;
    out.set(key, (out.get(key) ?? 0) + value);
  }
  return out;
}

const delta = (after: Map<string, number>, before: Map<string, number>, match: (key: string) => boolean): number =>
  [...after.entries()].filter(([k]) => match(k)).reduce((sum, [k, v]) => sum + v - (before.get(k) ?? 0), 0);

/** Bytes of every file under a directory (apparent size). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

async function statusKb(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
}

async function raftIndex(vault: RealVault): Promise<number> {
  const answer = await vault.api('GET', 'sys/leader');
  const index = (answer.body as { raft_committed_index?: number } | undefined)?.raft_committed_index;
  if (typeof index !== 'number') throw new Error(`sys/leader has no raft_committed_index: ${JSON.stringify(answer.body)}`);
  return index;
}

async function leasesOutstanding(vault: RealVault): Promise<number | undefined> {
  const answer = await vault.api('GET', 'sys/metrics');
  const gauges = (answer.body as { Gauges?: Array<{ Name: string; Value: number }> } | undefined)?.Gauges ?? [];
  return gauges.find((g) => g.Name === 'vault.expire.num_leases')?.Value;
}

// ---- the run ------------------------------------------------------------------------------------------------

interface Cluster {
  readonly kube: KubeControlPlane;
  readonly postgres: Postgres;
  readonly reviewerJwt: string;
  readonly providerPods: readonly PodRef[];
}

async function startCluster(): Promise<Cluster> {
  // Pod tokens for audience `vault`, as a CSIDriver's tokenRequests asks the kubelet for them.
  const kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
  try {
    const postgres = await Postgres.start();
    const reviewerJwt = await createReviewer(kube);
    await kube.must('POST', '/api/v1/namespaces', { metadata: { name: PROVIDER_NAMESPACE } });
    await kube.must('POST', `/api/v1/namespaces/${PROVIDER_NAMESPACE}/serviceaccounts`, { metadata: { name: PROVIDER_SA } });
    // What both providers need of the API: their HMAC Secret, read and (once) created.
    await kube.must('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${PROVIDER_NAMESPACE}/roles`, {
      metadata: { name: 'hmac-secret' },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create'] }],
    });
    await kube.must('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${PROVIDER_NAMESPACE}/rolebindings`, {
      metadata: { name: 'hmac-secret' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'hmac-secret' },
      subjects: [{ kind: 'ServiceAccount', name: PROVIDER_SA, namespace: PROVIDER_NAMESPACE }],
    });
    const providerPods: PodRef[] = [];
    for (let n = 0; n < NODES; n++) {
      providerPods.push(await createPod(kube, PROVIDER_NAMESPACE, `provider-node-${n}`, PROVIDER_SA, { nodeName: `node-${n}` }));
    }
    await kube.must('POST', '/api/v1/namespaces', { metadata: { name: APP_NAMESPACE } });
    for (let i = 0; i < SERVICE_ACCOUNTS; i++) {
      await kube.must('POST', `/api/v1/namespaces/${APP_NAMESPACE}/serviceaccounts`, { metadata: { name: `app-${i}` } });
    }
    return { kube, postgres, reviewerJwt, providerPods };
  } catch (err: unknown) {
    await kube.stop();
    throw err;
  }
}

async function startVault(cluster: Cluster, compression: number, auditFile: string): Promise<{ vault: RealVault; audit: VaultAudit }> {
  const vault = await RealVault.startRaft();
  try {
    const audit = await VaultAudit.enable(vault, auditFile);
    await configureKubernetesAuth(vault, cluster.kube, cluster.reviewerJwt);
    await vault.must('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } });
    // A new KV v2 mount refuses writes for a moment while it sets itself up.
    await until(async () => (await vault.api('POST', 'secret/data/app', { data: { password: 'bench-password' } })).status === 200, 'the KV v2 mount to take a write', 30_000);
    await vault.must('POST', 'sys/policies/acl/bench', { policy: POLICY });
    await vault.must('POST', 'auth/kubernetes/role/bench', {
      bound_service_account_names: ['*'],
      bound_service_account_namespaces: [APP_NAMESPACE],
      audience: 'vault',
      token_policies: ['bench'],
      token_ttl: `${Math.max(1, Math.round(TOKEN_TTL_S / compression))}s`,
    });
    await cluster.postgres.configureVault(vault, { pg: ['bench'] }, {
      default: `${Math.max(1, Math.round(DB_TTL_S / compression))}s`,
      max: `${Math.max(1, Math.round(DB_MAX_TTL_S / compression))}s`,
    });
    return { vault, audit };
  } catch (err: unknown) {
    await vault.stop();
    throw err;
  }
}

interface Node {
  readonly provider: ProviderProcess;
  readonly driver: RealDriverClient;
  readonly pods: ReadonlyArray<{ readonly pod: PodRef; readonly attributes: Record<string, string>; readonly target: string }>;
}

async function runPoint(cluster: Cluster, kind: ProviderKind, podsPerNode: number, work: string, reference: string | undefined): Promise<PointResult> {
  const compression = Math.min(MAX_COMPRESSION, (RATE * ROTATION_S) / podsPerNode);
  const intervalMs = (ROTATION_S / compression) * 1000;
  const warmMs = ((WARM_MINUTES * 60) / compression) * 1000;
  const windowMs = ((MINUTES * 60) / compression) * 1000;
  const label = `${kind}-${podsPerNode}`;
  const dir = await mkdtemp(join(work, `${label}-`));
  process.stderr.write(`${label}: compression ${compression.toFixed(1)}×, a republish every ${(intervalMs / 1000).toFixed(1)} s per pod, ` +
    `${(warmMs / 1000).toFixed(0)} s of start-up then ${(windowMs / 1000).toFixed(0)} s measured\n`);
  const { vault, audit } = await startVault(cluster, compression, join(dir, 'audit.log'));
  const nodes: Node[] = [];
  try {
    for (let n = 0; n < NODES; n++) {
      // The projected ServiceAccount volume of this node's provider pod.
      const sa = join(dir, `node-${n}`, 'serviceaccount');
      await mkdir(sa, { recursive: true });
      const providerPod = cluster.providerPods[n]!;
      const token = (await cluster.kube.must('POST', `/api/v1/namespaces/${PROVIDER_NAMESPACE}/serviceaccounts/${PROVIDER_SA}/token`, {
        spec: { expirationSeconds: 7200, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: providerPod.name, uid: providerPod.uid } },
      })) as { status: { token: string } };
      await writeFile(join(sa, 'token'), token.status.token, { mode: 0o600 });
      await writeFile(join(sa, 'ca.crt'), cluster.kube.caPem);
      await writeFile(join(sa, 'namespace'), PROVIDER_NAMESPACE);
      const provider = await launchProvider(kind, {
        dir: join(dir, `node-${n}`),
        vaultAddress: vault.address,
        cluster: { server: cluster.kube.server, serviceAccountDir: sa, namespace: PROVIDER_NAMESPACE },
        ...(reference === undefined ? {} : { referenceBinary: reference }),
      });
      const driver = new RealDriverClient(dirname(provider.endpoint));
      const pods: Array<Node['pods'][number]> = [];
      for (let k = 0; k < podsPerNode; k++) {
        const pod = await createPod(cluster.kube, APP_NAMESPACE, `${label}-n${n}-${k}`, `app-${k % SERVICE_ACCOUNTS}`, { nodeName: `node-${n}` });
        const tokens = JSON.stringify({ vault: await podToken(cluster.kube, pod, 'vault', 7200) });
        const target = join(dir, `node-${n}`, 'pods', pod.uid);
        await mkdir(target, { recursive: true });
        pods.push({
          pod,
          target,
          attributes: { ...podAttributes(pod, false), 'csi.storage.k8s.io/serviceAccount.tokens': tokens, secretProviderClass: 'app', roleName: 'bench', objects: OBJECTS },
        });
      }
      nodes.push({ provider, driver, pods });
    }

    const latencies: number[] = [];
    let republishes = 0;
    let failed = 0;
    let firstFailure: string | undefined;
    const started = performance.now();
    // Pods start spread over the start-up, leaving the last interval of it for their first mounts to finish; the
    // window opens once every pod has mounted (its first mount's Vault requests are not counted) and lasts windowMs.
    const spreadMs = Math.max(0, warmMs - 1.5 * intervalMs);
    let markAt = Number.POSITIVE_INFINITY;
    let endAt = Number.POSITIVE_INFINITY;
    let unstarted = nodes.reduce((sum, n) => sum + n.pods.length, 0);
    let allStarted!: () => void;
    const everyPodStarted = new Promise<void>((resolve) => (allStarted = resolve));
    // Each volume on its own schedule, as the kubelet republishes it (the driver's RequiresRepublish: one operation
    // per volume at a time, volumes in parallel): a pod starts at its place in the start-up spread (its first mount
    // is its cold mount, not a republish), then republishes an interval after each one was due (at once when late).
    let inFlight = 0;
    const podLoop = async (p: Node['pods'][number], driver: RealDriverClient, startAt: number): Promise<void> => {
      await sleep(Math.max(0, startAt - performance.now()));
      let due = startAt;
      for (let first = true; ; first = false) {
        const now = performance.now();
        if (now >= endAt) return;
        inFlight += 1;
        const answer = await driver.mount({ attributes: p.attributes, secrets: null, targetPath: p.target, permission: 0o644 }).finally(() => (inFlight -= 1));
        const elapsed = performance.now() - now;
        const error = answer.error !== '' || answer.errorCode !== '' ? `${answer.errorCode} ${answer.error}`.trim() : undefined;
        if (first) {
          if (error !== undefined) throw new Error(`${label}: first mount of ${p.pod.name}: ${error}`);
          if (--unstarted === 0) allStarted();
        } else if (now >= markAt) {
          if (error !== undefined) {
            failed += 1;
            firstFailure ??= error;
          } else {
            republishes += 1;
            latencies.push(elapsed);
          }
        }
        due += intervalMs;
        await sleep(Math.max(0, due - performance.now()));
      }
    };
    const nodeLoop = (node: Node): Promise<unknown> =>
      Promise.all(node.pods.map((p, k) => podLoop(p, node.driver, started + (k / node.pods.length) * spreadMs)));
    const loops = Promise.all(nodes.map(nodeLoop));
    // Awaited below; a failure while the window runs must not be an unhandled rejection meanwhile.
    loops.catch(() => undefined);

    // The mark: the start-up is over and every pod has mounted once.
    await Promise.race([everyPodStarted, loops]);
    await sleep(Math.max(0, started + warmMs - performance.now()));
    markAt = performance.now();
    endAt = markAt + windowMs;
    const before = {
      raftIndex: await raftIndex(vault),
      audit: (await stat(audit.file)).size,
      api: await apiserverRequests(cluster.kube),
      vaultCpu: await cpuMs(vault.pid!),
      providerCpu: await Promise.all(nodes.map((n) => cpuMs(n.provider.pid))),
      raft: await dirBytes(vault.raftDir!),
    };
    // The window closes at endAt: mounts started before it are let finish; pods asleep past it just end.
    await sleep(Math.max(0, endAt - performance.now()));
    await until(() => inFlight === 0, 'the mounts in flight at the end of the window', 120_000);
    const after = {
      raftIndex: await raftIndex(vault),
      api: await apiserverRequests(cluster.kube),
      vaultCpu: await cpuMs(vault.pid!),
      providerCpu: await Promise.all(nodes.map((n) => cpuMs(n.provider.pid))),
      raft: await dirBytes(vault.raftDir!),
    };
    // The providers' own CPU while nothing is mounted (timers), over a short idle spell: it accrues in real time,
    // not on the compressed schedule, so it is taken out of the window's CPU and reported per hour of its own.
    const idleFrom = await Promise.all(nodes.map((n) => cpuMs(n.provider.pid)));
    await sleep(IDLE_S * 1000);
    const idleTo = await Promise.all(nodes.map((n) => cpuMs(n.provider.pid)));
    const idleCpuPerSecond = idleTo.reduce((sum, v, i) => sum + v - idleFrom[i]!, 0) / 1000 / IDLE_S;
    await loops;
    const counted = await auditSince(audit.file, before.audit);
    const peakKb = Math.max(...(await Promise.all(nodes.map((n) => statusKb(n.provider.pid, 'VmHWM')))));
    const result: PointResult = {
      provider: kind,
      podsPerNode,
      nodes: NODES,
      compression,
      windowSeconds: windowMs / 1000,
      republishes,
      failedMounts: failed,
      firstFailure,
      mountP50Ms: percentile(latencies, 50),
      mountP99Ms: percentile(latencies, 99),
      vaultRequests: counted.requests,
      vaultErrors: counted.errors,
      tokensCreated: counted.tokens,
      leasesCreated: counted.leases,
      leasesOutstandingAtEnd: await leasesOutstanding(vault),
      tokenReviews: delta(after.api, before.api, (k) => k.startsWith('tokenreviews ')),
      kubeSecretRequests: delta(after.api, before.api, (k) => k.startsWith('secrets ')),
      vaultCpuSeconds: (after.vaultCpu - before.vaultCpu) / 1000,
      providerCpuSeconds: Math.max(0, after.providerCpu.reduce((sum, v, i) => sum + v - before.providerCpu[i]!, 0) / 1000 - idleCpuPerSecond * (windowMs / 1000)),
      providerIdleCpuSecondsPerHour: (idleCpuPerSecond * 3600) / NODES,
      providerPeakRssMiB: peakKb / 1024,
      raftGrowthBytes: after.raft - before.raft,
      raftEntries: after.raftIndex - before.raftIndex,
      raftBytesAtEnd: after.raft,
      load: loadavg(),
    };
    process.stderr.write(`${label}: ${republishes} republishes, ${failed} failed; Vault requests ${JSON.stringify(counted.requests)}, ` +
      `tokens ${counted.tokens}, leases ${counted.leases}, TokenReviews ${result.tokenReviews}, Secret requests ${result.kubeSecretRequests}\n`);
    return result;
  } finally {
    for (const node of nodes) {
      await node.driver.close();
      await node.provider.stop();
    }
    await vault.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- reporting ----------------------------------------------------------------------------------------------

/** Republishes an hour of one node at this many pods, at the driver's default rotation interval. */
const republishesPerNodeHour = (pods: number): number => (pods * 3600) / ROTATION_S;
/** Per hour of one node: a count over the window, which stands for MINUTES of the uncompressed schedule. */
const perNodeHour = (p: PointResult, count: number): number => (count / p.nodes) * (60 / MINUTES);
const per1000 = (p: PointResult, count: number): number => (p.republishes === 0 ? Number.NaN : (count / p.republishes) * 1000);
const totalVault = (p: PointResult): number => VAULT_KINDS.reduce((sum, k) => sum + p.vaultRequests[k], 0);

const fmt = (v: number | undefined, digits = 0): string =>
  v === undefined || Number.isNaN(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const NAMES: Record<ProviderKind, string> = { ours: 'ours', reference: 'reference (v1.7.4)', floor: 'floor' };

function table(points: readonly PointResult[]): string {
  const rows: string[] = [];
  const head = ['pods per node', 'provider', 'republishes', 'failed', 'mount p50 / p99 ms', 'Vault requests', ...VAULT_KINDS.filter((k) => points.some((p) => p.vaultRequests[k] > 0)).map((k) => `… ${k}`), 'tokens created', 'leases created', 'TokenReviews', 'Secret requests (Kubernetes)', 'Vault CPU s', 'provider CPU s (mounts)', 'provider CPU s at idle', 'raft log entries', 'raft growth KiB'];
  const kinds = VAULT_KINDS.filter((k) => points.some((p) => p.vaultRequests[k] > 0));
  rows.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const scale of ['per 1,000 republishes', 'per hour of one node'] as const) {
    rows.push(`| **${scale}** |${' |'.repeat(head.length - 1)}`);
    for (const p of points) {
      const f = (count: number, digits = 0) => fmt(scale === 'per 1,000 republishes' ? per1000(p, count) : perNodeHour(p, count), digits);
      rows.push(
        `| ${p.podsPerNode} | ${NAMES[p.provider]} | ${fmt(scale === 'per 1,000 republishes' ? p.republishes : perNodeHour(p, p.republishes))} | ${fmt(p.failedMounts)} | ` +
          `${fmt(p.mountP50Ms, 1)} / ${fmt(p.mountP99Ms, 1)} | ${f(totalVault(p))} | ${kinds.map((k) => f(p.vaultRequests[k])).join(' | ')} | ` +
          `${f(p.tokensCreated)} | ${f(p.leasesCreated)} | ${f(p.tokenReviews)} | ${f(p.kubeSecretRequests)} | ${f(p.vaultCpuSeconds, 1)} | ${f(p.providerCpuSeconds, 1)} | ${scale === 'per 1,000 republishes' ? '–' : fmt(p.providerIdleCpuSecondsPerHour, 1)} | ${f(p.raftEntries)} | ${f(p.raftGrowthBytes / 1024)} |`,
      );
    }
  }
  return rows.join('\n');
}

function chart(points: readonly PointResult[]): string {
  const series = (metric: (p: PointResult) => number): Series[] =>
    (['ours', 'reference'] as const)
      .filter((kind) => points.some((p) => p.provider === kind))
      .map((kind) => ({
        name: kind === 'ours' ? 'ours' : 'reference (vault-csi-provider v1.7.4)',
        color: kind === 'ours' ? '#1f6fb4' : '#c9302c',
        dashed: kind === 'reference',
        points: points.filter((p) => p.provider === kind).map((p): [number, number] => [p.podsPerNode, metric(p)]),
      }));
  return lineChartsSvg(
    "A node's cost to Vault against pods per node (npm run bench:real)",
    [
      { title: 'Vault requests per minute', xLabel: 'pods per node', yLabel: 'requests per minute, one node', series: series((p) => perNodeHour(p, totalVault(p)) / 60) },
      { title: 'Vault tokens created per hour', xLabel: 'pods per node', yLabel: 'tokens per hour, one node', series: series((p) => perNodeHour(p, p.tokensCreated)) },
    ],
    'Each pod republishes one volume (a KV v2 secret and a database credential) every 2 minutes; Vault tokens live 20 minutes, credentials 1 hour.\n' +
      `Real Vault (integrated storage, audit log), kube-apiserver reviewing every login, PostgreSQL; ${points[0]?.nodes ?? NODES} provider processes as nodes; docs/benchmark-real.md has the table.`,
  );
}

async function writeDocs(record: RunRecord): Promise<void> {
  await writeFile(join(DOCS, 'benchmark-real.json'), `${JSON.stringify(record, null, 2)}\n`);
  await writeFile(join(DOCS, 'benchmark-real.svg'), chart(record.points));
  const page = join(DOCS, 'benchmark-real.md');
  const text = await readFile(page, 'utf8');
  const begin = '<!-- bench:real table begin -->';
  const end = '<!-- bench:real table end -->';
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${page} lacks the ${begin} … ${end} markers`);
  const s = record.settings;
  const generated = [
    begin,
    '',
    `One run of \`npm run bench:real\` (${record.date}), ${record.machine}; ${s.nodes} nodes, a node's volumes mounted at ${s.rate} a second.`,
    '',
    table(record.points),
    '',
    ...record.points.map(
      (p) =>
        `- ${NAMES[p.provider]}, ${p.podsPerNode} pods per node: compression ${p.compression.toFixed(1)}× (a republish every ${(ROTATION_S / p.compression).toFixed(1)} s, ` +
        `${p.windowSeconds.toFixed(0)} s measured for ${s.minutes} min); load average at the end ${p.load.map((v) => v.toFixed(2)).join(' / ')}; ` +
        `leases outstanding at the end ${fmt(p.leasesOutstandingAtEnd)}; raft directory ${fmt(p.raftBytesAtEnd / 1024 / 1024, 1)} MiB; peak RSS of a provider ${p.providerPeakRssMiB.toFixed(1)} MiB` +
        (p.failedMounts > 0 ? `; first failure: ${p.firstFailure ?? ''}` : '') +
        '.',
    ),
    ...record.notes.map((n) => `- ${n}`),
    '',
    end,
  ].join('\n');
  await writeFile(page, `${text.slice(0, from)}${generated}${text.slice(to + end.length)}`);
}

async function main(): Promise<void> {
  if (process.env['BENCH_REAL_CHART_ONLY'] === '1') {
    await writeDocs(JSON.parse(await readFile(join(DOCS, 'benchmark-real.json'), 'utf8')) as RunRecord);
    return;
  }
  const notes: string[] = [];
  let reference: string | undefined;
  if (PROVIDERS.includes('reference')) {
    const found = await referenceBinary();
    if ('path' in found) reference = found.path;
    else {
      notes.push(found.skipped);
      process.stderr.write(`${found.skipped}\n`);
    }
  }
  const kinds = PROVIDERS.filter((k) => k !== 'reference' || reference !== undefined);
  const work = await mkdtemp(join(tmpdir(), 'vcp-bench-real-'));
  const cluster = await startCluster();
  const points: PointResult[] = [];
  try {
    for (const pods of PODS_STEPS) {
      for (const kind of kinds) points.push(await runPoint(cluster, kind, pods, work, reference));
    }
  } finally {
    await cluster.postgres.stop();
    await cluster.kube.stop();
    await rm(work, { recursive: true, force: true });
  }
  const record: RunRecord = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
    settings: { nodes: NODES, rate: RATE, minutes: MINUTES, warmMinutes: WARM_MINUTES, rotationSeconds: ROTATION_S, tokenTtlSeconds: TOKEN_TTL_S, dbTtlSeconds: DB_TTL_S },
    notes,
    points,
  };
  process.stdout.write(`${table(points)}\n`);
  process.stdout.write(`\nRepublishes per hour of a 100-pod node at the driver's default interval: ${republishesPerNodeHour(100)}.\n`);
  await writeDocs(record);
  process.stdout.write('Wrote docs/benchmark-real.md (between its markers), docs/benchmark-real.json and docs/benchmark-real.svg.\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:real failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
