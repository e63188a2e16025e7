/**
 * The provider as one CommonJS bundle (dist/provider.cjs), compiled with the V8 code cache that the build wrote beside
 * it (provider.cjs.cache). Compiling the 2.5 MB bundle and the functions its start runs was about a third of a start,
 * and Node 20 has neither a compile cache (22.1+) nor a startup snapshot that can hold http
 * (docs/benchmark.md, "Socket ready"). V8 takes a cache only when its version and flags are the ones it was written
 * with; a cache written for other bytes, absent or refused leaves the bundle compiled from source, as before.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

export const PROVIDER_BUNDLE = 'provider.cjs';
export const CODE_CACHE = 'provider.cjs.cache';

/** What became of the code cache: used, refused by V8 (another Node, other V8 flags), written for other bytes, none. */
export type CodeCacheState = 'used' | 'refused' | 'stale' | 'absent';

export interface CompiledProvider {
  readonly cache: CodeCacheState;
  /** Runs the bundle's top level: the provider's `main`, with `process.argv` as it is. */
  run(): void;
  /** Writes the cache: the bundle's digest, then what V8 has compiled of it so far (call after `run`). */
  writeCache(): void;
}

type ModuleFunction = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

// V8 checks a cache against the length of the source only; the digest ties it to these bytes.
const DIGEST_BYTES = 32;

// The loader (dist/main.js) and the bundle are compiled apart; the bundle's start line reports what this was.
const STATE = Symbol.for('vault-csi-provider.code-cache');

/** The code cache's state when this process runs from dist/main.js; undefined when it runs from the sources. */
export function codeCacheState(): CodeCacheState | undefined {
  return (globalThis as { [STATE]?: CodeCacheState })[STATE];
}

export function compileProvider(dir: string): CompiledProvider {
  const file = join(dir, PROVIDER_BUNDLE);
  const cacheFile = join(dir, CODE_CACHE);
  const bytes = readFileSync(file);
  const digest = createHash('sha256').update(bytes).digest();
  const stored = readOptional(cacheFile);
  const matches = stored !== undefined && stored.length > DIGEST_BYTES && digest.equals(stored.subarray(0, DIGEST_BYTES));
  // The wrapper shares the bundle's first line, so lines (and the source map) stay as built. The bundle is ASCII
  // (test/scripts/build.test.ts), so latin1 is exact and V8 holds it one byte a character.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${bytes.toString('latin1')}\n})`, {
    filename: file,
    ...(matches ? { cachedData: stored.subarray(DIGEST_BYTES) } : {}),
  });
  const cache: CodeCacheState = stored === undefined ? 'absent' : !matches ? 'stale' : script.cachedDataRejected === true ? 'refused' : 'used';
  return {
    cache,
    run(): void {
      (globalThis as { [STATE]?: CodeCacheState })[STATE] = cache;
      const fn = script.runInThisContext() as ModuleFunction;
      const module = { exports: {} };
      fn.call(module.exports, module.exports, createRequire(file), module, file, dir);
    },
    writeCache(): void {
      writeFileSync(cacheFile, Buffer.concat([digest, script.createCachedData()]));
    },
  };
}

function readOptional(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
