// `npm run bench`: what republishes cost Vault, and how close the provider comes to the limit.
//
// Three processes: this one (the driver's side: a gRPC client over the Unix socket, and the bare HTTP client that
// measures the limit), the Vault-compatible test server (bench/vault-process.ts, forked), and the provider as the
// DaemonSet runs it (`node dist/main.js`, built by `npm run bench` first). Vault's request log counts requests by
// kind; the provider's peak RSS is read from /proc (VmHWM, reset before each scenario through clear_refs).
//
// The limit: for each scenario, a bare keep-alive HTTP client (undici Pool, as many connections as the provider's
// transport) issues the Vault requests one mount of that scenario needs when nothing is reused (a login where the
// pod's identity is new, then each distinct secret request once, in parallel), with the same concurrency, against
// the same server, in the same run. No timing is asserted anywhere; the numbers go into docs/benchmark.md by hand.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { ServiceAccountJwtIssuer, type RequestKind } from '../test/vault-server/index.js';
import { DriverClient } from '../test/helpers/grpc-client.js';
import { LeanDriverClient } from './driver-client.js';
import type { MountRequest } from '../src/generated/v1alpha1/MountRequest.js';
import type { BenchReply, BenchRequest } from './vault-process.js';
import { formatTable, percentile, runLoad, type LoadResult } from './load.js';
import { imageNodeOptions } from '../test/helpers/image.js';
import { cpuMs, PeakRss } from './peak-rss.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NAMESPACE = 'bench';
const ROLE = 'bench';
const KV_SECRETS = 10;
/** Connections per Vault origin: the provider's transport default, given to the limit's pool too. */
const CONNECTIONS = 32;
const CONCURRENCY = 16;
/** Measured rounds of each republish scenario, per side (BENCH_ROUNDS). New pods can only be mounted new once. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
/**
 * BENCH_SCALE shrinks every count (pods, mounts, warm-up) for a quick check that the bench still runs end to end:
 * `npm test` runs it at 0.02 (test/bench/rotation.test.ts). Its numbers mean nothing at that size.
 */
const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const scaled = (n: number, min = 2): number => Math.max(min, Math.round(n * SCALE));
/** Node options of the provider: the image's (Dockerfile NODE_OPTIONS), then any given for one run. */
const PROVIDER_NODE_ARGS = [...imageNodeOptions(), ...(process.env.BENCH_PROVIDER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
/**
 * The topology of a node: the provider on a CPU of its own, Vault and the driver (or the limit's client) on the
 * other, as a DaemonSet runs beside a driver with Vault elsewhere. Without it the three processes share two cores
 * and every millisecond of the provider's CPU is taken from Vault and the client. BENCH_PIN=0 turns it off.
 */
const PINNED = process.env.BENCH_PIN !== '0' && cpus().length >= 2 && hasTaskset();

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ---- what the pods mount ------------------------------------------------------------------------------------

interface VaultCall {
  readonly method: 'GET' | 'PUT';
  readonly path: string;
  readonly body?: Record<string, unknown>;
}

interface Spc {
  readonly name: string;
  readonly objects: ReadonlyArray<Record<string, unknown>>;
  /** The `objects` parameter as the SecretProviderClass holds it: YAML text the driver forwards unchanged. */
  readonly objectsYaml: string;
  /** The distinct Vault requests a mount of this class needs when nothing is reused. */
  readonly calls: readonly VaultCall[];
}

const kvObjects = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ objectName: `kv/app-${i}`, secretPath: `secret/data/app-${i}`, secretKey: 'password' }));
const kvCalls = (n: number): VaultCall[] => Array.from({ length: n }, (_, i) => ({ method: 'GET', path: `/v1/secret/data/app-${i}` }));
const PKI_ARGS = { common_name: 'app.bench.svc', ttl: '24h' };
const DYNAMIC_OBJECTS = [
  { objectName: 'db/username', secretPath: 'database/creds/bench', secretKey: 'username' },
  { objectName: 'db/password', secretPath: 'database/creds/bench', secretKey: 'password' },
  { objectName: 'tls/tls.crt', secretPath: 'pki/issue/bench', secretKey: 'certificate', method: 'PUT', secretArgs: PKI_ARGS },
  { objectName: 'tls/tls.key', secretPath: 'pki/issue/bench', secretKey: 'private_key', method: 'PUT', secretArgs: PKI_ARGS },
];
const DYNAMIC_CALLS: VaultCall[] = [
  { method: 'GET', path: '/v1/database/creds/bench' },
  { method: 'PUT', path: '/v1/pki/issue/bench', body: PKI_ARGS },
];

