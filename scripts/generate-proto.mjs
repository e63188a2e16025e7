#!/usr/bin/env node
// Generates the TypeScript types of proto/service.proto into src/generated/ (or into the directory given as the
// first argument, which the staleness test uses). The generated files are committed; a test regenerates them into
// a temporary directory and fails when they differ, so a changed proto cannot ship with stale types.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'src/generated'));
const require = createRequire(import.meta.url);
const generator = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
execFileSync(
  process.execPath,
  [
    generator,
    '--grpcLib=@grpc/grpc-js',
    '--keepCase',
    '--longs=String',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '-I', join(root, 'proto'),
    '-O', outDir,
    'service.proto',
  ],
  { stdio: 'inherit' },
);

// NodeNext resolution needs explicit extensions on relative imports; the generator writes none.
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.ts')) {
      // The generator also records the proto's absolute path, which would differ between clones.
      const text = readFileSync(path, 'utf8')
        .replace(/from '(\.{1,2}\/[^']+?)'/g, (_m, spec) => `from '${spec}.js'`)
        .split(`${root}/`)
        .join('');
      writeFileSync(path, text);
    }
  }
}
walk(outDir);
