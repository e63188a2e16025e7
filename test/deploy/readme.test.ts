/**
 * The README and the docs/ pages against the code and against each other: every error code has a troubleshooting row
 * with a cause and a fix, every metric is listed, every daemon flag is in the flag table (and nothing else is), every
 * deploy/ or examples/ path they name exists, every docs page is linked from the README, every relative link and
 * anchor resolves, and the README stays a five-minute read.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';
import { ErrorCodes } from '../../src/errors.js';
import { FLAGS } from '../../src/cli/flags.js';
import { ProviderMetrics } from '../../src/observability/metrics.js';
import { headings, links, slug, table as markdownTable } from '../architecture/markdown.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** The rows of the first Markdown table after `heading`, as trimmed cells. */
function table(page: string, heading: string): string[][] {
  const rows = markdownTable(page, heading);
  assert.ok(rows !== undefined, `the page has ${heading}`);
  return rows;
}

/** Markdown pages under `dir` (relative to the root), at any depth. */
async function markdownUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && e.name.endsWith('.md')).map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

describe('README and docs/', () => {
  /** Every page, by its path from the repository root. */
  const pages = new Map<string, string>();
  let docs: string[];
  const page = (path: string): string => {
    const text = pages.get(path);
    assert.ok(text !== undefined, `${path} exists`);
    return text;
  };
  before(async () => {
    docs = (await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
    const elsewhere = (await Promise.all(['examples', 'deploy', 'test', 'bench', 'scripts'].map(markdownUnder))).flat();
    for (const path of ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', ...docs, ...elsewhere]) pages.set(path, await readFile(join(ROOT, path), 'utf8'));
  });

  it('keeps the README under 12 KB, and links every docs page from it', () => {
    const readme = page('README.md');
    assert.ok(Buffer.byteLength(readme) < 12 * 1024, `README.md is ${Buffer.byteLength(readme)} bytes`);
    assert.ok(docs.length >= 8, `docs/ has ${docs.length} pages`);
    const linked = new Set(links(readme).map((l) => normalize(l.split('#')[0]!)));
    for (const path of [...docs, 'CONTRIBUTING.md', 'SECURITY.md']) assert.ok(linked.has(path), `README.md does not link ${path}`);
  });

  it('has only relative links that resolve, to files that exist and to headings that exist', async () => {
    let checked = 0;
    for (const [from, text] of pages) {
      for (const target of links(text)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const to = path === '' ? from : normalize(join(dirname(from), path));
        assert.ok(!relative(ROOT, join(ROOT, to)).startsWith('..'), `${from}: ${target} leaves the repository`);
        await stat(join(ROOT, to)).catch(() => assert.fail(`${from}: ${target} names ${to}, which does not exist`));
        if (anchor !== undefined && to.endsWith('.md')) {
          const target_ = pages.get(to) ?? (await readFile(join(ROOT, to), 'utf8'));
          assert.ok(headings(target_).map(slug).includes(anchor), `${from}: ${target} has no heading #${anchor} in ${to}`);
        }
        checked += 1;
      }
    }
    assert.ok(checked >= 60, `only ${checked} links checked`);
  });

  it('maps every error code to its gRPC status, a cause and a fix (docs/operations.md)', () => {
    const rows = table(page('docs/operations.md'), '## Errors');
    const byCode = new Map(rows.map((r) => [r[0]!.replace(/`/g, ''), r]));
    for (const code of ErrorCodes) {
      const row = byCode.get(code);
      assert.ok(row, `no row for ${code}`);
      assert.equal(row.length, 4, `${code}: code, gRPC status, cause, fix`);
      for (const cell of row) assert.ok(cell.length > 3, `${code}: empty cell`);
    }
    assert.equal(rows.length, ErrorCodes.length, 'no row for a code that does not exist');
  });

  it('lists every metric the provider exports (docs/operations.md)', async () => {
    const listed = new Set(table(page('docs/operations.md'), '## Metrics').map((r) => r[0]!.replace(/`/g, '')));
    const families = (await new ProviderMetrics({ processMetrics: false }).registry.getMetricsAsJSON()).map((f) => f.name);
    assert.ok(families.length >= 9);
    for (const name of families) assert.ok(listed.has(name), `${name} is not in the metrics table`);
  });

  it('has every daemon flag in the flag table, and no flag the daemon lacks (docs/configuration.md)', () => {
    const rows = table(page('docs/configuration.md'), '## Flags');
    assert.ok(rows.some((r) => r[0] === '`--audit-log-file`'));
    assert.ok(rows.some((r) => r[0] === '`--trust-policy`'));
    const text = rows.map((r) => r.join(' | ')).join('\n');
    for (const flag of FLAGS) assert.match(text, new RegExp(`\`--${flag.name}[\` =]`), `--${flag.name} is not in the flag table`);
    const known = new Set(FLAGS.map((f) => f.name));
    for (const row of rows) {
      for (const m of row[0]!.matchAll(/`--([a-z0-9-]+)`/g)) {
        assert.ok(known.has(m[1]!) || m[1]!.startsWith('openbao-'), `the flag table names --${m[1]}, which the daemon does not have`);
      }
    }
  });

  it('names only deploy/ and examples/ paths that exist (as written from the root, or from docs/ as ../deploy/…)', async () => {
    const paths = new Set([...pages.values()].flatMap((text) => [...text.matchAll(/(?:^|[^\w/.-]|\.\.\/)((?:deploy|examples)\/[A-Za-z0-9._/-]*[A-Za-z0-9_-])/gm)].map((m) => m[1]!)));
    assert.ok(paths.size >= 8);
    for (const p of paths) await stat(join(ROOT, p)).catch(() => assert.fail(`the docs name ${p}, which does not exist`));
  });
});
