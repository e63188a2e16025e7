// `npm run build`: src/ and its production dependencies bundled into dist/provider.cjs, the small loader dist/main.js
// that `node` runs, and the V8 code cache of the bundle (dist/provider.cjs.cache). Loading ~700 modules one by one
// (resolve, read, compile each) was most of a start; one file is read once, and the cache spares compiling it
// (docs/benchmark.md, "At rest"). Type checking is `npm run typecheck`; esbuild only strips the types.
import { build, type BuildOptions } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { isAscii } from 'node:buffer';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageNodeFlags } from './image/dockerfile.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const common: BuildOptions = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20.19',
  // Identifiers stay, so stack traces name functions; provider.cjs.map gives their lines (Node 20 does not apply
  // it to a vm.Script under --enable-source-maps). Without the whitespace the comments go too, and with them the
  // few non-ASCII characters that made V8 hold the whole source as a two-byte string (8 MiB, not 3).
  minifySyntax: true,
  minifyWhitespace: true,
  charset: 'ascii',
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'linked',
  logLevel: 'warning',
};

await rm(join(root, 'dist'), { recursive: true, force: true });
await Promise.all([
  // CommonJS: V8's code cache is for scripts (vm.Script); Node 20 has none for ES modules.
  build({
    ...common,
    entryPoints: ['src/main.ts'],
    outfile: 'dist/provider.cjs',
    format: 'cjs',
    // src/version.ts finds package.json from the bundle's own place.
    define: { 'import.meta.url': '__bundleUrl' },
    banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  }),
  build({ ...common, entryPoints: ['src/boot/main.ts'], outfile: 'dist/main.js', format: 'esm', legalComments: 'none' }),
]);

// esbuild's `charset: 'ascii'` leaves a regular expression's literal characters as they are; the loader reads the
// bundle as latin1, which is exact for ASCII alone.
const bundle = await readFile(join(root, 'dist', 'provider.cjs'));
if (!isAscii(bundle)) {
  const at = bundle.findIndex((b) => b > 0x7f);
  throw new Error(`dist/provider.cjs is not ASCII at byte ${at}: …${bundle.subarray(Math.max(0, at - 60), at + 10).toString('latin1')}… (escape it in the source)`);
}

// V8 takes the cache only under the flags it was written with: the image's (its NODE_OPTIONS and ENTRYPOINT flags).
// The provider runs `--version` here, which loads every module, and the cache holds what that compiled.
const writer = spawnSync(process.execPath, [...imageNodeFlags(), '--import', 'tsx', join(root, 'scripts', 'code-cache.ts'), join(root, 'dist')], {
  cwd: root,
  env: { ...process.env, NODE_OPTIONS: '' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (writer.status !== 0) throw new Error(`writing the code cache failed (${writer.status ?? writer.signal})`);