const spc = (name: string, objects: ReadonlyArray<Record<string, unknown>>, calls: readonly VaultCall[]): Spc => ({
  name,
  objects,
  objectsYaml: stringify(objects),
  calls,
});
const KV1 = spc('kv1', kvObjects(1), kvCalls(1));
const KV10 = spc('kv10', kvObjects(KV_SECRETS), kvCalls(KV_SECRETS));
const DYNAMIC = spc('dynamic', DYNAMIC_OBJECTS, DYNAMIC_CALLS);
/** A new pod's class: one static secret, a database credential and a certificate. */
const APP = spc('app', [...kvObjects(1), ...DYNAMIC_OBJECTS], [...kvCalls(1), ...DYNAMIC_CALLS]);

interface Pod {
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: string;
  readonly jwt: string;
}

function mountRequest(pod: Pod, spc: Spc, dir: string): MountRequest {
  const tokens = JSON.stringify({ vault: { token: pod.jwt, expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() } });
  const attributes = {
    'csi.storage.k8s.io/ephemeral': 'false',
    'csi.storage.k8s.io/pod.name': pod.name,
    'csi.storage.k8s.io/pod.namespace': NAMESPACE,
    'csi.storage.k8s.io/pod.uid': pod.uid,
    'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
    'csi.storage.k8s.io/serviceAccount.tokens': tokens,
    secretProviderClass: spc.name,
    roleName: ROLE,
    objects: spc.objectsYaml,
  };
  return {
    attributes: JSON.stringify(attributes),
    secrets: 'null',
    target_path: join(dir, 'pods', pod.uid, 'volumes', spc.name),
    permission: '420',
    current_object_version: [],
  };
}

// ---- the processes ------------------------------------------------------------------------------------------

class BenchVault {
  readonly #child: ChildProcess;
  #waiters: Array<(reply: BenchReply) => void> = [];

  get pid(): number {
    return this.#child.pid!;
  }

  constructor() {
    this.#child = fork(join(ROOT, 'bench', 'vault-process.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (reply: BenchReply) => this.#waiters.shift()?.(reply));
  }

  #ask(message: BenchRequest): Promise<BenchReply> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#child.send(message);
    });
  }

  async setup(publicKeyPem: string): Promise<string> {
    const reply = await this.#ask({ type: 'setup', publicKeyPem, kvSecrets: KV_SECRETS });
    if (reply.type !== 'ready') throw new Error('bench vault did not start');
    return reply.address;
  }

  async clear(): Promise<void> {
    await this.#ask({ type: 'clear' });
  }

  async counts(): Promise<Record<RequestKind, number>> {
    const reply = await this.#ask({ type: 'counts' });
    if (reply.type !== 'counts') throw new Error('unexpected reply');
    return reply.counts;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.send({ type: 'stop' } satisfies BenchRequest);
    await exited;
  }
}

/** A rate far above what one loopback Vault can serve, so the bucket never makes a request wait. */
const UNLIMITED_RATE_FLAGS = ['--vault-rate-limit=1000000', '--vault-rate-burst=1000000'] as const;

