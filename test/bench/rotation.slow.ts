/**
 * `npm run bench`, shrunk (BENCH_SCALE=0.02, one round, no pinning, the reference off), end to end: the Vault
 * server, ours (built, in-cluster against the fake Kubernetes API when `unshare` is permitted) and the floor in
 * their own processes, every scenario, one table. Its timings mean nothing at this size; what it checks is that the
 * bench still runs (a change to the provider once broke it unnoticed) and the counts that do not depend on size:
 * republishes inside the reuse window log in and mint nothing while the floor mints every time, reads of one path
 * are made once, ours makes no Kubernetes request per mount, and the reference's absence is said in one line.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { builtMain } from '../helpers/built.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const run = promisify(execFile);

interface Row {
  readonly scenario: string;
  readonly client: string;
  readonly cells: Readonly<Record<string, string>>;
}

function parseTable(text: string): Row[] {
  const lines = text.split('\n').filter((l) => l.startsWith('|') && !l.startsWith('|-'));
  const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());
  const header = cells(lines[0]!);
  let scenario = '';
  return lines.slice(1).map((line) => {
    const values = cells(line);
    if (values[0] !== '') scenario = values[0]!;
    return { scenario, client: values[1]!, cells: Object.fromEntries(header.map((h, i) => [h, values[i] ?? ''])) };
  });
}

describe('bench/rotation (shrunk)', function () {
  this.timeout(120_000);

  it('runs every scenario against the built provider and prints one table with the counts the issue asks for', async function () {
    builtMain();
    // Coverage of the bench's processes goes to a directory of its own: the bench loads src modules transpiled
    // on its own, and c8 merging those with the suite's made covered lines read as missed. (Node hands
    // NODE_V8_COVERAGE to every child unless the child's env names it, so it is renamed here, not dropped.)
    const coverage = await mkdtemp(join(tmpdir(), 'vcp-bench-coverage-'));
    let stdout: string;
    try {
      ({ stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'rotation.ts')], {
        cwd: ROOT,
        env: { ...process.env, BENCH_SCALE: '0.02', BENCH_ROUNDS: '1', BENCH_PIN: '0', VCP_REFERENCE: 'off', NODE_V8_COVERAGE: coverage },
        timeout: 110_000,
      }));
    } finally {
      await rm(coverage, { recursive: true, force: true });
    }
    const rows = parseTable(stdout);
    // 7 scenarios of ours and the floor, and ours with its default flags in the 10-path one.
    assert.equal(rows.length, 15, stdout);
    const row = (prefix: string, provider: string) => {
      const found = rows.find((r) => r.scenario.startsWith(prefix) && r.client === provider);
      assert.ok(found, `${prefix} / ${provider}`);
      return found.cells;
    };
    const republishes = ['republish, 1 object', 'republish, 1 object, one at a time', 'republish, 10 objects of 1 path', 'republish, 10 objects of 10 paths', 'republish, 1 KV + database'];
    for (const prefix of republishes) assert.equal(row(prefix, 'ours')['login'], '0', prefix);
    // Inside the reuse window the credential is not minted again; the floor mints one per mount, as the reference does.
    const db = row('republish, 1 KV + database', 'ours');
    assert.deepEqual([db['read'], db['dynamic']], ['1.00', '0']);
    const floorDb = row('republish, 1 KV + database', 'floor');
    assert.deepEqual([floorDb['read'], floorDb['dynamic']], ['1.00', '1.00']);
    // Ten objects of one path are one read; of ten paths, ten.
    for (const provider of ['ours', 'floor']) {
      assert.equal(row('republish, 10 objects of 1 path', provider)['read'], '1.00', provider);
      assert.equal(row('republish, 10 objects of 10 paths', provider)['read'], '10.00', provider);
    }
    assert.equal(row('republish, 10 objects of 10 paths', 'ours, default flags')['read'], '10.00');
    const cold = row('cold mount', 'ours');
    assert.deepEqual([cold['login'], cold['read'], cold['dynamic'], cold['issue']], ['1.00', '1.00', '1.00', '1.00']);
    const burst = row('burst', 'ours');
    assert.deepEqual([burst['login'], burst['dynamic'], burst['issue']], ['1.00', '1.00', '1.00']);
    // Ours reads its HMAC Secret once, at its first mount, not per mount (where it runs in-cluster at all).
    for (const r of rows.filter((x) => x.client.startsWith('ours'))) assert.ok(['0', 'n/a'].includes(r.cells['kube req/mount']!), r.scenario);
    for (const r of rows) assert.ok(Number(r.cells['peak RSS MiB']) > 0, `${r.scenario} / ${r.client}`);
    for (const r of rows.filter((x) => x.client === 'ours')) assert.match(r.cells['thr. vs floor']!, /^\d+\.\d\d×$/, r.scenario);
    assert.match(stdout, /^reference rows skipped: VCP_REFERENCE=off$/m);
    assert.match(stdout, /ours: node --max-semi-space-size=\d+ --max-old-space-size=\d+ --v8-pool-size=1 --liftoff-only dist\/main\.js/);
    assert.match(stdout, /Not pinned/);
  });
});
