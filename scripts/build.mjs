// `npm run build`: src/ and its production dependencies bundled into one file, dist/main.js, which the image runs.
// Loading ~700 modules one by one (resolve, read, compile each) was most of a start; one file is read and compiled
// once (docs/benchmark.md, "At rest"). Type checking is `npm run typecheck`; esbuild only strips the types.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

await rm(join(root, 'dist'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/main.ts'],
  outfile: 'dist/main.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  // CommonJS dependencies require Node's own modules; an ES module has no `require` of its own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  // Identifiers stay, so stack traces name functions (the source map gives the lines: --enable-source-maps).
  // Without the whitespace the comments go too, and with them the few non-ASCII characters that made V8 hold
  // the whole 4 MB source as a two-byte string (8 MiB, not 3).
  minifySyntax: true,
  minifyWhitespace: true,
  charset: 'ascii',
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'linked',
  logLevel: 'warning',
});
