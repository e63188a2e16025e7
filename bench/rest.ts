// `npm run bench:rest`: what a provider costs while nothing happens, ours beside the reference (and the floor and an
// empty Node process with the image's NODE_OPTIONS, for scale).
//
// 1. Socket ready: from spawn to the first Version answered on its socket (polled every 2 ms), a fresh process each
//    time, BENCH_READY_RUNS (5) per provider, alternating. Both in-cluster providers start through the same
//    `unshare` wrapper (a private mount namespace for the ServiceAccount files); what the wrapper itself costs is
//    measured the same way (spawn to exit of `true` through it) and printed. VmHWM right then: the start-up's peak.
// 2. At rest: BENCH_REST_RUNS (3) times, every provider fresh, 20 pods mounted on each (one static secret, a
//    database credential and a certificate each, as a node's pods), then BENCH_REST_SETTLE_SECONDS (10) to settle
//    and BENCH_REST_IDLE_SECONDS (60) of nothing, twice: CPU ms used over each minute (/proc/<pid>/stat utime + stime,
//    all threads; 10 ms ticks; the first holds V8's one-off memory-reducing collections after the mounts), then VmRSS,
//    RssAnon and VmHWM (the peak since exec, which includes the 20 mounts).
//
// Ours runs with its default flags, in-cluster against the fake Kubernetes API, as its DaemonSet runs it. Prints
// min / median / max of each figure and the machine's load; nothing is asserted.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageNodeFlags } from '../scripts/image/dockerfile.js';
import { inClusterArgs } from '../test/helpers/in-cluster.js';
import { formatTable, runLoad } from './load.js';
import { cpuMs } from './peak-rss.js';
import { launchProvider, type ProviderKind, type ProviderProcess } from './providers.js';
import { referenceBinary } from './reference.js';
import { APP, BenchVault, mountRequest, PodFactory } from './workload.js';

const READY_RUNS = Number(process.env['BENCH_READY_RUNS'] ?? '5');
const REST_RUNS = Number(process.env['BENCH_REST_RUNS'] ?? '3');
const SETTLE_SECONDS = Number(process.env['BENCH_REST_SETTLE_SECONDS'] ?? '10');
const IDLE_SECONDS = Number(process.env['BENCH_REST_IDLE_SECONDS'] ?? '60');
const PODS = Number(process.env['BENCH_REST_PODS'] ?? '20');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statusMiB(pid: number): Promise<{ rss: number; anon: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), hwm: kb('VmHWM') };
}

function spread(values: readonly number[], digits = 1): string {
  if (values.length === 0) return '';
  const sorted = [...values].sort((a, b) => a - b);
  const med = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return `${sorted[0]!.toFixed(digits)} / ${med.toFixed(digits)} / ${sorted.at(-1)!.toFixed(digits)}`;
}

/** Spawn to exit of `true` through the in-cluster wrapper: what `unshare` and `sh` add to a start. */
async function wrapperMs(dir: string): Promise<number> {
  const t = performance.now();
  const child = spawn('unshare', inClusterArgs(dir, ['true']), { stdio: 'ignore' });
  await once(child, 'exit');
  return performance.now() - t;
}

