/**
 * `npm run bench`, shrunk (BENCH_SCALE=0.02, one round, no pinning), end to end: the Vault server and the built
 * provider in their own processes, every scenario, one table. Its timings mean nothing at this size; what it checks
 * is that the bench still runs (a change to the provider once broke it unnoticed) and the counts that do not depend
 * on size: republishes inside the reuse window log in and mint nothing, the limit pays full price.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

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
    if ((await stat(join(ROOT, 'dist', 'main.js')).catch(() => undefined)) === undefined) this.skip();
    // Coverage of the bench's processes goes to a directory of its own: the bench loads src modules transpiled
    // on its own, and c8 merging those with the suite's made covered lines read as missed. (Node hands
    // NODE_V8_COVERAGE to every child unless the child's env names it, so it is renamed here, not dropped.)
    const coverage = await mkdtemp(join(tmpdir(), 'vcp-bench-coverage-'));
    let stdout: string;
    try {
      ({ stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'rotation.ts')], {
        cwd: ROOT,
        env: { ...process.env, BENCH_SCALE: '0.02', BENCH_ROUNDS: '1', BENCH_PIN: '0', NODE_V8_COVERAGE: coverage },
        timeout: 110_000,
      }));
    } finally {
      await rm(coverage, { recursive: true, force: true });
    }
    const rows = parseTable(stdout);
    assert.equal(rows.length, 10, stdout);
    const row = (prefix: string, client: 'provider' | 'limit') => {
      const found = rows.find((r) => r.scenario.startsWith(prefix) && r.client.startsWith(client));
      assert.ok(found, `${prefix} / ${client}`);
      return found.cells;
    };
    for (const prefix of ['republish, KV only, 1 object', 'republish, KV only, 10 objects', 'republish, database credential']) {
      assert.equal(row(prefix, 'provider')['login'], '0', prefix);
    }
    const dynamic = row('republish, database credential', 'provider');
    assert.deepEqual([dynamic['read'], dynamic['dynamic'], dynamic['issue']], ['0', '0', '0']);
    const limit = row('republish, database credential', 'limit');
    assert.deepEqual([limit['dynamic'], limit['issue']], ['1.00', '1.00']);
    // Static reads still reach Vault on every republish: the limit reads all ten, the provider at least one per mount.
    assert.equal(row('republish, KV only, 10 objects', 'limit')['read'], '10.00');
    assert.ok(Number(row('republish, KV only, 10 objects', 'provider')['read']) >= 1);
    const cold = row('cold mount', 'provider');
    assert.deepEqual([cold['login'], cold['read'], cold['dynamic'], cold['issue']], ['1.00', '1.00', '1.00', '1.00']);
    for (const r of rows.filter((x) => x.client === 'provider')) assert.ok(Number(r.cells['peak RSS MiB']) > 0, r.scenario);
    assert.match(stdout, /Provider: node --max-semi-space-size=\d+ --max-old-space-size=\d+ --v8-pool-size=1 dist\/main\.js; not pinned/);
  });
});
