// `npm run bench`: what mounts and republishes cost, ours beside the floor and the reference, in one run against
// one Vault stand-in.
//
// Processes: this one (the driver's side: a lean gRPC client over each provider's Unix socket), the
// Vault-compatible test server (bench/vault-process.ts, forked; it counts requests by kind), and the providers
// (bench/providers.ts): ours as the image runs it and in-cluster against a fake Kubernetes API, the floor (a
// minimal grpc-js provider: bench/floor-provider.ts), and the reference (hashicorp/vault-csi-provider v1.7.4,
// in-cluster against a fake Kubernetes API of its own), when its archive is at hand (bench/reference.ts); without
// it one line says why and its rows are left out. Rounds of each scenario alternate between the providers, so a
// slow spell of the shared host lands on all of them; ratios are per round (ours / floor, ours / reference) with
// their spread. Vault's request log counts requests by kind, each fake Kubernetes API its requests, /proc the
// providers' CPU (utime + stime, all threads) and peak RSS (VmHWM, reset before each round). No timing is asserted
// anywhere; the numbers go into docs/benchmark.md by hand, with the machine's load printed beside them.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestKind } from '../test/vault-server/index.js';
import type { MountRequest } from '../src/generated/v1alpha1/MountRequest.js';
import { formatTable, percentile, runLoad, type LoadResult } from './load.js';
import { imageNodeFlags } from '../scripts/image/dockerfile.js';
import { cpuMs, PeakRss } from './peak-rss.js';
import { launchProvider, type ProviderProcess } from './providers.js';
import { referenceBinary } from './reference.js';
import { APP, BenchVault, KV1, KV10_ONE_PATH, KV10_PATHS, KV_DB, mountRequest, PodFactory, RESIDENT_VOLUMES, type Pod, type Spc } from './workload.js';

const CONCURRENCY = 16;
/** Resident pods of the node whose volumes republish (BENCH_PODS). */
const PODS = Number(process.env['BENCH_PODS'] ?? '100');
/** Measured rounds of each scenario, per provider (BENCH_ROUNDS). */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '3');
/**
 * Mounts per round of the reference (BENCH_REFERENCE_MOUNTS), except in the burst: it GETs its HMAC Secret on every
 * Mount through client-go's limiter (5 requests a second, a burst of 10), so 4,000 republishes would take 13 minutes.
 * Its throughput is a rate and its latencies a distribution either way; the first 10 of a round ride the burst.
 */
const REFERENCE_MOUNTS = Number(process.env['BENCH_REFERENCE_MOUNTS'] ?? '60');
/**
 * BENCH_SCALE shrinks every count (pods, mounts, warm-up) for a quick check that the bench still runs end to end:
 * `npm run test:slow` runs it at 0.02 (test/bench/rotation.slow.ts). Its numbers mean nothing at that size.
 */