/** An empty Node process with the image's NODE_OPTIONS, for scale: what any Node daemon starts from. */
function emptyNode(): { pid: number; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [...imageNodeFlags(), '-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore', env: { PATH: process.env['PATH'] ?? '' } });
  return {
    pid: child.pid!,
    stop: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface Rest {
  readonly rss: number;
  readonly anon: number;
  readonly hwm: number;
  readonly cpuPerMinute: number;
  readonly cpuSecondMinute: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadavg();
  const dir = await mkdtemp(join(tmpdir(), 'vcp-bench-rest-'));
  const pods = new PodFactory();
  const vault = new BenchVault();
  const notes: string[] = [];
  try {
    const address = await vault.setup(pods.issuer.publicKeyPem);
    const found = await referenceBinary();
    const kinds: ProviderKind[] = ['ours', 'floor'];
    if ('path' in found) kinds.splice(1, 0, 'reference');
    else {
      notes.push(found.skipped);
      process.stderr.write(`${found.skipped}\n`);
    }
    const reference = 'path' in found ? found.path : undefined;
    let launches = 0;
    const launch = (kind: ProviderKind, pollMs: number) =>
      launchProvider(kind, { dir: join(dir, `${kind}-${++launches}`), vaultAddress: address, pollMs, ...(reference === undefined ? {} : { referenceBinary: reference }) });

    // 1. Socket ready after exec.
    const ready = new Map<ProviderKind, number[]>(kinds.map((k) => [k, []]));
    /** VmHWM as soon as it serves: how much of the peak is start-up alone. */
    const startPeak = new Map<ProviderKind, number[]>(kinds.map((k) => [k, []]));
    /** CPU used from exec to the first Version answered: the start-up's work, apart from the machine's load. */
    const readyCpu = new Map<ProviderKind, number[]>(kinds.map((k) => [k, []]));
    const wrapper: number[] = [];
    for (let r = 0; r < READY_RUNS; r++) {
      wrapper.push(await wrapperMs(dir));
      for (const kind of kinds) {
        const p = await launch(kind, 2);
        ready.get(kind)!.push(p.readyMs);
        startPeak.get(kind)!.push((await statusMiB(p.pid)).hwm);
        readyCpu.get(kind)!.push(await cpuMs(p.pid));
        await p.stop();
      }
    }
    process.stderr.write(`  socket ready measured (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);

    // 2. At rest with 20 pods mounted.
    const rest = new Map<string, Rest[]>();
    const record = (label: string, value: Rest) => rest.set(label, [...(rest.get(label) ?? []), value]);
    for (let r = 0; r < REST_RUNS; r++) {
      const running: ProviderProcess[] = [];
      const empty = emptyNode();
      try {
        for (const kind of kinds) running.push(await launch(kind, 20));
        for (const p of running) {
          const ops = Array.from({ length: PODS }, (_, i) => async () => {
            const pod = pods.newPod(`rest-${i % 5}`);
            const res = await p.client.mount(mountRequest(pod, APP, join(dir, 'targets')));
            if (res.errorCode !== '' || res.files !== APP.objects.length) throw new Error(`${p.label}: mount answered ${JSON.stringify(res)}`);
          });
          const load = await runLoad(ops, 4);
          if (load.errors > 0) throw new Error(`${p.label}: ${load.firstError}`);
        }
        await sleep(SETTLE_SECONDS * 1000);
        const pids: Array<[string, number]> = [...running.map((p): [string, number] => [p.label, p.pid]), ['empty node', empty.pid]];
        const before = await Promise.all(pids.map(([, pid]) => cpuMs(pid)));
        await sleep(IDLE_SECONDS * 1000);
        const after = await Promise.all(pids.map(([, pid]) => cpuMs(pid)));
        await sleep(IDLE_SECONDS * 1000);
        const second = await Promise.all(pids.map(([, pid]) => cpuMs(pid)));
        for (const [i, [label, pid]] of pids.entries()) {
          const s = await statusMiB(pid);
          record(label, { ...s, cpuPerMinute: ((after[i]! - before[i]!) * 60) / IDLE_SECONDS, cpuSecondMinute: ((second[i]! - after[i]!) * 60) / IDLE_SECONDS });
        }
      } finally {
        for (const p of running) await p.stop();
        await empty.stop();
      }
      process.stderr.write(`  rest run ${r + 1} of ${REST_RUNS} (${((performance.now() - started) / 1000).toFixed(0)} s, load ${loadavg()[0]!.toFixed(1)})\n`);
    }

    const header = ['process', 'socket ready ms', 'CPU ms to ready', 'VmHWM MiB when ready', `VmRSS MiB, ${PODS} pods mounted, idle`, 'RssAnon MiB', 'idle CPU ms, 1st minute', 'idle CPU ms, 2nd minute', 'VmHWM MiB (peak since exec)'];
    const rows = [...rest.entries()].map(([label, values]) => [
      label,
      spread(ready.get(label as ProviderKind) ?? [], 0),
      spread(readyCpu.get(label as ProviderKind) ?? [], 0),
      spread(startPeak.get(label as ProviderKind) ?? []),
      spread(values.map((v) => v.rss)),
      spread(values.map((v) => v.anon)),
      spread(values.map((v) => v.cpuPerMinute), 0),
      spread(values.map((v) => v.cpuSecondMinute), 0),
      spread(values.map((v) => v.hwm)),
    ]);
    const fmtLoad = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
    process.stdout.write(`${formatTable(header, rows)}\n\n`);
    process.stdout.write(
      `min / median / max: socket ready over ${READY_RUNS} starts, the rest over ${REST_RUNS} runs of twice ${IDLE_SECONDS} s idle after ${SETTLE_SECONDS} s to settle.\n` +
        `The in-cluster wrapper (unshare + sh, in every start of ours and the reference) alone: ${spread(wrapper, 0)} ms.\n` +
        `ours: node ${imageNodeFlags().join(' ')} dist/main.js, default flags, in-cluster; floor: bench/floor-provider.ts; ` +
        `reference: ${reference === undefined ? 'not run' : 'vault-csi-provider v1.7.4, in-cluster'}; empty node: node ${imageNodeFlags().join(' ')} -e 'setInterval(…)'.\n` +
        `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; whole run ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
        `load average (1 / 5 / 15 min) ${fmtLoad(loadBefore)} before, ${fmtLoad(loadavg())} after.\n` +
        notes.map((n) => `${n}\n`).join(''),
    );
  } finally {
    await vault.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:rest failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
