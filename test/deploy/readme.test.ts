/**
 * The operator's README against the code: every error code has a troubleshooting row with a cause and a fix, every
 * metric is listed, the audit flag is in the flag table, and every deploy/ or examples/ path it names exists.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes } from '../../src/errors.js';
import { ProviderMetrics } from '../../src/observability/metrics.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** The rows of the first Markdown table after `heading`, as trimmed cells. */
function table(readme: string, heading: string): string[][] {
  const at = readme.indexOf(`\n${heading}\n`);
  assert.notEqual(at, -1, `README has ${heading}`);
  const lines = readme.slice(at).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

describe('README for operators', () => {
  let readme: string;
  before(async () => {
    readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  });

  it('maps every error code to its gRPC status, a cause and a fix', () => {
    const rows = table(readme, '## Errors');
    const byCode = new Map(rows.map((r) => [r[0]!.replace(/`/g, ''), r]));
    for (const code of ErrorCodes) {
      const row = byCode.get(code);
      assert.ok(row, `no row for ${code}`);
      assert.equal(row.length, 4, `${code}: code, gRPC status, cause, fix`);
      for (const cell of row) assert.ok(cell.length > 3, `${code}: empty cell`);
    }
    assert.equal(rows.length, ErrorCodes.length, 'no row for a code that does not exist');
  });

  it('lists every metric the provider exports', async () => {
    const listed = new Set(table(readme, '### Metrics').map((r) => r[0]!.replace(/`/g, '')));
    const families = (await new ProviderMetrics({ processMetrics: false }).registry.getMetricsAsJSON()).map((f) => f.name);
    assert.ok(families.length >= 9);
    for (const name of families) assert.ok(listed.has(name), `${name} is not in the README's metrics table`);
  });

  it('has the audit flag in the flag table', () => {
    assert.ok(table(readme, '## Flags').some((r) => r[0] === '`--audit-log-file`'));
  });

  it('names only deploy/ and examples/ paths that exist', async () => {
    const paths = new Set([...readme.matchAll(/\b((?:deploy|examples)\/[A-Za-z0-9._/-]*[A-Za-z0-9_-])/g)].map((m) => m[1]!));
    assert.ok(paths.size >= 8);
    for (const p of paths) await stat(join(ROOT, p)).catch(() => assert.fail(`README names ${p}, which does not exist`));
  });
});