const SCALE = Number(process.env['BENCH_SCALE'] ?? '1');
const scaled = (n: number, min = 2): number => Math.max(min, Math.round(n * SCALE));
/** Node options of ours and the floor: the image's (Dockerfile NODE_OPTIONS), then any given for one run. */
const NODE_ARGS = (process.env['BENCH_PROVIDER_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
/**
 * The topology of a node: the providers on a CPU of their own (from exec on, so Go and Node size their threads for
 * it), Vault and the driver's side on the other, as a DaemonSet runs beside a driver with Vault elsewhere. Without
 * it every millisecond of a provider's CPU is taken from Vault and the client. BENCH_PIN=0 turns it off.
 */
const PINNED = process.env['BENCH_PIN'] !== '0' && cpus().length >= 2 && works('taskset', ['-p', String(process.pid)]);
/** In-cluster runs need a private mount namespace (root): without it ours runs with a key file and the reference not at all. */
const IN_CLUSTER = works('unshare', ['--mount', '--propagation', 'private', 'true']);
/**
 * The per-address rate limit that protects Vault (500/s by default) is lifted for ours: the floor and the reference
 * have none, and the bench measures what each makes of its CPU. One row in the 10-path scenario runs ours with its
 * defaults.
 */
const UNLIMITED_RATE_FLAGS = ['--vault-rate-limit=1000000', '--vault-rate-burst=1000000'] as const;
const EXTRA_FLAGS = (process.env['BENCH_PROVIDER_FLAGS'] ?? '').split(' ').filter(Boolean);

function works(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The node's resident pods, handed out round-robin so that no pod is in flight twice: a republish never shares a
 * read in flight with another republish of the same pod, which would flatter whoever coalesces reads.
 */
class ResidentPods {
  #next = 0;
  readonly #busy = new Set<number>();

  constructor(readonly pods: readonly Pod[]) {}

  async with(run: (pod: Pod) => Promise<void>): Promise<void> {
    const n = this.pods.length;
    let index = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n;
      if (!this.#busy.has(i)) {
        index = i;
        break;
      }
    }
    if (index < 0) throw new Error('more republishes in flight than resident pods');
    this.#next = index + 1;
    this.#busy.add(index);
    try {
      await run(this.pods[index]!);
    } finally {
      this.#busy.delete(index);
    }
  }
}

// ---- measuring ----------------------------------------------------------------------------------------------

/** One provider in the run: its process, its peak-RSS meter and the highest VmHWM seen over the whole run. */
interface Side {
  readonly p: ProviderProcess;
  readonly rss: PeakRss;
}

interface Round {
  readonly load: LoadResult;
  readonly mountsPerSecond: number;
  readonly cpuMsPerMount: number;
  readonly kubeRequests: number | undefined;
  readonly counts: Record<RequestKind, number>;
  readonly peakRssMiB: number;
}

interface SideResult {
  readonly label: string;
  readonly kind: ProviderProcess['kind'];
  readonly rounds: readonly Round[];
}

interface ScenarioResult {
  readonly name: string;
  readonly concurrency: number;
  readonly sides: readonly SideResult[];
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const started = performance.now();
  // Other work on the machine skews every number here; the footer says how busy it was.
  const loadBefore = loadavg();
  const dir = await mkdtemp(join(tmpdir(), 'vcp-bench-'));
  const pods = new PodFactory();
  const vault = new BenchVault();
  const sides: Side[] = [];
  const notes: string[] = [];
  const results: ScenarioResult[] = [];
  try {
    const address = await vault.setup(pods.issuer.publicKeyPem);
    const cpu = PINNED ? 1 : undefined;
    const launch = async (kind: ProviderProcess['kind'], name: string, extra: Partial<Parameters<typeof launchProvider>[1]> = {}): Promise<Side> => {
      const p = await launchProvider(kind, { dir: join(dir, name), vaultAddress: address, ...(cpu === undefined ? {} : { cpu }), nodeArgs: NODE_ARGS, ...extra });
      const side = { p, rss: new PeakRss(p.pid) };
      sides.push(side);
      return side;
    };
    const ours = await launch('ours', 'ours', { flags: [...UNLIMITED_RATE_FLAGS, ...EXTRA_FLAGS], outOfCluster: !IN_CLUSTER });
    if (!IN_CLUSTER) notes.push('ours ran out of cluster with an HMAC key file: `unshare --mount` is not permitted here (it needs root), so no Kubernetes API was counted.');
    const floor = await launch('floor', 'floor');
    let reference: Side | undefined;
    const found = IN_CLUSTER ? await referenceBinary() : { skipped: 'reference rows skipped: it runs in-cluster only, and `unshare --mount` is not permitted here' };
    if ('path' in found) reference = await launch('reference', 'reference', { referenceBinary: found.path });
    else {
      notes.push(found.skipped);
      process.stderr.write(`${found.skipped}\n`);
    }
    const oursDefaults = await launch('ours', 'ours-defaults', { label: 'ours, default flags', flags: EXTRA_FLAGS, outOfCluster: !IN_CLUSTER });
    if (PINNED) {
      execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-a', '-p', '-c', '0', String(vault.pid)], { stdio: 'ignore' });
    }

    const newPod = (serviceAccount: string): Pod => pods.newPod(serviceAccount);
    // The driver sends the same request for a volume on every republish; each is built once, as it does not cost
    // the driver (a Go process of its own) anything worth measuring here.
    const requests = new Map<string, MountRequest>();
    const mountOnce = async (side: Side, pod: Pod, cls: Spc): Promise<void> => {
      const key = `${pod.uid}/${cls.name}`;
      let request = requests.get(key);
      if (request === undefined) {
        request = mountRequest(pod, cls, dir);
        requests.set(key, request);
      }
      // The kubelet gives NodePublishVolume two minutes, and the driver passes that deadline on to the provider.
      const res = await side.p.client.mount(request, 120_000);
      const versions = side.p.versions ? cls.objects.length : 0;
      if (res.errorCode !== '' || res.objectVersions !== versions || res.files !== cls.objects.length) {
        throw new Error(`${side.p.label}: mount of ${cls.name}: ${res.objectVersions} versions, ${res.files} files, error "${res.errorCode}"`);
      }
    };

    // A node of 100 pods (10 ServiceAccounts), each with four volumes, mounted once on each provider before anything
    // is timed. The reference keeps nothing per volume but its Vault client (and token) per pod: one volume each.
    const resident = new ResidentPods(Array.from({ length: scaled(PODS, CONCURRENCY + 4) }, (_, i) => newPod(`resident-${i % 10}`)));
    for (const side of sides) {
      const volumes = side.p.kind === 'reference' ? [KV1] : RESIDENT_VOLUMES;
      const load = await runLoad(resident.pods.flatMap((pod) => volumes.map((v) => () => mountOnce(side, pod, v))), CONCURRENCY);
      if (load.errors > 0) throw new Error(`resident mounts on ${side.p.label}: ${load.firstError}`);
    }
    // The in-cluster providers found (or created) their HMAC Secret in the fake Kubernetes API: a key of 32 bytes.
    // The reference does not fail a mount without it (it answers without versions), so this is checked here.
    for (const side of sides) {
      const key = side.p.kube?.getSecret('csi', 'vault-csi-provider-hmac-key')?.data?.['key'];
      if (side.p.kube !== undefined && Buffer.from(key ?? '', 'base64').length !== 32) {
        throw new Error(`${side.p.label}: no HMAC Secret with a 32-byte key in the fake Kubernetes API: ${JSON.stringify(side.p.kube.requests.slice(0, 5))}`);
      }
    }

    const measure = async (side: Side, ops: ReadonlyArray<() => Promise<void>>, concurrency: number): Promise<Round> => {
      await vault.clear();
      await side.rss.start();
      const kubeBefore = side.p.kube?.requests.length;
      const cpuBefore = await cpuMs(side.p.pid);
      const load = await runLoad(ops, concurrency);
      const cpu = (await cpuMs(side.p.pid)) - cpuBefore;
      const peakRssMiB = await side.rss.stop();
      if (load.errors > 0) throw new Error(`${side.p.label}: ${load.errors} failed mounts: ${load.firstError}`);
      const kubeRequests = kubeBefore === undefined ? undefined : side.p.kube!.requests.length - kubeBefore;
      // The reference GETs its HMAC Secret on every Mount; none means the fake API is not answering what it asks.
      // Fewer than one per mount happens when client-go's limiter would make a GET wait past the mount's deadline:
      // the reference then answers without object versions (and logs a warning); the footer says so.
      if (side.p.kind === 'reference' && kubeRequests! < ops.length) {
        if (kubeRequests === 0) throw new Error(`reference: no Kubernetes request for ${ops.length} mounts: ${JSON.stringify(side.p.kube!.requests.slice(-5))}`);
        notes.push(`reference: ${kubeRequests} HMAC Secret reads for ${ops.length} mounts in one round: the rest would have waited in client-go's limiter past the mount's deadline and were answered without object versions.`);
      }
      return {
        load,
        mountsPerSecond: load.latenciesMs.length / load.seconds,
        cpuMsPerMount: cpu / ops.length,
        kubeRequests,
        counts: await vault.counts(),
        peakRssMiB,
      };
    };

    interface ScenarioSpec {
      readonly name: string;
      readonly concurrency: number;
      /** Mounts per round for ours and the floor; the reference's are capped by REFERENCE_MOUNTS unless `capReference` is false. */
      readonly count: number;
      readonly capReference?: boolean;
      /** Operation i of one round of one provider. */
      readonly op: (side: Side, round: number) => (i: number) => Promise<void>;
      /** Untimed operations first (JIT warm-up of ours and the floor; the reference is compiled ahead of time). */
      readonly warmup?: number;
      readonly extraSides?: readonly Side[];
    }
    const scenario = async (spec: ScenarioSpec): Promise<void> => {
      // BENCH_ONLY=<text> runs only the scenarios whose name contains it (to profile one of them).
      const only = process.env['BENCH_ONLY'];
      if (only !== undefined && !spec.name.includes(only)) return;
      const runSides = [ours, ...(spec.extraSides ?? []), floor, ...(reference === undefined ? [] : [reference])];
      // "ours, default flags" is one row for the record, a quarter of the mounts: with the default rate limit it is the slowest.
      const count = (side: Side) =>
        side.p.kind === 'reference' && spec.capReference !== false
          ? Math.min(spec.count, scaled(REFERENCE_MOUNTS))
          : side === oursDefaults
            ? scaled(spec.count / 4)
            : spec.count;
      for (const side of runSides) {
        if (spec.warmup === undefined || side.p.kind === 'reference') continue;
        const op = spec.op(side, -1);
        await runLoad(Array.from({ length: side === oursDefaults ? scaled(spec.warmup / 4) : spec.warmup }, (_, i) => () => op(i)), spec.concurrency);
      }
      const rounds = new Map<Side, Round[]>(runSides.map((s) => [s, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (const side of runSides) {
          const op = spec.op(side, r);
          rounds.get(side)!.push(await measure(side, Array.from({ length: count(side) }, (_, i) => () => op(i)), spec.concurrency));
        }
      }
      results.push({ name: spec.name, concurrency: spec.concurrency, sides: runSides.map((s) => ({ label: s.p.label, kind: s.p.kind, rounds: rounds.get(s)! })) });
      process.stderr.write(`  done: ${spec.name} (${((performance.now() - started) / 1000).toFixed(0)} s, load ${loadavg()[0]!.toFixed(1)})\n`);
    };

    const republish = (cls: Spc) => (side: Side) => () => resident.with((pod) => mountOnce(side, pod, cls));
    /** New pods of new ServiceAccounts (a ServiceAccount each, or `perAccount` pods each), fresh per provider and round. */
    const newPods = (prefix: string, count: number, perAccount: number) => (side: Side, round: number) => {
      const fresh = Array.from({ length: count }, (_, i) => newPod(`${prefix}-${side.p.label.replace(/\W+/g, '-')}-${round}-${Math.floor(i / perAccount)}`));
      return (i: number) => mountOnce(side, fresh[i]!, APP);
    };

    await scenario({ name: 'cold mount: new pod, new ServiceAccount (1 KV + database + PKI)', concurrency: 8, count: scaled(100), op: newPods('cold', scaled(100), 1) });
    await scenario({ name: 'republish, 1 object', concurrency: CONCURRENCY, count: scaled(4000), op: republish(KV1), warmup: scaled(1000) });
    await scenario({ name: 'republish, 1 object, one at a time', concurrency: 1, count: scaled(500), op: republish(KV1), warmup: scaled(200) });
    await scenario({ name: 'republish, 10 objects of 1 path', concurrency: CONCURRENCY, count: scaled(2000), op: republish(KV10_ONE_PATH), warmup: scaled(1000) });
    await scenario({
      name: 'republish, 10 objects of 10 paths',
      concurrency: CONCURRENCY,
      count: scaled(2000),
      op: republish(KV10_PATHS),
      warmup: scaled(1000),
      extraSides: [oursDefaults],
    });
    await scenario({ name: 'republish, 1 KV + database credential', concurrency: CONCURRENCY, count: scaled(2000), op: republish(KV_DB), warmup: scaled(500) });
    // 200 new pods at once: a rollout of 20 Deployments (10 replicas each, one ServiceAccount per Deployment).
    const burst = scaled(200, 20);
    await scenario({
      name: `burst: ${burst} new pods at once (20 ServiceAccounts; 1 KV + database + PKI)`,
      concurrency: burst,
      count: burst,
      capReference: false,
      op: newPods('burst', burst, burst / 20),
    });

    // Peak VmHWM over the whole run (the kernel's, folded in before every reset).
    const peaks: string[] = [];
    for (const side of sides) peaks.push(`${side.p.label} ${(await side.rss.lifetimePeakMiB()).toFixed(1)} MiB`);
    const seconds = (performance.now() - started) / 1000;
    const loadAfter = loadavg();
    process.stdout.write(`${render(results)}\n`);
    const fmtLoad = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
    process.stdout.write(
      `\n${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; whole run ${seconds.toFixed(0)} s; ` +
        `load average (1 / 5 / 15 min) ${fmtLoad(loadBefore)} before, ${fmtLoad(loadAfter)} after.\n` +
        `ours: node ${[...imageNodeFlags(), ...NODE_ARGS].join(' ')} dist/main.js, ${IN_CLUSTER ? 'in-cluster (fake Kubernetes API)' : 'out of cluster'}, ` +
        `${UNLIMITED_RATE_FLAGS.join(' ')} (the per-address rate limit lifted; "ours, default flags" keeps it)${EXTRA_FLAGS.length > 0 ? ` ${EXTRA_FLAGS.join(' ')}` : ''}.\n` +
        `floor: bench/floor-provider.ts with the same Node options. reference: ${reference === undefined ? 'not run' : 'vault-csi-provider v1.7.4, in-cluster (fake Kubernetes API)'}.\n` +
        (PINNED ? 'Providers pinned to CPU 1 from exec on; Vault and the driver side to CPU 0.\n' : 'Not pinned: every process shares every CPU.\n') +
        `Rounds: ${ROUNDS} per scenario and provider, alternating; mounts/s is the median round, p50/p99 over all rounds, ratios per round as median (min–max); ` +
        `the reference's rounds are ${scaled(REFERENCE_MOUNTS)} mounts (burst: all).\n` +
        `Peak VmHWM over the whole run: ${peaks.join(', ')}.\n` +
        notes.map((n) => `${n}\n`).join(''),
    );
  } catch (err: unknown) {
    // A failure late in a long run keeps what was measured before it.
    if (results.length > 0) process.stdout.write(`Scenarios measured before the failure:\n${render(results)}\n${notes.join('\n')}\n`);
    throw err;
  } finally {
    for (const side of sides) await side.p.stop();
    await vault.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function perMount(value: number, mounts: number): string {
  const v = value / mounts;
  return v === 0 ? '0' : v < 0.1 ? v.toFixed(3) : v.toFixed(2);
}

function ratio(values: readonly number[]): string {
  if (values.length === 0) return '';
  const sorted = [...values].sort((a, b) => a - b);
  const med = median(sorted).toFixed(2);
  return sorted.length === 1 ? `${med}×` : `${med}× (${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)})`;
}

const KINDS: readonly RequestKind[] = ['login', 'read', 'dynamic', 'issue'];

function render(results: readonly ScenarioResult[]): string {
  const header = [
    'scenario', 'provider', 'mounts', 'conc.', 'mounts/s', 'p50 ms', 'p99 ms', 'kube req/mount', 'vault req/mount',
    ...KINDS, 'CPU ms/mount', 'peak RSS MiB', 'thr. vs floor', 'thr. vs reference',
  ];
  const body: string[][] = [];
  for (const result of results) {
    const floor = result.sides.find((s) => s.kind === 'floor');
    const reference = result.sides.find((s) => s.kind === 'reference');
    result.sides.forEach((side, index) => {
      const latencies = side.rounds.flatMap((r) => r.load.latenciesMs);
      const mounts = latencies.length;
      const sum = (pick: (r: Round) => number) => side.rounds.reduce((a, r) => a + pick(r), 0);
      const vaultTotal = sum((r) => Object.values(r.counts).reduce((a, b) => a + b, 0));
      const kube = side.rounds.every((r) => r.kubeRequests !== undefined) ? perMount(sum((r) => r.kubeRequests!), mounts) : 'n/a';
      const perRound = (other: SideResult | undefined) =>
        other === undefined || side.kind !== 'ours' ? [] : side.rounds.map((r, i) => r.mountsPerSecond / other.rounds[i]!.mountsPerSecond);
      body.push([
        index === 0 ? result.name : '',
        side.label,
        String(mounts),
        String(result.concurrency),
        median(side.rounds.map((r) => r.mountsPerSecond)).toFixed(side.rounds.some((r) => r.mountsPerSecond < 10) ? 1 : 0),
        percentile(latencies, 50).toFixed(2),
        percentile(latencies, 99).toFixed(2),
        kube,
        perMount(vaultTotal, mounts),
        ...KINDS.map((k) => perMount(sum((r) => r.counts[k]), mounts)),
        (sum((r) => r.cpuMsPerMount * r.load.latenciesMs.length) / mounts).toFixed(2),
        Math.max(...side.rounds.map((r) => r.peakRssMiB)).toFixed(1),
        ratio(perRound(floor)),
        ratio(perRound(reference)),
      ]);
    });
  }
  return formatTable(header, body);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
