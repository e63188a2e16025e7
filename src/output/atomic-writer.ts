/**
 * `--write-files` (drivers before v0.0.21): the file set laid out as Kubernetes' AtomicWriter lays out projected
 * volumes — `..<timestamp>/` version directories, `..data` pointing at one, a symlink per top-level name — and
 * published by renaming a `..data_tmp` link over `..data`, so a reader sees the whole old set or the whole new one.
 * The target belongs to a pod and we run as root: entries are only ever created new with O_EXCL|O_NOFOLLOW and modes
 * set by fchmod, a planted symlink is replaced never followed, anything else not ours is refused before writing
 * (docs/security.md; Node has no openat(2), the residual risk there).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { errnoCode, ProviderError, type ErrorContext } from '../errors.js';
import { buildFileSet, type OutputFile } from './file-set.js';
import { nodeFsOps, OpenFlags, type FsFile, type FsOps, type FsStats } from './fs-ops.js';
import { parentDirectories, parentOf } from '../config/file-paths.js';
import { systemClock, type Clock } from '../shared/clock.js';

export const DATA_DIR_NAME = '..data';
export const NEW_DATA_DIR_NAME = '..data_tmp';
/** Version directories must be traversable by the pod's user; the files' own modes decide who reads them. */
const DIR_MODE = 0o755;
/** Files start readable by us only until fchmod sets the requested mode; the umask can only narrow this. */
const INITIAL_FILE_MODE = 0o600;
const TIMESTAMP_DIR_PATTERN = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/;
const LINK_TMP_PREFIX = '..link_tmp.';
const LINK_TMP_PATTERN = /^\.\.link_tmp\.[0-9a-f]{16}$/;
const MKDIR_ATTEMPTS = 5;

export interface WriterLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AtomicWriterOptions {
  readonly fs?: FsOps;
  readonly now?: Clock['now'];
  readonly logger?: WriterLogger;
}

const silentLogger: WriterLogger = { debug: () => undefined, warn: () => undefined };

/** `..2026_11_28_20_41_05.123456789`: UTC time to the millisecond, then six random digits to make it unique. */
export function timestampDirName(now: Date, randomDigits: number): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const date = `${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}`;
  const time = `${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}`;
  return `..${date}_${time}.${pad(now.getUTCMilliseconds(), 3)}${pad(randomDigits, 6)}`;
}

export function isTimestampDirName(name: string): boolean {
  return TIMESTAMP_DIR_PATTERN.test(name);
}

export function topLevelNames(files: readonly OutputFile[]): string[] {
  const names = new Set(files.map((file) => file.path.split('/')[0] ?? file.path));
  return [...names].sort();
}

export function visibleLinkTarget(name: string): string {
  return `${DATA_DIR_NAME}/${name}`;
}

function describe(err: unknown): string {
  return errnoCode(err) ?? (err instanceof Error ? err.name : typeof err);
}

function writeFailed(message: string, cause?: unknown, context: ErrorContext = {}): ProviderError {
  const suffix = cause === undefined ? '' : `: ${describe(cause)}`;
  return new ProviderError('WRITE_FAILED', `${message}${suffix}`, context, { cause });
}

/** Serialises writes per target directory inside this process: each write sees and leaves a complete set. */
const targetLocks = new Map<string, Promise<void>>();

async function withTargetLock<T>(key: string, task: () => Promise<T>): Promise<T> {
  const previous = targetLocks.get(key) ?? Promise.resolve();
  let release: () => void = () => undefined;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  targetLocks.set(key, tail);
  try {
    await previous;
    return await task();
  } finally {
    release();
    // Only the last waiter removes the entry, so the map does not grow with every pod ever mounted.
    if (targetLocks.get(key) === tail) targetLocks.delete(key);
  }
}

type VisibleState = 'missing' | 'ours' | 'foreign-link';

interface TargetState {
  readonly currentDir: string | undefined;
  readonly visible: ReadonlyMap<string, VisibleState>;
  readonly staleLinks: readonly string[];
}

export class AtomicWriter {
  private readonly fs: FsOps;
  private readonly now: Clock['now'];
  private readonly logger: WriterLogger;

  constructor(options: AtomicWriterOptions = {}) {
    this.fs = options.fs ?? nodeFsOps;
    this.now = options.now ?? systemClock.now;
    this.logger = options.logger ?? silentLogger;
  }

