/**
 * `npm run soak`: the provider as the DaemonSet runs it (dist/main.js in its own process) under a long, steady load,
 * with Vault failing now and then. Prints what the issue asks for and exits non-zero when a target is missed:
 *
 *   mounts that failed (target 0), files not matching Vault (target 0),
 *   RSS after warm-up and at the end (growth under 10%, compared after a full GC in both places, so that the figure
 *   is about what the process keeps rather than where its collector happens to be), open file descriptors at start
 *   and end, event-loop delay p99 after warm-up, throughput and mount latency, and the time to serve again after
 *   SIGKILL. The provider runs with --expose-gc and scripts/soak-gc-probe.mjs so the soak can ask for that full GC.
 *
 * Options (all optional): --mounts 10000 --concurrency 64 --pods 100 --fault-every 20 --warmup 1000.
 * The test Vault runs in this process; the provider's memory comes from /proc (Linux), its descriptors and
 * event-loop delay from its own /metrics, so this process's load does not blur them.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DriverClient } from '../test/helpers/grpc-client.js';
import { DaemonProcess, waitForServing } from '../test/helpers/daemon-process.js';
import { waitFor } from '../test/helpers/wait-for.js';
import { percentile, prepareSoakVault, printVerdicts, runScript, runSoak, SOAK_VALUES } from '../test/helpers/soak.js';
import { samples } from '../test/helpers/prometheus.js';
import { JWT_SHAPE, VAULT_TOKEN_SHAPE } from '../test/helpers/leak-check.js';
import { ServiceAccountJwtIssuer, startTestVault } from '../test/vault-server/index.js';
import { imageNodeFlags } from './image/dockerfile.js';

const { values: args } = parseArgs({
  options: {
    mounts: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '64' },
    pods: { type: 'string', default: '100' },
    'fault-every': { type: 'string', default: '20' },
    warmup: { type: 'string', default: '1000' },
  },
});
const MOUNTS = Number(args.mounts);
const CONCURRENCY = Number(args.concurrency);
const PODS = Number(args.pods);
const FAULT_EVERY = Number(args['fault-every']);
/** The least warm-up; it runs on until resident memory settles (see main). */
const WARMUP = Math.min(Number(args.warmup), Math.floor(MOUNTS / 2));

if (!existsSync(new URL('../dist/main.js', import.meta.url))) {
  console.error('dist/main.js is missing: run `npm run build` first (npm run soak does).');
  process.exit(2);
}

interface Scrape {
  readonly openFds: number;
  readonly eventLoopP99Ms: number;
  readonly text: string;
}

/** The provider's /metrics (prom-client process metrics). Reading it also starts a new event-loop delay window. */
async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const one = (name: string): number => [...samples(text, name).values()][0] ?? NaN;
  return { text, openFds: one('process_open_fds'), eventLoopP99Ms: one('nodejs_eventloop_lag_p99_seconds') * 1000 };
}

/** Resident memory of a process from /proc (Linux), without disturbing it. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}

interface AfterGc {
  readonly rss: number;
  readonly heapUsed: number;
}

/** A full GC in the provider (scripts/soak-gc-probe.mjs), then its memory. */
async function afterFullGc(d: DaemonProcess): Promise<AfterGc> {
  const count = (): number => d.err.join('').split('SOAK_GC_PROBE ').length;
  const before = count();
  d.child.kill('SIGUSR2');
  await waitFor(() => count() > before, 'the GC probe', { timeoutMs: 30_000 });
  const line = d.err.join('').split('SOAK_GC_PROBE ').at(-1)!.split('\n')[0]!;
  return JSON.parse(line) as AfterGc;
}

