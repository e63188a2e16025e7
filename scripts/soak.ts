/**
 * `npm run soak`: the provider as the DaemonSet runs it (dist/main.js in its own process) under a long, steady load,
 * with Vault failing now and then. Prints what the issue asks for and exits non-zero when a target is missed:
 *
 *   mounts that failed (target 0), files not matching Vault (target 0),
 *   RSS after warm-up and at the end (growth under 10%), open file descriptors at start and end,
 *   event-loop delay p99 after warm-up, throughput and mount latency, and the time to serve again after SIGKILL.
 *
 * Options (all optional): --mounts 10000 --concurrency 64 --pods 100 --fault-every 20 --warmup 1000.
 * The test Vault runs in this process; the provider's memory, descriptors and event-loop delay are read from its
 * own /metrics (prom-client's process metrics), so this process's load does not blur them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DriverClient } from '../test/helpers/grpc-client.js';
import { DaemonProcess, waitForServing } from '../test/helpers/daemon-process.js';
import { percentile, prepareSoakVault, runSoak, SOAK_VALUES } from '../test/helpers/soak.js';
import { samples } from '../test/helpers/prometheus.js';
import { JWT_SHAPE, VAULT_TOKEN_SHAPE } from '../test/helpers/leak-check.js';
import { ServiceAccountJwtIssuer, startTestVault } from '../test/vault-server/index.js';

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
const WARMUP = Math.min(Number(args.warmup), Math.floor(MOUNTS / 2));

if (!existsSync(new URL('../dist/main.js', import.meta.url))) {
  console.error('dist/main.js is missing: run `npm run build` first (npm run soak does).');
  process.exit(2);
}

interface ProcessFigures {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly openFds: number;
  readonly eventLoopP99Ms: number;
}

async function scrape(port: number): Promise<{ figures: ProcessFigures; text: string }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const one = (name: string): number => [...samples(text, name).values()][0] ?? NaN;
  return {
    text,
    figures: {
      rssBytes: one('process_resident_memory_bytes'),
      heapUsedBytes: one('nodejs_heap_size_used_bytes'),
      openFds: one('process_open_fds'),
      eventLoopP99Ms: one('nodejs_eventloop_lag_p99_seconds') * 1000,
    },
  };
}

function healthPort(d: DaemonProcess): number {
  const line = d.lines().find((l) => l['msg'] === 'provider serving');
  const health = typeof line?.['health'] === 'string' ? line['health'] : '';
  return Number(health.slice(health.lastIndexOf(':') + 1));
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

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
  const provider = new DaemonProcess(flags);
  let exit = 0;
  try {
    await waitForServing(provider);
    const port = healthPort(provider);
    const atStart = (await scrape(port)).figures;
    const client = new DriverClient(socket);
    const fault = vault.injectFault({ status: 503, everyNth: FAULT_EVERY });
    let afterWarmup: ProcessFigures | undefined;
    const series: string[] = [];
    console.log(`soak: ${MOUNTS} mounts, concurrency ${CONCURRENCY}, ${PODS} pods, every ${FAULT_EVERY}th Vault request answers 503 …`);
    const result = await runSoak({
      client,
      issuer,
      mounts: MOUNTS,
      concurrency: CONCURRENCY,
      pods: PODS,
      targetDir: '/var/lib/kubelet/pods',
      onProgress: async (done) => {
        // The scrape also resets the event-loop histogram, so the p99 at the end covers the run after warm-up.
        if (done === WARMUP) afterWarmup = (await scrape(port)).figures;
        // Memory along the way (read from the process metrics only, so the event-loop window is left alone).
        if (done % Math.max(1, Math.floor(MOUNTS / 10)) === 0) {
          const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          const one = (name: string): number => [...samples(text, name).values()][0] ?? NaN;
          series.push(`${done}: rss ${mib(one('process_resident_memory_bytes'))}, heap ${mib(one('nodejs_heap_size_used_bytes'))}`);
        }
      },
    });
    fault.remove();
    const end = await scrape(port);
    client.close();

    const growth = afterWarmup === undefined ? NaN : (end.figures.rssBytes - afterWarmup.rssBytes) / afterWarmup.rssBytes;
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
      current = new DaemonProcess(flags);
      await waitForServing(current);
      const probe = new DriverClient(socket);
      await probe.version();
      restartMs.push(performance.now() - started);
      probe.close();
    }
    current.kill('SIGTERM');
    await current.exited;

    const rows: Array<[string, string, string]> = [
      ['mounts ok / failed', `${result.ok} / ${result.failed}`, result.failed === 0 ? 'ok (target 0)' : 'MISSED (target 0)'],
      ['files not matching Vault', String(result.wrongContent), result.wrongContent === 0 ? 'ok' : 'MISSED'],
      ['Vault 503s injected (all retried)', String(fault.hits), ''],
      ['RSS after warm-up / at end', `${mib(afterWarmup?.rssBytes ?? NaN)} / ${mib(end.figures.rssBytes)}`, `${(growth * 100).toFixed(1)}% ${growth < 0.1 ? 'ok (< 10%)' : 'MISSED (< 10%)'}`],
      ['V8 heap used after warm-up / at end', `${mib(afterWarmup?.heapUsedBytes ?? NaN)} / ${mib(end.figures.heapUsedBytes)}`, ''],
      ['open fds at start / end', `${atStart.openFds} / ${end.figures.openFds}`, ''],
      ['event-loop delay p99 (after warm-up)', `${end.figures.eventLoopP99Ms.toFixed(1)} ms`, ''],
      ['throughput', `${((result.ok / result.elapsedMs) * 1000).toFixed(0)} mounts/s`, ''],
      ['mount latency p50 / p99', `${percentile(sorted, 50).toFixed(1)} / ${percentile(sorted, 99).toFixed(1)} ms`, ''],
      ['serving again after SIGKILL (process start to first answer)', restartMs.map((m) => `${m.toFixed(0)} ms`).join(', '), ''],
      ['log lines / metrics with a secret, token or JWT', String(leaks), leaks === 0 ? 'ok' : 'MISSED'],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    for (const [name, value, verdict] of rows) console.log(`${name.padEnd(width)}  ${value.padEnd(28)}  ${verdict}`);
    console.log(`memory along the way: ${series.join('; ')}`);
    if (result.failures.length > 0) console.log('first failures:', result.failures);
    if (result.failed > 0 || result.wrongContent > 0 || !(growth < 0.1) || leaks > 0) exit = 1;
  } finally {
    provider.kill('SIGKILL');
    await vault.close();
    await rm(dir, { recursive: true, force: true });
  }
  return exit;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