  /** Returns `changed: false` without touching the disk when `targetDir` already holds exactly `files`. */
  async write(targetDir: string, files: readonly OutputFile[]): Promise<{ changed: boolean }> {
    // No size limit here: in this mode the files never travel in a gRPC message. Paths are checked again all the
    // same, because they become names on disk.
    const fileSet = buildFileSet(files, Number.POSITIVE_INFINITY);
    const target = resolvePath(targetDir);
    return withTargetLock(target, () => this.writeLocked(target, fileSet));
  }

  private path(target: string, name: string): string {
    return `${target}/${name}`;
  }

  private async writeLocked(target: string, files: readonly OutputFile[]): Promise<{ changed: boolean }> {
    await this.checkTargetDirectory(target);
    const names = topLevelNames(files);
    const state = await this.inspect(target, names);

    if (await this.isUpToDate(target, state, files)) {
      this.logger.debug({ targetDir: target, files: files.length }, 'target path already holds these files');
      return { changed: false };
    }

    const newDir = await this.createVersionDirectory(target);
    try {
      await this.writeFiles(this.path(target, newDir), files);
      await this.publish(target, newDir);
    } catch (err: unknown) {
      await this.discard(target, newDir);
      throw err;
    }

    await this.linkVisibleNames(target, names, state.visible);
    await this.prune(target, newDir, state.staleLinks);
    this.logger.debug({ targetDir: target, version: newDir, files: files.length }, 'wrote new file set');
    return { changed: true };
  }

  private async checkTargetDirectory(target: string): Promise<void> {
    const stats = await this.fs.lstat(target).catch((err: unknown) => {
      throw writeFailed(`cannot use target path ${target}`, err);
    });
    if (stats.isSymbolicLink()) {
      throw writeFailed(`target path ${target} is a symlink; refusing to write through it`);
    }
    if (!stats.isDirectory()) throw writeFailed(`target path ${target} is not a directory`);
  }

