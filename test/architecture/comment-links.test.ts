/**
 * Every file a comment in src/ names exists, and every Markdown anchor it names is a heading of that page: a path
 * (`docs/security.md`, `docs/benchmark.md#memory`, `test/…`, `src/state/`, a sibling `transport.ts`, a src-relative
 * `vault/client-pool.ts`) or a Markdown link. A comment that cites a missing file sends its reader nowhere.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { ROOT, scanFile, tsFiles } from '../../scripts/comment-ratio.js';
import { headings, slug } from './markdown.js';

const ROOT_DIRS = /^(?:src|test|docs|deploy|examples|scripts|bench|proto)\//;
/** A file name with an extension the repository's files have, optionally with a path and a `#anchor`. */
const PATH = /(?<![\w@/.:-])((?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w-][\w.-]*\.(?:ts|md|json|ya?ml|proto|sh|mjs|js|txt))(#[\w-]+)?(?![\w/-])/g;
/** A directory (or extensionless file) under one of the repository's top-level directories: `src/state/`, `deploy/driver`. */
const DIR = /(?<![\w@/.:-])((?:src|test|docs|deploy|examples|scripts|bench|proto)\/(?:[\w.-]+\/)*[\w-]*)(?![\w./-]*\.\w)/g;
const LINK = /\]\(([^)\s]+)\)/g;

interface Reference {
  readonly path: string;
  readonly anchor: string | undefined;
}

/** The references one comment makes; URLs are not references to the repository. */
export function references(comment: string): Reference[] {
  const out: Reference[] = [];
  for (const m of comment.matchAll(LINK)) {
    if (/^[a-z]+:/.test(m[1]!)) continue;
    const [path, anchor] = m[1]!.split('#') as [string, string | undefined];
    out.push({ path, anchor });
  }
  const text = comment.replace(LINK, ']');
  for (const m of text.matchAll(PATH)) out.push({ path: m[1]!, anchor: m[2]?.slice(1) });
  for (const m of text.matchAll(DIR)) out.push({ path: m[1]!, anchor: undefined });
  return out;
}

/** Where a reference made in `from` may point: relative to it when it says so, else the root, its directory, src/. */
function candidates(path: string, from: string): string[] {
  if (path.startsWith('./') || path.startsWith('../')) return [normalize(join(dirname(from), path))];
  if (ROOT_DIRS.test(path)) return [path];
  return [path, join(dirname(from), path), join('src', path)];
}

describe('comments in src/', () => {
  it('are read for references as a reader would follow them', () => {
    const found = references('/** see docs/a.md#b-c, ../x.ts and [t](docs/c.md#d), not https://e.example/f.md; src/state/ too */');
    assert.deepEqual(found, [
      { path: 'docs/c.md', anchor: 'd' },
      { path: 'docs/a.md', anchor: 'b-c' },
      { path: '../x.ts', anchor: undefined },
      { path: 'src/state/', anchor: undefined },
    ]);
  });

  it('name only files that exist and headings those pages have', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of tsFiles(ROOT, 'src')) {
      for (const comment of scanFile(ROOT, file).comments) {
        for (const ref of references(comment.text)) {
          checked += 1;
          const where = `${file}:${comment.line}: ${ref.path}${ref.anchor === undefined ? '' : `#${ref.anchor}`}`;
          const target = candidates(ref.path, file).find((p) => existsSync(join(ROOT, p)));
          if (target === undefined) {
            broken.push(`${where} does not exist`);
          } else if (ref.anchor !== undefined && target.endsWith('.md')) {
            if (!headings(readFileSync(join(ROOT, target), 'utf8')).map(slug).includes(ref.anchor)) broken.push(`${where}: ${target} has no such heading`);
          }
        }
      }
    }
    assert.deepEqual(broken, []);
    assert.ok(checked >= 30, `only ${checked} references found: the reader is broken`);
  });
});
