// `npx tsx bench/import-cost.ts [runs]`: what each production dependency (and our entry point's module graph) costs
// to load, resident and in time: a fresh `node` with the image's NODE_OPTIONS imports one module, then reads its own
// VmRSS and RssAnon; the row is that minus an empty process's. Median of `runs` (5) alternating starts; nothing is
// asserted (docs/benchmark.md, "At rest").
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { imageNodeFlags } from '../scripts/image/dockerfile.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.argv[2] ?? '5');

/** What is imported in each row: a bare specifier resolves from the repository's node_modules. */
const MODULES: ReadonlyArray<readonly [string, string]> = [
  ['(empty)', ''],
  ['@grpc/grpc-js', "await import('@grpc/grpc-js')"],
  ['@grpc/proto-loader', "await import('@grpc/proto-loader')"],
  ['node-vault', "await import('node-vault')"],
  ['pino', "await import('pino')"],
  ['prom-client', "await import('prom-client')"],
  ['undici', "await import('undici')"],
  ['zod', "await import('zod')"],
  ['yaml', "await import('yaml')"],
  ['dist/main.js (the bundle, as `--version`)', "process.argv.splice(1, Infinity, 'dist/main.js', '--version'); await import('./dist/main.js')"],
];

interface Sample {
  readonly ms: number;
  readonly rss: number;
  readonly anon: number;
}

async function sample(code: string): Promise<Sample> {
  const script = `const t0 = performance.now(); ${code}; const ms = performance.now() - t0;
const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const kb = (f) => Number(new RegExp('^' + f + ':\\\\s+(\\\\d+) kB', 'm').exec(s)[1]) / 1024;
process.stderr.write(JSON.stringify({ ms, rss: kb('VmRSS'), anon: kb('RssAnon') }) + '\\n');`;
  const child = spawn(process.execPath, [...imageNodeFlags(), '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production' } });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await once(child, 'exit');
  const line = err.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Sample;
  } catch {
    throw new Error(`no figure from ${code}: ${err}`);
  }
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

async function main(): Promise<void> {
  const before = loadavg();
  const samples = new Map<string, Sample[]>(MODULES.map(([name]) => [name, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const [name, code] of MODULES) samples.get(name)!.push(await sample(code));
  }
  const base = samples.get('(empty)')!;
  const baseRss = median(base.map((s) => s.rss));
  const baseAnon = median(base.map((s) => s.anon));
  process.stdout.write(`| import | load ms | VmRSS MiB | + VmRSS MiB | + RssAnon MiB |\n| --- | --- | --- | --- | --- |\n`);
  for (const [name, values] of samples) {
    const rss = median(values.map((s) => s.rss));
    const anon = median(values.map((s) => s.anon));
    process.stdout.write(`| ${name} | ${median(values.map((s) => s.ms)).toFixed(0)} | ${rss.toFixed(1)} | ${(rss - baseRss).toFixed(1)} | ${(anon - baseAnon).toFixed(1)} |\n`);
  }
  const after = loadavg();
  process.stdout.write(`\nMedian of ${RUNS} fresh processes each, Node ${process.version}, the image's node flags; load average ${before.map((l) => l.toFixed(2)).join(' / ')} before, ${after.map((l) => l.toFixed(2)).join(' / ')} after.\n`);
}

await main();
