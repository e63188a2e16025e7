/**
 * Layers that point one way: every relative import in src/ goes to a module of its own layer or of a layer below.
 *
 * The order, top to bottom (a module may import from its own line and the lines under it, never from a line above):
 *
 *   main.ts, cli/      the commands: flags, wiring of every stage, signals
 *   server/            gRPC call → parseMountRequest → MountService → response; status mapping
 *   conductor/         runs one mount through every stage: connection, login (auth), reads (vault), contents, files
 *   kubernetes/        adapters the wiring injects: auth's ServiceAccountTokenRequester, mount's HmacKeySource
 *   state/             the caches of auth and vault kept across restarts (the file, its envelope), keyed from mount's HmacKeySource
 *   observability/     sinks for what the stages report (logs, metrics, audit, health); reads their event types
 *   mount/             what one mount's objects need: distinct requests and their reuse, contents, versions
 *   output/            the file set and the atomic writer for the target path
 *   auth/              pod identity + SA token → Vault token, through the vault stage's client
 *   vault/             one client per connection settings, transport, caches
 *   http/              the undici dispatcher vault and kubernetes share
 *   admission/         mount admission and time budgets, which server, mount and vault all honour
 *   config/            pure: attributes, secrets, permission → readonly MountConfig; the syntax it validates
 *   shared/, errors.ts, version.ts, generated/, boot/
 *                      the foundation: generic pieces no stage owns, the error catalog, the version, gRPC types, and
 *                      the loader dist/main.js is (the bundle with its code cache; it imports none of ours)
 *
 * The conductor runs every stage, so it sits above them, under the server that calls it; the stages below are the
 * flow of a mount (config → auth → vault → mount → output) as a dependency order, and the pure config stage, whose
 * readonly types every later stage reads, sits at the bottom.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import ts from 'typescript';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** Top first. Each entry is a folder under src/ or a file directly in src/. */
const LAYERS: readonly (readonly string[])[] = [
  ['main.ts', 'cli'],
  ['server'],
  ['conductor'],
  ['kubernetes'],
  ['state'],
  ['observability'],
  ['mount'],
  ['output'],
  ['auth'],
  ['vault'],
  ['http'],
  ['admission'],
  ['config'],
  ['shared', 'errors.ts', 'version.ts', 'generated', 'boot'],
];

interface SourceFile {
  /** Path relative to src/, with '/' separators. */
  readonly path: string;
  readonly text: string;
}

interface Violation {
  readonly file: string;
  readonly specifier: string;
  readonly message: string;
}

/** The layer entry a src/-relative path belongs to: its first component (a folder, or a file directly in src/). */
const unitOf = (path: string): string => path.split('/')[0]!;

function rankOf(unit: string): number | undefined {
  const index = LAYERS.findIndex((layer) => layer.includes(unit));
  // Higher is further up; the foundation is 0.
  return index === -1 ? undefined : LAYERS.length - 1 - index;
}

/** Every module specifier a file names: static imports and re-exports (type-only ones too) and import(). */
function specifiersOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

function layerViolations(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const from = unitOf(file.path);
    const fromRank = rankOf(from);
    if (fromRank === undefined) {
      violations.push({ file: file.path, specifier: '', message: `src/${from} has no place in LAYERS (test/architecture/layers.test.ts)` });
      continue;
    }
    for (const specifier of specifiersOf(file.text)) {
      // Packages and node: builtins are not layers.
      if (!specifier.startsWith('.')) continue;
      // NodeNext specifiers name the emitted .js file; the layer entries name the .ts source.
      const target = normalize(join(dirname(file.path), specifier)).split(sep).join('/').replace(/\.js$/, '.ts');
      if (target.startsWith('..')) {
        violations.push({ file: file.path, specifier, message: 'imports from outside src/' });
        continue;
      }
      const to = unitOf(target);
      const toRank = rankOf(to);
      if (toRank === undefined) {
        violations.push({ file: file.path, specifier, message: `imports src/${to}, which has no place in LAYERS` });
      } else if (toRank > fromRank) {
        violations.push({ file: file.path, specifier, message: `points back up the flow: ${from} may not import from ${to}` });
      }
    }
  }
  return violations;
}

function sourceFiles(dir: string): SourceFile[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => {
      const full = join(entry.parentPath, entry.name);
      return { path: relative(dir, full).split(sep).join('/'), text: readFileSync(full, 'utf8') };
    });
}

const describeViolation = (v: Violation): string => `src/${v.file}${v.specifier === '' ? '' : ` imports '${v.specifier}'`}: ${v.message}`;

describe('architecture: layers that point one way', () => {
  it('finds no import in src/ that points back up the flow', () => {
    const files = sourceFiles(join(ROOT, 'src'));
    assert.ok(files.length > 50, `read only ${files.length} files under src/`);
    const violations = layerViolations(files).map(describeViolation);
    assert.deepEqual(violations, [], `imports against the layer order:\n${violations.join('\n')}`);
  });

  it('names the file and the import of each violation, whatever form the import takes', () => {
    const files: SourceFile[] = [
      { path: 'config/objects.ts', text: "import { filePathProblem } from '../output/paths.js';\nimport { Lru } from '../shared/lru.js';" },
      { path: 'config/lazy.ts', text: "export async function f() { return import('../mount/json-pointer.js'); }" },
      { path: 'mount/trust.ts', text: "import type { X } from '../kubernetes/cluster.js';\nexport { Y } from '../config/types.js';" },
      { path: 'vault/client.ts', text: "import { z } from 'zod';\nimport { abortReason } from '../errors.js';" },
      { path: 'server/h.ts', text: "import { MountService } from '../conductor/mount-service.js';" },
      { path: 'newstage/x.ts', text: '' },
      { path: 'auth/y.ts', text: "import { q } from '../../test/helpers/q.js';" },
    ];
    assert.deepEqual(layerViolations(files).map(describeViolation), [
      "src/config/objects.ts imports '../output/paths.js': points back up the flow: config may not import from output",
      "src/config/lazy.ts imports '../mount/json-pointer.js': points back up the flow: config may not import from mount",
      "src/mount/trust.ts imports '../kubernetes/cluster.js': points back up the flow: mount may not import from kubernetes",
      'src/newstage/x.ts: src/newstage has no place in LAYERS (test/architecture/layers.test.ts)',
      "src/auth/y.ts imports '../../test/helpers/q.js': imports from outside src/",
    ]);
  });
});
