/**
 * The provider as one CommonJS bundle (dist/provider.cjs), compiled with the V8 code cache that the build wrote beside
 * it (provider.cjs.cache). Compiling the 2.5 MB bundle and the functions its start runs was about a third of a start,
 * and Node 20 has neither a compile cache (22.1+) nor a startup snapshot that can hold http
 * (docs/benchmark.md, "The code cache"). A cache written for other bytes or another Node, damaged, unreadable,
 * absent or refused by V8 (other V8 flags) leaves the bundle compiled from source, as before.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

export const PROVIDER_BUNDLE = 'provider.cjs';
export const CODE_CACHE = 'provider.cjs.cache';

/**
 * What became of the code cache: used; refused by V8 (other V8 flags); written for other bytes or another Node
 * (stale); not the bytes written (damaged); unreadable; none.
 */
export type CodeCacheState = 'used' | 'refused' | 'stale' | 'damaged' | 'unreadable' | 'absent';

export interface CompiledProvider {
  readonly cache: CodeCacheState;
  /** Runs the bundle's top level: the provider's `main`, with `process.argv` as it is. */
  run(): void;
  /** Writes the cache: what V8 has compiled of the bundle so far (call after `run`), behind the two digests. */
  writeCache(): void;
}

type ModuleFunction = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

// The cache file: the digest of what it was written for, the digest of V8's data, V8's data. V8 checks its own
// version (not Node's) and flags, and the source by its length alone; Node 20 runs it without checking the data's
// checksum, and damaged data crashes the process (found by flipping bytes), so nothing unchecked reaches V8.
const DIGEST = 32;

function sha256(...parts: ReadonlyArray<string | Buffer>): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

// The same wrapper CommonJS gives a module, strict as the ES modules of src/ are, on the bundle's first line so
// that its lines are the source map's.
const wrap = (source: string): string => `(function (exports, require, module, __filename, __dirname) {"use strict";${source}\n})`;

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
  const subject = sha256(process.version, '\0', process.arch, '\0', bytes);
  const stored = storedCache(cacheFile, subject);
  // The build checks the bundle is ASCII (scripts/build.ts), so latin1 is exact and V8 holds it one byte a character.
  const script = new Script(wrap(bytes.toString('latin1')), { filename: file, ...(typeof stored === 'string' ? {} : { cachedData: stored }) });
  const cache: CodeCacheState = typeof stored === 'string' ? stored : script.cachedDataRejected === false ? 'used' : 'refused';
  return {
    cache,
    run(): void {
      (globalThis as { [STATE]?: CodeCacheState })[STATE] = cache;
      const fn = script.runInThisContext() as ModuleFunction;
      const module = { exports: {} };
      fn.call(module.exports, module.exports, createRequire(file), module, file, dir);
    },
    writeCache(): void {
      const v8Data = script.createCachedData();
      writeFileSync(cacheFile, Buffer.concat([subject, sha256(v8Data), v8Data]));
    },
  };
}

/** V8's data from the cache file when it passes both digests, else why it is not offered to V8. */
function storedCache(cacheFile: string, subject: Buffer): Buffer | 'stale' | 'damaged' | 'unreadable' | 'absent' {
  let stored: Buffer;
  try {
    stored = readFileSync(cacheFile);
  } catch (err: unknown) {
    // The cache is only ever a saving: a directory in its place or a file we may not read costs the saving alone.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'unreadable';
  }
  const data = stored.subarray(2 * DIGEST);
  if (data.length === 0 || !sha256(data).equals(stored.subarray(DIGEST, 2 * DIGEST))) return 'damaged';
  return subject.equals(stored.subarray(0, DIGEST)) ? data : 'stale';
}
