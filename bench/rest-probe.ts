// `npm run build && npx tsx bench/rest-probe.ts`: one provider of ours (bench/providers.ts, in-cluster, the image's
// node flags), 20 pods mounted, 10 s to settle, then PROBE_HOLD seconds (60) of rest: prints its pid (for
// `strace -f -tt -p`), its resident set when ready, after the mounts and at the end, the CPU of the mounts and of
// each 10 s of rest. PROBE_NODE_ARGS adds node flags (e.g. --trace-gc), PROBE_LOG=1 prints the last lines of its
// output that are not JSON (V8's traces), PROBE_SMAPS=1 the largest mappings of /proc/<pid>/smaps. A probe for
// docs/benchmark.md#at-rest, not a benchmark: one process, one run.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.js';
import { cpuMs } from './peak-rss.js';
import { launchProvider } from './providers.js';
import { APP, BenchVault, mountRequest, PodFactory } from './workload.js';

const HOLD = Number(process.env['PROBE_HOLD'] ?? '60');
const dir = await mkdtemp(join(tmpdir(), 'vcp-probe-'));
const pods = new PodFactory();
const vault = new BenchVault();
const address = await vault.setup(pods.issuer.publicKeyPem);
const nodeArgs = (process.env['PROBE_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
const p = await launchProvider('ours', { dir: join(dir, 'ours'), vaultAddress: address, pollMs: 2, nodeArgs });
try {
  console.log(`pid ${p.pid} ready ${p.readyMs.toFixed(0)} ms`);
  const status = async () => (await readFile(`/proc/${p.pid}/status`, 'utf8')).split('\n').filter((l) => /^(VmRSS|RssAnon|RssFile|VmHWM)/.test(l)).join(' ').replace(/\s+/g, ' ');
  console.log('ready:', await status());
  const ops = Array.from({ length: 20 }, (_, i) => async () => {
    const pod = pods.newPod(`rest-${i % 5}`);
    const res = await p.client.mount(mountRequest(pod, APP, join(dir, 'targets')));
    if (res.errorCode !== '') throw new Error(JSON.stringify(res));
  });
  const m0 = await cpuMs(p.pid);
  const load = await runLoad(ops, 4);
  console.log(`20 mounts: ${(await cpuMs(p.pid)) - m0} ms CPU`);
  if (load.errors > 0) throw new Error(String(load.firstError));
  console.log('mounted:', await status());
  const settle0 = await cpuMs(p.pid);
  await new Promise((r) => setTimeout(r, 10_000));
  console.log(`settle 10 s: ${(await cpuMs(p.pid)) - settle0} ms CPU`);
  const c0 = await cpuMs(p.pid);
  const steps: number[] = [];
  let last = c0;
  for (let t = 0; t < HOLD; t += 10) {
    await new Promise((r) => setTimeout(r, 10_000));
    const c = await cpuMs(p.pid);
    steps.push(c - last);
    last = c;
  }
  const c1 = await cpuMs(p.pid);
  console.log(`idle ${HOLD} s: ${c1 - c0} ms CPU; per 10 s: ${steps.join(' ')};`, await status());
  if (process.env['PROBE_SMAPS'] === '1') {
    const smaps = await readFile(`/proc/${p.pid}/smaps`, 'utf8');
    const byName = new Map<string, { rss: number; anon: number }>();
    let name = '';
    for (const line of smaps.split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (head !== null) { name = head[1] || '[anon]'; continue; }
      const m = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
      if (m === null) continue;
      const e = byName.get(name) ?? { rss: 0, anon: 0 };
      if (m[1] === 'Rss') e.rss += Number(m[2]); else e.anon += Number(m[2]);
      byName.set(name, e);
    }
    for (const [n, e] of [...byName].sort((a, b) => b[1].rss - a[1].rss).slice(0, 15)) console.log(`${(e.rss / 1024).toFixed(1)} MiB rss ${(e.anon / 1024).toFixed(1)} anon  ${n}`);
  }
  if (process.env["PROBE_LOG"] === "1") console.log((await readFile(p.logFile, "utf8")).split("\n").filter((l) => !l.startsWith("{")).slice(-15).join("\n"));
} finally {
  await p.stop();
  await vault.stop();
}
process.exit(0);