function healthPort(d: DaemonProcess): number {
  const line = d.lines().find((l) => l['msg'] === 'provider serving');
  const health = typeof line?.['health'] === 'string' ? line['health'] : '';
  return Number(health.slice(health.lastIndexOf(':') + 1));
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const pct = (from: number, to: number): number => (to - from) / from;

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'vcp-soak-'));
  const keyFile = join(dir, 'hmac.key');
  await writeFile(keyFile, 'a-soak-hmac-key-of-enough-bytes\n');
  const issuer = new ServiceAccountJwtIssuer();
  const vault = await startTestVault({ requestLogLimit: 10_000 });
  vault.enableKv('secret', 2);
  vault.enableKv('kv', 1);
  vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] });
  prepareSoakVault(vault);
  const socket = join(dir, 'vault.sock');
  const flags = [`--endpoint=${socket}`, '--health-addr=127.0.0.1:0', `--vault-addr=${vault.address}`, `--hmac-key-file=${keyFile}`, '--log-level=info'];
  // As the image runs it: the Dockerfile's NODE_OPTIONS, plus the probe that lets this script read the heap.
  const probe = [...imageNodeFlags(), '--expose-gc', '--import', new URL('./soak-gc-probe.mjs', import.meta.url).pathname];
  const provider = new DaemonProcess(flags, {}, probe);
  let exit = 0;
  try {
    await waitForServing(provider);
    const pid = provider.child.pid!;
    const port = healthPort(provider);
    const atStart = await scrape(port);
    const client = new DriverClient(socket);
    const fault = vault.injectFault({ status: 503, everyNth: FAULT_EVERY });
    // Warm-up ends once resident memory has settled (JIT, V8's heap sizing and the allocator's arenas grow at first):
    // two samples 500 mounts apart within 2%, after at least --warmup mounts and at most half the run.
    const rssSeries: Array<[number, number]> = [];
    let warm: { at: number; rss: number; gc: AfterGc } | undefined;
    console.log(`soak: ${MOUNTS} mounts, concurrency ${CONCURRENCY}, ${PODS} pods, every ${FAULT_EVERY}th Vault request answers 503 …`);
    const result = await runSoak({
      client,
      issuer,
      mounts: MOUNTS,
      concurrency: CONCURRENCY,
      pods: PODS,
      targetDir: '/var/lib/kubelet/pods',
      onProgress: async (done) => {
        if (done % 500 !== 0) return;
        const rss = await rssOf(pid);
        const previous = rssSeries.at(-1);
        rssSeries.push([done, rss]);
        const settled = previous !== undefined && Math.abs(pct(previous[1], rss)) < 0.02;
        if (warm === undefined && done >= WARMUP && (settled || done >= MOUNTS / 2)) {
          warm = { at: done, rss, gc: await afterFullGc(provider) };
          // Starts the event-loop delay window that the final scrape reads.
          await scrape(port);
        }
      },
    });
    fault.remove();
    const endRss = await rssOf(pid);
    const end = await scrape(port);
    const endGc = await afterFullGc(provider);
    client.close();

    const growth = warm === undefined ? NaN : pct(warm.gc.rss, endGc.rss);
    const sorted = [...result.latenciesMs].sort((a, b) => a - b);
    const logText = [...provider.out, ...provider.err];
    const leaks = [...logText, end.text].filter(
      (t) => Object.values(SOAK_VALUES).some((v) => t.includes(v)) || JWT_SHAPE.test(t) || VAULT_TOKEN_SHAPE.test(t),
    ).length;

    // Restart: SIGKILL leaves the socket behind; the next instance must replace it and serve.
    const restartMs: number[] = [];
    let current = provider;
    for (let i = 0; i < 3; i++) {
      current.kill('SIGKILL');
      await current.exited;
      const started = performance.now();
      current = new DaemonProcess(flags, {}, imageNodeFlags());
      await waitForServing(current);
      const check = new DriverClient(socket);
      await check.version();
      restartMs.push(performance.now() - started);
      check.close();
    }
    current.kill('SIGTERM');
    await current.exited;

    const rows: Array<[string, string, string]> = [
      ['mounts ok / failed', `${result.ok} / ${result.failed}`, result.failed === 0 ? 'ok (target 0)' : 'MISSED (target 0)'],
      ['files not matching Vault', String(result.wrongContent), result.wrongContent === 0 ? 'ok' : 'MISSED'],
      ['Vault 503s injected (all retried)', String(fault.hits), ''],
      ['warm-up (memory settled)', `${warm?.at ?? '-'} mounts`, ''],
      ['RSS after warm-up / at end', `${mib(warm?.rss ?? NaN)} / ${mib(endRss)}`, `${(pct(warm?.rss ?? NaN, endRss) * 100).toFixed(1)}%`],
      ['RSS after a full GC, warm-up / end', `${mib(warm?.gc.rss ?? NaN)} / ${mib(endGc.rss)}`, `${(growth * 100).toFixed(1)}% ${growth < 0.1 ? 'ok (< 10%)' : 'MISSED (< 10%)'}`],
      ['V8 heap used after a full GC, warm-up / end', `${mib(warm?.gc.heapUsed ?? NaN)} / ${mib(endGc.heapUsed)}`, ''],
      ['open fds at start / end', `${atStart.openFds} / ${end.openFds}`, ''],
      ['event-loop delay p99 (after warm-up)', `${end.eventLoopP99Ms.toFixed(1)} ms`, ''],
      ['throughput', `${((result.ok / result.elapsedMs) * 1000).toFixed(0)} mounts/s`, ''],
      ['mount latency p50 / p99', `${percentile(sorted, 50).toFixed(1)} / ${percentile(sorted, 99).toFixed(1)} ms`, ''],
      ['serving again after SIGKILL (process start to first answer)', restartMs.map((m) => `${m.toFixed(0)} ms`).join(', '), ''],
      ['log lines / metrics with a secret, token or JWT', String(leaks), leaks === 0 ? 'ok' : 'MISSED'],
    ];
    printVerdicts(rows);
    console.log(`RSS every 500 mounts (MiB): ${rssSeries.map(([n, r]) => `${n}:${(r / 1048576).toFixed(0)}`).join(' ')}`);
    if (result.failures.length > 0) console.log('first failures:', result.failures);
    if (result.failed > 0 || result.wrongContent > 0 || !(growth < 0.1) || leaks > 0) exit = 1;
  } finally {
    provider.kill('SIGKILL');
    await vault.close();
    await rm(dir, { recursive: true, force: true });
  }
  return exit;
}

runScript(main);
