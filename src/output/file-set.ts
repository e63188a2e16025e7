/** Checked here against everything the driver would refuse, so the message names the object. */
import { ProviderError } from '../errors.js';
import { filePathChecker, PathTrie } from '../config/file-paths.js';
import { formatBytes, quoted } from '../shared/message-text.js';

export interface OutputFile {
  /** Relative path inside the volume, as the driver receives it. */
  readonly path: string;
  /** Permission bits, 0..0o777 (the wire field is an int32 the driver passes to chmod). */
  readonly mode: number;
  readonly contents: Buffer;
  /** The SecretProviderClass object the file comes from; named in every error. */
  readonly objectName: string;
}

/** The driver's default gRPC receive limit, which applies to the whole MountResponse. */
export const DEFAULT_MOUNT_LIMIT_BYTES = 4 * 1024 * 1024;

/** A Kubernetes Secret holds at most 1 MiB; above this the driver's secret sync cannot mirror the files. */
export const SECRET_SYNC_LIMIT_BYTES = 1024 * 1024;

/** A File's framing is under 20 bytes and its ObjectVersion's under 60: an estimate under the limit never goes over. */
export const PER_FILE_OVERHEAD_BYTES = 128;

const MAX_MODE = 0o777;
/** Paths can be 4096 bytes long; error messages quote at most this many characters of one. */
const MAX_QUOTED_PATH = 120;
const LARGEST_NAMED = 3;

function invalid(objectName: string, message: string): ProviderError {
  return new ProviderError('INVALID_CONFIG', `object "${objectName}": ${message}`, { objectName });
}

/** Bytes one file adds to the MountResponse, framing included (an upper estimate). */
export function responseBytesOf(file: OutputFile): number {
  return (
    file.contents.length +
    Buffer.byteLength(file.path, 'utf8') +
    Buffer.byteLength(file.objectName, 'utf8') +
    PER_FILE_OVERHEAD_BYTES
  );
}

/** Upper estimate of the MountResponse size for these files. */
export function responseBytes(files: readonly OutputFile[]): number {
  return files.reduce((sum, file) => sum + responseBytesOf(file), 0);
}

/** Sum of the file contents alone: what a synced Kubernetes Secret would have to hold. */
export function contentBytes(files: readonly OutputFile[]): number {
  return files.reduce((sum, file) => sum + file.contents.length, 0);
}

/** The mount still works, so the caller only warns. */
export function exceedsSecretSyncLimit(files: readonly OutputFile[]): boolean {
  return contentBytes(files) > SECRET_SYNC_LIMIT_BYTES;
}

/** Objects by the response bytes their files take, largest first (ties by name, so messages are stable). */
export function largestObjects(files: readonly OutputFile[], count = LARGEST_NAMED): { name: string; bytes: number }[] {
  const byObject = new Map<string, number>();
  for (const file of files) {
    byObject.set(file.objectName, (byObject.get(file.objectName) ?? 0) + responseBytesOf(file));
  }
  return [...byObject]
    .map(([name, bytes]) => ({ name, bytes }))
    .sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, count);
}

function checkPathsAndModes(files: readonly OutputFile[]): void {
  const filePathProblem = filePathChecker();
  for (const file of files) {
    const problem = filePathProblem(file.path);
    if (problem !== undefined) {
      throw invalid(file.objectName, `file path ${quoted(file.path, MAX_QUOTED_PATH)} would be refused by the driver: ${problem}`);
    }
    if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > MAX_MODE) {
      throw invalid(
        file.objectName,
        `file mode ${String(file.mode)} for ${quoted(file.path, MAX_QUOTED_PATH)} is not a permission between 0 and 0777`,
      );
    }
  }
}

/** Two files at one path, or `a` beside `a/b` (the driver would fail half-written), are configuration errors. */
function checkConflicts(files: readonly OutputFile[]): void {
  const byPath = new Map<string, OutputFile>();
  for (const file of files) {
    const earlier = byPath.get(file.path);
    if (earlier !== undefined) {
      throw invalid(
        file.objectName,
        `file path ${quoted(file.path, MAX_QUOTED_PATH)} is also written by object "${earlier.objectName}"`,
      );
    }
    byPath.set(file.path, file);
  }
  // By components: comparing each directory of each path with the paths costs a path's length squared.
  const trie = new PathTrie<OutputFile>();
  for (const file of files) trie.add(file.path, file);
  for (const file of files) {
    const found = trie.ancestor(file.path);
    if (found !== undefined) {
      throw invalid(
        file.objectName,
        `file path ${quoted(file.path, MAX_QUOTED_PATH)} needs ${quoted(found.path, MAX_QUOTED_PATH)} to be a directory, but object "${found.value.objectName}" writes a file there`,
      );
    }
  }
}

function checkSize(files: readonly OutputFile[], limitBytes: number): void {
  const total = responseBytes(files);
  if (total <= limitBytes) return;
  // Names and sizes only: the contents are secrets and never belong in a message.
  const largest = largestObjects(files)
    .map(({ name, bytes }) => `"${name}" (${formatBytes(bytes)})`)
    .join(', ');
  throw new ProviderError(
    'MOUNT_TOO_LARGE',
    `the files of this mount take about ${formatBytes(total)} (${total} bytes with framing), over the ` +
      `${formatBytes(limitBytes)} limit of the driver's gRPC messages; largest objects: ${largest}`,
  );
}

export function buildFileSet(
  files: readonly OutputFile[],
  limitBytes: number = DEFAULT_MOUNT_LIMIT_BYTES,
): readonly OutputFile[] {
  checkPathsAndModes(files);
  checkConflicts(files);
  checkSize(files, limitBytes);
  return Object.freeze([...files]);
}