  private async lstatOrUndefined(path: string): Promise<FsStats | undefined> {
    try {
      return await this.fs.lstat(path);
    } catch (err: unknown) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw writeFailed(`cannot inspect ${path}`, err);
    }
  }

  private async readlinkOrUndefined(path: string): Promise<string | undefined> {
    try {
      return await this.fs.readlink(path);
    } catch (err: unknown) {
      const code = errnoCode(err);
      // Gone or replaced by a non-link since lstat: either way it is not a link of ours.
      if (code === 'ENOENT' || code === 'EINVAL') return undefined;
      throw writeFailed(`cannot read link ${path}`, err);
    }
  }

  private async inspect(target: string, names: readonly string[]): Promise<TargetState> {
    const dataPath = this.path(target, DATA_DIR_NAME);
    const dataStats = await this.lstatOrUndefined(dataPath);
    let currentDir: string | undefined;
    if (dataStats !== undefined) {
      if (!dataStats.isSymbolicLink()) {
        throw writeFailed(`${dataPath} exists and is not a symlink; refusing to replace it`);
      }
      const linked = await this.readlinkOrUndefined(dataPath);
      // Only a bare name of our own pattern counts; a `..data` pointing anywhere else is never read through.
      if (linked !== undefined && isTimestampDirName(linked)) {
        const dirStats = await this.lstatOrUndefined(this.path(target, linked));
        if (dirStats?.isDirectory() === true) currentDir = linked;
      }
    }

    const visible = new Map<string, VisibleState>();
    for (const name of names) {
      const path = this.path(target, name);
      const stats = await this.lstatOrUndefined(path);
      if (stats === undefined) {
        visible.set(name, 'missing');
      } else if (stats.isSymbolicLink()) {
        const linked = await this.readlinkOrUndefined(path);
        visible.set(name, linked === visibleLinkTarget(name) ? 'ours' : 'foreign-link');
      } else {
        const kind = stats.isDirectory() ? 'a directory' : stats.isFile() ? 'a regular file' : 'a special file';
        throw writeFailed(`${path} is ${kind} the provider did not create; refusing to replace it`);
      }
    }

    return { currentDir, visible, staleLinks: await this.findStaleLinks(target, new Set(names)) };
  }

  private async findStaleLinks(target: string, keep: ReadonlySet<string>): Promise<string[]> {
    const stale: string[] = [];
    for (const name of await this.readdir(target)) {
      if (name.startsWith('..') || keep.has(name)) continue;
      const stats = await this.lstatOrUndefined(this.path(target, name));
      if (stats?.isSymbolicLink() !== true) continue;
      const linked = await this.readlinkOrUndefined(this.path(target, name));
      if (linked === visibleLinkTarget(name)) stale.push(name);
    }
    return stale;
  }

  private async readdir(path: string): Promise<string[]> {
    try {
      return await this.fs.readdir(path);
    } catch (err: unknown) {
      throw writeFailed(`cannot list ${path}`, err);
    }
  }

  private async isUpToDate(target: string, state: TargetState, files: readonly OutputFile[]): Promise<boolean> {
    if (state.currentDir === undefined || state.staleLinks.length > 0) return false;
    if ([...state.visible.values()].some((visible) => visible !== 'ours')) return false;
    try {
      return await this.sameFiles(this.path(target, state.currentDir), files);
    } catch (err: unknown) {
      // An unreadable old version (a 0o000 file when not running as root, a race) is simply rewritten.
      this.logger.debug({ targetDir: target, reason: describe(err) }, 'cannot compare with current files');
      return false;
    }
  }

  private async sameFiles(dir: string, files: readonly OutputFile[]): Promise<boolean> {
    const onDisk = await this.listRegularFiles(dir, '');
    if (onDisk === undefined || onDisk.size !== files.length) return false;
    for (const file of files) {
      const stats = onDisk.get(file.path);
      if (stats === undefined || (stats.mode & 0o777) !== file.mode || stats.size !== file.contents.length) {
        return false;
      }
    }
    for (const file of files) {
      const handle = await this.fs.open(`${dir}/${file.path}`, OpenFlags.readNoFollow);
      try {
        if (!(await handle.readFile()).equals(file.contents)) return false;
      } finally {
        await handle.close();
      }
    }
    return true;
  }

  private async listRegularFiles(
    dir: string,
    prefix: string,
  ): Promise<Map<string, { mode: number; size: number }> | undefined> {
    const found = new Map<string, { mode: number; size: number }>();
    for (const name of await this.fs.readdir(dir)) {
      const relative = prefix === '' ? name : `${prefix}/${name}`;
      const stats = await this.fs.lstat(`${dir}/${name}`);
      if (stats.isDirectory()) {
        const inner = await this.listRegularFiles(`${dir}/${name}`, relative);
        if (inner === undefined) return undefined;
        for (const [path, info] of inner) found.set(path, info);
      } else if (stats.isFile()) {
        found.set(relative, { mode: stats.mode, size: stats.size });
      } else {
        return undefined;
      }
    }
    return found;
  }

  /** mkdir then fchmod through an O_NOFOLLOW handle, so the mode is exact whatever the umask. */
  private async makeDirectory(path: string): Promise<void> {
    await this.fs.mkdir(path, DIR_MODE);
    const handle = await this.fs.open(path, OpenFlags.directoryNoFollow);
    await this.closeAfter(handle, () => handle.chmod(DIR_MODE));
  }

  private async createVersionDirectory(target: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const name = timestampDirName(new Date(this.now()), randomInt(0, 1_000_000));
      try {
        await this.makeDirectory(this.path(target, name));
        return name;
      } catch (err: unknown) {
        if (errnoCode(err) === 'EEXIST' && attempt < MKDIR_ATTEMPTS) continue;
        if (errnoCode(err) !== 'EEXIST') await this.discard(target, name);
        throw writeFailed(`cannot create a version directory in ${target}`, err);
      }
    }
  }

  /** Runs `work` on an open handle and always closes it; a close failure counts only when `work` succeeded. */
  private async closeAfter(handle: FsFile, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err: unknown) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    await handle.close();
  }

  private async writeFiles(dir: string, files: readonly OutputFile[]): Promise<void> {
    const made = new Set<string>();
    const ordered = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const file of ordered) {
      try {
        // Made with its file's directory, a directory's own are made too: one look per file when they exist.
        const parents = made.has(parentOf(file.path)) ? [] : parentDirectories(file.path);
        for (const parent of parents) {
          if (made.has(parent)) continue;
          await this.makeDirectory(`${dir}/${parent}`);
          made.add(parent);
        }
        await this.writeFile(`${dir}/${file.path}`, file);
      } catch (err: unknown) {
        throw writeFailed(`cannot write ${file.path} into ${dir}`, err, { objectName: file.objectName });
      }
    }
  }

  private async writeFile(path: string, file: OutputFile): Promise<void> {
    const handle = await this.fs.open(path, OpenFlags.createExclusive, INITIAL_FILE_MODE);
    await this.closeAfter(handle, async () => {
      let offset = 0;
      while (offset < file.contents.length) {
        const { bytesWritten } = await handle.write(file.contents, offset, file.contents.length - offset);
        offset += bytesWritten;
      }
      await handle.chmod(file.mode);
    });
  }

  /** The atomic swap: a `..data_tmp` link to the new directory is renamed over `..data`. */
  private async publish(target: string, newDir: string): Promise<void> {
    const tmpPath = this.path(target, NEW_DATA_DIR_NAME);
    const leftover = await this.lstatOrUndefined(tmpPath);
    if (leftover !== undefined) {
      // Left by an interrupted write. unlink removes a link or file itself; a directory there is not ours.
      if (leftover.isDirectory()) throw writeFailed(`${tmpPath} is a directory; refusing to replace it`);
      await this.fs.unlink(tmpPath).catch((err: unknown) => {
        throw writeFailed(`cannot remove leftover ${tmpPath}`, err);
      });
    }
    try {
      await this.fs.symlink(newDir, tmpPath);
    } catch (err: unknown) {
      throw writeFailed(`cannot create ${tmpPath}`, err);
    }
    try {
      await this.fs.rename(tmpPath, this.path(target, DATA_DIR_NAME));
    } catch (err: unknown) {
      await this.fs.unlink(tmpPath).catch(() => undefined);
      throw writeFailed(`cannot publish the new version in ${target}`, err);
    }
  }

  private async discard(target: string, dirName: string): Promise<void> {
    try {
      await this.fs.removeTree(this.path(target, dirName));
    } catch (err: unknown) {
      this.logger.warn({ targetDir: target, version: dirName, reason: describe(err) }, 'cannot remove partial version');
    }
  }

  /** A fresh link renamed over the old entry replaces a planted symlink without following it. */
  private async linkVisibleNames(
    target: string,
    names: readonly string[],
    visible: ReadonlyMap<string, VisibleState>,
  ): Promise<void> {
    for (const name of names) {
      const state = visible.get(name);
      if (state === 'ours') continue;
      if (state === 'foreign-link') {
        this.logger.warn({ targetDir: target, name }, 'replacing a symlink the provider did not create');
      }
      const tmpPath = this.path(target, `${LINK_TMP_PREFIX}${randomBytes(8).toString('hex')}`);
      try {
        await this.fs.symlink(visibleLinkTarget(name), tmpPath);
        await this.fs.rename(tmpPath, this.path(target, name));
      } catch (err: unknown) {
        await this.fs.unlink(tmpPath).catch(() => undefined);
        // The new version is published; the next write sees the missing link and repairs it.
        throw writeFailed(`cannot link ${this.path(target, name)}`, err);
      }
    }
  }

  /** Removes stale visible links, older versions and leftovers. Failures only warn: the new set is complete. */
  private async prune(target: string, newDir: string, staleLinks: readonly string[]): Promise<void> {
    const removals: { name: string; remove: () => Promise<void> }[] = staleLinks.map((name) => ({
      name,
      remove: () => this.fs.unlink(this.path(target, name)),
    }));
    let entries: string[] = [];
    try {
      entries = await this.fs.readdir(target);
    } catch (err: unknown) {
      this.logger.warn({ targetDir: target, reason: describe(err) }, 'cannot list target path to prune it');
    }
    for (const name of entries) {
      if ((isTimestampDirName(name) && name !== newDir) || LINK_TMP_PATTERN.test(name)) {
        // removeTree unlinks a symlink found at `name` instead of following it.
        removals.push({ name, remove: () => this.fs.removeTree(this.path(target, name)) });
      }
    }
    for (const { name, remove } of removals) {
      try {
        await remove();
      } catch (err: unknown) {
        this.logger.warn({ targetDir: target, name, reason: describe(err) }, 'cannot remove stale entry');
      }
    }
  }
}