async function startProvider(dir: string, vaultAddress: string): Promise<{ child: ChildProcess; client: LeanDriverClient }> {
  const keyFile = join(dir, 'hmac.key');
  await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
  const endpoint = join(dir, 'socket', 'vault.sock');
  const child = spawn(
    process.execPath,
    // The image's NODE_OPTIONS (Dockerfile), then BENCH_PROVIDER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
    // profiles the provider; a later V8 flag wins);
    // BENCH_PROVIDER_FLAGS adds provider flags (a later flag wins).
    // The per-address rate limit that protects Vault (500/s by default) is lifted: the bench measures what the
    // provider makes of its CPU against a bare client that has no such limit; with the default a node sends at most
    // 500 requests a second to one Vault address, so a 10-object republish tops out at 50 a second
    // (BENCH_PROVIDER_FLAGS="--vault-rate-limit=500 --vault-rate-burst=1000" shows it).
    [
      ...PROVIDER_NODE_ARGS,
      join(ROOT, 'dist', 'main.js'),
      `--endpoint=${endpoint}`,
      `--vault-addr=${vaultAddress}`,
      '--health-addr=127.0.0.1:0',
      `--hmac-key-file=${keyFile}`,
      '--log-level=info',
      ...UNLIMITED_RATE_FLAGS,
      ...(process.env.BENCH_PROVIDER_FLAGS ?? '').split(' ').filter(Boolean),
    ],
    // Logs go to /dev/null: one info line per mount is written as in production, and costs what it costs there.
    { stdio: ['ignore', process.env.BENCH_PROVIDER_STDOUT === '1' ? 'inherit' : 'ignore', 'inherit'], env: { PATH: process.env.PATH ?? '' } },
  );
  const probe = new DriverClient(endpoint);
  try {
    for (let i = 0; ; i++) {
      try {
        await probe.version();
        return { child, client: new LeanDriverClient(endpoint) };
      } catch (err: unknown) {
        if (i > 200 || child.exitCode !== null) throw new Error('the provider did not start', { cause: err });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    probe.close();
  }
}

// ---- the limit: a bare keep-alive client ----------------------------------------------------------------------

async function limitMount(pool: Pool, calls: readonly VaultCall[], login: { jwt: string } | { token: string }): Promise<void> {
  let token: string;
  if ('jwt' in login) {
    const res = await pool.request({
      method: 'POST',
      path: '/v1/auth/kubernetes/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role: ROLE, jwt: login.jwt }),
    });
    const body = (await res.body.json()) as { auth?: { client_token?: string } };
    if (res.statusCode !== 200 || body.auth?.client_token === undefined) throw new Error(`login: HTTP ${res.statusCode}`);
    token = body.auth.client_token;
  } else {
    token = login.token;
  }
  await Promise.all(
    calls.map(async (call) => {
      const res = await pool.request({
        method: call.method,
        path: call.path,
        headers: { 'x-vault-token': token, ...(call.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      });
      await res.body.json();
      if (res.statusCode !== 200) throw new Error(`${call.method} ${call.path}: HTTP ${res.statusCode}`);
    }),
  );
}

// ---- the run --------------------------------------------------------------------------------------------------

interface Measured {
  readonly load: LoadResult;
  /** Mounts per second: the median of the rounds' throughputs. */
  readonly mountsPerSecond: number;
  /** CPU milliseconds per mount: the provider's, the Vault server's, this process's (driver or limit client). */
  readonly cpuMs: { readonly provider: number; readonly vault: number; readonly bench: number };
  readonly counts: Record<RequestKind, number>;
  readonly peakRssMiB: number | undefined;
}

interface ScenarioRow {
  readonly name: string;
  readonly concurrency: number;
  readonly provider: Measured;
  readonly limit: Measured;
}

async function main(): Promise<void> {
  const started = performance.now();
  // Other work on the machine skews every number here; the footer says how busy it was.
  const loadBefore = loadavg()[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'vcp-bench-'));
  const issuer = new ServiceAccountJwtIssuer();
  const vault = new BenchVault();
  let provider: { child: ChildProcess; client: LeanDriverClient } | undefined;
  let limitPool: Pool | undefined;
  try {
    const address = await vault.setup(issuer.publicKeyPem);
    provider = await startProvider(dir, address);
    const { client, child } = provider;
    const pool = new Pool(address, { connections: CONNECTIONS, keepAliveTimeout: 30_000 });
    limitPool = pool;
    const rss = new PeakRss(child.pid!);
    if (PINNED) {
      execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-a', '-p', '-c', '0', String(vault.pid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-a', '-p', '-c', '1', String(child.pid)], { stdio: 'ignore' });
    }

    // The kubelet asks for a token per pod, bound to it (the provider refuses a token bound to another pod).
    let podCounter = 0;
    const newPod = (serviceAccount: string): Pod => {
      podCounter += 1;
      const n = String(podCounter).padStart(12, '0');
      const name = `pod-${podCounter}`;
      const uid = `00000000-0000-4000-8000-${n}`;
      const jwt = issuer.signServiceAccountJwt({ namespace: NAMESPACE, serviceAccountName: serviceAccount, podName: name, podUid: uid, ttlSeconds: 3600 });
      return { name, uid, serviceAccount, jwt };
    };
    // The driver sends the same request for a volume on every republish; build each once, as it does not cost
    // the driver (a Go process of its own) anything worth measuring here.
    const requests = new Map<string, MountRequest>();
    const mountOnce = async (pod: Pod, cls: Spc): Promise<void> => {
      const key = `${pod.uid}/${cls.name}`;
      let request = requests.get(key);
      if (request === undefined) {
        request = mountRequest(pod, cls, dir);
        requests.set(key, request);
      }
      const res = await client.mount(request);
      if (res.errorCode !== '' || res.objectVersions !== cls.objects.length || res.files !== cls.objects.length) {
        throw new Error(`mount of ${cls.name}: ${res.objectVersions} versions, ${res.files} files, error "${res.errorCode}"`);
      }
    };

    // A node with 100 pods (10 ServiceAccounts), each with three volumes, mounted once before anything is timed.
    const resident = Array.from({ length: scaled(100, 10) }, (_, i) => newPod(`resident-${i % 10}`));
    await runLoad(resident.flatMap((pod) => [KV1, KV10, DYNAMIC].map((spc) => () => mountOnce(pod, spc))), CONCURRENCY);
    // The limit's tokens for republishes: one login per resident ServiceAccount, as the provider holds.
    const residentTokens = new Map<string, string>();
    for (let i = 0; i < 10; i++) {
      const res = await pool.request({
        method: 'POST', path: '/v1/auth/kubernetes/login', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role: ROLE, jwt: resident[i]!.jwt }),
      });
      residentTokens.set(`resident-${i}`, ((await res.body.json()) as { auth: { client_token: string } }).auth.client_token);
    }

    const measure = async (ops: ReadonlyArray<() => Promise<void>>, concurrency: number, withRss: boolean): Promise<Measured> => {
      await vault.clear();
      if (withRss) await rss.start();
      const before = { provider: await cpuMs(child.pid!), vault: await cpuMs(vault.pid), bench: process.cpuUsage() };
      const load = await runLoad(ops, concurrency);
      const bench = process.cpuUsage(before.bench);
      const cpu = {
        provider: ((await cpuMs(child.pid!)) - before.provider) / ops.length,
        vault: ((await cpuMs(vault.pid)) - before.vault) / ops.length,
        bench: (bench.user + bench.system) / 1000 / ops.length,
      };
      const peakRssMiB = withRss ? await rss.stop() : undefined;
      return { load, mountsPerSecond: load.latenciesMs.length / load.seconds, cpuMs: cpu, counts: await vault.counts(), peakRssMiB };
    };

    /** Rounds of one side, as one result: median throughput, every latency, summed CPU and requests, highest peak. */
    const combine = (rounds: readonly Measured[]): Measured => {
      if (rounds.length === 1) return rounds[0]!;
      const ops = rounds.map((r) => r.load.latenciesMs.length);
      const total = ops.reduce((a, b) => a + b, 0);
      const weighted = (pick: (m: Measured) => number) => rounds.reduce((sum, r, i) => sum + pick(r) * ops[i]!, 0) / total;
      const throughputs = rounds.map((r) => r.mountsPerSecond).sort((a, b) => a - b);
      const peaks = rounds.map((r) => r.peakRssMiB).filter((v): v is number => v !== undefined);
      const counts = Object.fromEntries(
        Object.keys(rounds[0]!.counts).map((k) => [k, rounds.reduce((sum, r) => sum + r.counts[k as RequestKind], 0)]),
      ) as Record<RequestKind, number>;
      const errors = rounds.reduce((sum, r) => sum + r.load.errors, 0);
      return {
        load: {
          latenciesMs: rounds.flatMap((r) => r.load.latenciesMs),
          seconds: rounds.reduce((sum, r) => sum + r.load.seconds, 0),
          errors,
          firstError: rounds.find((r) => r.load.firstError !== undefined)?.load.firstError,
        },
        mountsPerSecond: throughputs[Math.floor((throughputs.length - 1) / 2)]!,
        cpuMs: { provider: weighted((m) => m.cpuMs.provider), vault: weighted((m) => m.cpuMs.vault), bench: weighted((m) => m.cpuMs.bench) },
        counts,
        peakRssMiB: peaks.length === 0 ? undefined : Math.max(...peaks),
      };
    };

    const rows: ScenarioRow[] = [];
    const scenario = async (
      name: string,
      concurrency: number,
      count: number,
      providerOp: (i: number) => Promise<void>,
      limitOp: (i: number) => Promise<void>,
      warmup = 0,
      rounds = 1,
    ): Promise<void> => {
      // BENCH_ONLY=<text> runs only the scenarios whose name contains it (to profile one of them).
      if (process.env.BENCH_ONLY !== undefined && !name.includes(process.env.BENCH_ONLY)) return;
      // Republishes repeat: both sides first run the same operations untimed, so the JIT has compiled the hot path
      // of each (a DaemonSet serves republishes for days) and the table compares steady states.
      if (warmup > 0) {
        await runLoad(Array.from({ length: warmup }, (_, i) => () => providerOp(i)), concurrency);
        await runLoad(Array.from({ length: warmup }, (_, i) => () => limitOp(i)), concurrency);
      }
      // Rounds alternate between the two sides, so a slow spell of the machine (a shared host) lands on both, and
      // the median round of each is compared.
      const providerRounds: Measured[] = [];
      const limitRounds: Measured[] = [];
      for (let r = 0; r < rounds; r++) {
        providerRounds.push(await measure(Array.from({ length: count }, (_, i) => () => providerOp(i)), concurrency, true));
        limitRounds.push(await measure(Array.from({ length: count }, (_, i) => () => limitOp(i)), concurrency, false));
      }
      const providerResult = combine(providerRounds);
      const limitResult = combine(limitRounds);
      rows.push({ name, concurrency, provider: providerResult, limit: limitResult });
      const cpu = (m: Measured) => `provider ${m.cpuMs.provider.toFixed(2)}, Vault ${m.cpuMs.vault.toFixed(2)}, this process ${m.cpuMs.bench.toFixed(2)}`;
      process.stderr.write(`  ${name}: CPU ms per mount: ${cpu(providerResult)} | limit: ${cpu(limitResult)}\n`);
    };

    const residentPod = (i: number): Pod => resident[i % resident.length]!;
    const residentToken = (pod: Pod) => ({ token: residentTokens.get(pod.serviceAccount)! });

    // Cold mount: a new pod of a new ServiceAccount: login, a static read, a database credential, a certificate.
    const coldPods = Array.from({ length: scaled(100) }, (_, i) => newPod(`cold-${i}`));
    const coldLimitPods = Array.from({ length: scaled(100) }, (_, i) => newPod(`cold-limit-${i}`));
    await scenario('cold mount (new pod, new ServiceAccount; 1 KV + database + PKI)', 8, coldPods.length,
      (i) => mountOnce(coldPods[i]!, APP),
      (i) => limitMount(pool, APP.calls, { jwt: coldLimitPods[i]!.jwt }));

    await scenario('republish, KV only, 1 object', CONCURRENCY, scaled(4000),
      (i) => mountOnce(residentPod(i), KV1),
      (i) => limitMount(pool, KV1.calls, residentToken(residentPod(i))), scaled(1000), ROUNDS);

    await scenario('republish, KV only, 10 objects', CONCURRENCY, scaled(2000),
      (i) => mountOnce(residentPod(i), KV10),
      (i) => limitMount(pool, KV10.calls, residentToken(residentPod(i))), scaled(1000), ROUNDS);

    // The limit mints a credential and a certificate per mount, as a provider without reuse must (~8 ms of Vault CPU).
    await scenario('republish, database credential + PKI certificate', CONCURRENCY, scaled(1000),
      (i) => mountOnce(residentPod(i), DYNAMIC),
      (i) => limitMount(pool, DYNAMIC.calls, residentToken(residentPod(i))), scaled(200), ROUNDS);

    // 200 new pods at once: a rollout of 20 Deployments (10 replicas each, one ServiceAccount per Deployment).
    const burst = scaled(200, 20);
    const burstPods = Array.from({ length: burst }, (_, i) => newPod(`burst-${i % 20}`));
    const burstLimitPods = Array.from({ length: burst }, (_, i) => newPod(`burst-limit-${i % 20}`));
    await scenario(`burst: ${burst} new pods at once (20 ServiceAccounts; 1 KV + database + PKI)`, burst, burstPods.length,
      (i) => mountOnce(burstPods[i]!, APP),
      (i) => limitMount(pool, APP.calls, { jwt: burstLimitPods[i]!.jwt }));

    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`${render(rows)}\n`);
    process.stdout.write(
      `\n${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; whole run ${seconds.toFixed(0)} s; ` +
        `1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after.\n` +
        `Provider: node ${PROVIDER_NODE_ARGS.join(' ')} dist/main.js; ` +
        (PINNED ? 'pinned to CPU 1, Vault and the driver or limit client to CPU 0.\n' : 'not pinned: all three processes share every CPU.\n') +
        'CPU ms/mount: the provider process for provider rows, the limit client for limit rows (Vault not counted).\n',
    );
  } finally {
    await limitPool?.close();
    provider?.client.close();
    if (provider !== undefined && provider.child.exitCode === null) {
      const exited = once(provider.child, 'exit');
      provider.child.kill('SIGTERM');
      await exited;
    }
    await vault.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function perMount(counts: Record<RequestKind, number>, mounts: number, kind: RequestKind): string {
  const v = counts[kind] / mounts;
  return v === 0 ? '0' : v < 0.1 ? v.toFixed(3) : v.toFixed(2);
}

function render(rows: readonly ScenarioRow[]): string {
  const header = ['scenario', 'client', 'mounts', 'conc.', 'mounts/s', 'p50 ms', 'p99 ms', 'login', 'read', 'dynamic', 'issue', 'renew', 'peak RSS MiB', 'CPU ms/mount', 'thr. vs limit', 'p50 vs limit'];
  const body: string[][] = [];
  for (const row of rows) {
    for (const who of ['provider', 'limit'] as const) {
      const m = row[who];
      const mounts = m.load.latenciesMs.length;
      const p50 = percentile(m.load.latenciesMs, 50);
      const thr = m.mountsPerSecond;
      const limitThr = row.limit.mountsPerSecond;
      const limitP50 = percentile(row.limit.load.latenciesMs, 50);
      body.push([
        who === 'provider' ? row.name : '',
        who === 'provider' ? 'provider' : 'limit (bare undici)',
        String(mounts),
        String(row.concurrency),
        thr.toFixed(0),
        p50.toFixed(2),
        percentile(m.load.latenciesMs, 99).toFixed(2),
        ...(['login', 'read', 'dynamic', 'issue', 'renew'] as const).map((k) => perMount(m.counts, mounts, k)),
        m.peakRssMiB === undefined ? '' : m.peakRssMiB.toFixed(1),
        (who === 'provider' ? m.cpuMs.provider : m.cpuMs.bench).toFixed(2),
        who === 'provider' ? `${(thr / limitThr).toFixed(2)}×` : '',
        who === 'provider' ? `${(p50 / limitP50).toFixed(2)}×` : '',
      ]);
      if (m.load.errors > 0) throw new Error(`${row.name} (${who}): ${m.load.errors} failed mounts: ${m.load.firstError}`);
    }
  }
  return formatTable(header, body);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
