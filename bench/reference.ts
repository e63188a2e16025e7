// The reference provider (hashicorp/vault-csi-provider v1.7.4, linux/amd64), for side-by-side benchmarks only:
// unpacked from the .xz beside its README into a cache outside the repository and checked against the README's
// sha256 before it is ever run. Nothing of the project depends on it: when the archive (or xz) is missing, the
// benches print one line saying so and skip its rows. It is measured, never copied from (its licence: BUSL 1.1).
//
// `npx tsx bench/reference.ts` unpacks it and prints the binary's path (or why it cannot).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const REFERENCE_VERSION = 'v1.7.4';
/** sha256 of the unpacked binary, from /work/shared/reference/README.md. */
export const REFERENCE_SHA256 = 'd9fa499c0ae6f511acadc999b6ef5bfbc9525609fa698b1d79f71afe97298c0b';
const ARCHIVE = `vault-csi-provider-${REFERENCE_VERSION}-linux-amd64.xz`;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where the archive may be: VCP_REFERENCE_XZ, then the shared directory beside the checkout, then this machine's. */
function candidates(): string[] {
  const given = process.env['VCP_REFERENCE_XZ'];
  if (given !== undefined && given !== '') return [given];
  return [join(ROOT, '..', 'shared', 'reference', ARCHIVE), join(ROOT, '..', '..', 'shared', 'reference', ARCHIVE), join('/work/shared/reference', ARCHIVE)];
}

export function referenceCacheDir(): string {
  const base = process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return join(base, 'vault-csi-provider-ts', 'reference', REFERENCE_VERSION);
}

export type ReferenceLookup = { readonly path: string } | { readonly skipped: string };

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true;
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/**
 * The unpacked reference binary, checked; or why there is none. VCP_REFERENCE=off skips it on purpose (the fast
 * suite's run of the bench does, so `npm test` never depends on it).
 */
export async function referenceBinary(): Promise<ReferenceLookup> {
  if (process.env['VCP_REFERENCE'] === 'off') return { skipped: 'reference rows skipped: VCP_REFERENCE=off' };
  if (process.arch !== 'x64' || process.platform !== 'linux') return { skipped: `reference rows skipped: the reference is built for linux/amd64, this is ${process.platform}/${process.arch}` };
  const binary = join(referenceCacheDir(), 'vault-csi-provider');
  if ((await exists(binary)) && (await sha256(binary)) === REFERENCE_SHA256) return { path: binary };
  let archive: string | undefined;
  for (const c of candidates()) {
    if (await exists(c)) {
      archive = c;
      break;
    }
  }
  if (archive === undefined) {
    return { skipped: `reference rows skipped: ${ARCHIVE} not found (looked in ${candidates().join(', ')}; VCP_REFERENCE_XZ names another place)` };
  }
  await mkdir(dirname(binary), { recursive: true });
  const partial = `${binary}.partial-${process.pid}`;
  try {
    await execFileAsync('sh', ['-c', 'xz -dc "$0" > "$1"', archive, partial]);
  } catch (err: unknown) {
    return { skipped: `reference rows skipped: could not unpack ${archive} with xz (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
  const digest = await sha256(partial);
  if (digest !== REFERENCE_SHA256) {
    throw new Error(`${archive} unpacked to a binary with sha256 ${digest}, not the README's ${REFERENCE_SHA256}: refusing to run it`);
  }
  await chmod(partial, 0o755);
  await rename(partial, binary);
  return { path: binary };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const found = await referenceBinary();
  if ('path' in found) process.stdout.write(`${found.path}\n`);
  else {
    process.stderr.write(`${found.skipped}\n`);
    process.exitCode = 1;
  }
}
