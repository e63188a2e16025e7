/**
 * The socket path the driver dials, never missing or dead while instances replace each other (a `maxSurge` rollout).
 * Each instance listens on a private dotfile name beside it (libuv unlinks a listener's bound name on close, so an
 * old instance bound at the path would remove its successor's socket) and publishes it with a hard link renamed over
 * the path. A SocketGuard re-publishes when the path goes missing or dead; on SIGTERM an instance hands its path to
 * another live instance, or removes it (docs/operations.md#upgrading).
 */
import { connect } from 'node:net';
import { watch, type FSWatcher } from 'node:fs';
import { link, lstat, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoCode } from '../errors.js';

/** Only a refusal (or no socket file) means dead: a full backlog or a slow accept is a live listener under load. */
export function probeSocket(path: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    timer.unref();
    socket.once('connect', () => done(true));
    socket.once('error', (err: unknown) => {
      const code = errnoCode(err);
      done(!(code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ENOTSOCK'));
    });
  });
}

const ID_LENGTH = 16;
const HEX_ID = /^[0-9a-f]{16}$/;

/** This instance's listening name for `endpoint`: a dotfile beside it, unique per process. */
export function privateSocketPath(endpoint: string, id: string = randomBytes(ID_LENGTH / 2).toString('hex')): string {
  return join(dirname(endpoint), `.${basename(endpoint)}.${id}`);
}

/** The private names (and leftover temporary links) of instances serving `endpoint`, by what they are. */
function siblingNames(endpoint: string, names: readonly string[]): { readonly sockets: string[]; readonly links: string[] } {
  const prefix = `.${basename(endpoint)}.`;
  const idAt = (name: string, suffix: string): boolean =>
    name.length === prefix.length + ID_LENGTH + suffix.length &&
    name.startsWith(prefix) &&
    name.endsWith(suffix) &&
    HEX_ID.test(name.slice(prefix.length, prefix.length + ID_LENGTH));
  return { sockets: names.filter((n) => idAt(n, '')), links: names.filter((n) => idAt(n, '.link')) };
}

/** Removes private sockets nobody answers on (grpc-js leaves them after a SIGKILL) and temporary links. */
export async function prepareSocketDir(endpoint: string, own?: string): Promise<void> {
  const dir = dirname(endpoint);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const { sockets, links } = siblingNames(endpoint, await readdir(dir));
  for (const name of sockets) {
    const path = join(dir, name);
    if (path === own) continue;
    if (!(await probeSocket(path))) await unlinkIfPresent(path);
  }
  for (const name of links) {
    const path = join(dir, name);
    if (own !== undefined && path === `${own}.link`) continue;
    // A link lives between two calls of one publish; one found here was left by a crash in between.
    if (!(await probeSocket(path.slice(0, -'.link'.length)))) await unlinkIfPresent(path);
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err: unknown) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

export type Takeover = 'none' | 'stale-socket-replaced' | 'live-socket-taken-over' | 'file-replaced';

/** Link to a temporary name, rename that over the path; a directory there is refused, a symlink itself replaced. */
export async function publishSocket(endpoint: string, privatePath: string): Promise<Takeover> {
  let before: Takeover = 'none';
  try {
    const stats = await lstat(endpoint);
    if (stats.isDirectory()) throw new Error(`${endpoint} is a directory, not a socket`);
    before = !stats.isSocket() ? 'file-replaced' : (await probeSocket(endpoint)) ? 'live-socket-taken-over' : 'stale-socket-replaced';
  } catch (err: unknown) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  await swapInto(endpoint, privatePath, `${privatePath}.link`);
  return before;
}

/** link(source, tmp) then rename(tmp, endpoint): the path goes from its old file to `source` in one step. */
async function swapInto(endpoint: string, source: string, tmp: string): Promise<void> {
  await unlinkIfPresent(tmp);
  await link(source, tmp);
  try {
    await rename(tmp, endpoint);
  } catch (err: unknown) {
    await unlinkIfPresent(tmp);
    throw err;
  }
}

/** By device and inode: exact while the private name holds the inode, which cannot be reused meanwhile. */
export interface SocketIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

function identityOf(stats: BigIntStats): SocketIdentity {
  return { dev: stats.dev, ino: stats.ino };
}

function sameFile(a: SocketIdentity, b: SocketIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

export async function socketIdentity(path: string): Promise<SocketIdentity> {
  return identityOf(await lstat(path, { bigint: true }));
}

export type PathHolder = 'own' | 'none' | 'live-socket' | 'dead-socket' | 'file' | 'directory';

export async function pathHolder(endpoint: string, own: SocketIdentity): Promise<PathHolder> {
  let stats: BigIntStats;
  try {
    stats = await lstat(endpoint, { bigint: true });
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') return 'none';
    throw err;
  }
  if (stats.isDirectory()) return 'directory';
  if (!stats.isSocket()) return 'file';
  if (sameFile(identityOf(stats), own)) return 'own';
  return (await probeSocket(endpoint)) ? 'live-socket' : 'dead-socket';
}

export type Release = 'removed' | 'handed-to-sibling' | 'already-gone' | 'left-to-successor';

/**
 * Before the listener closes. Not its own: left to the successor. Its own: handed to another live instance, else
 * removed. Check and change are two calls; a successor losing the path in between re-publishes from its guard.
 */
export async function releaseSocket(endpoint: string, own: SocketIdentity | undefined, privatePath?: string): Promise<Release> {
  if (own === undefined) return 'left-to-successor';
  const holder = await pathHolder(endpoint, own);
  if (holder === 'none') return 'already-gone';
  if (holder !== 'own') return 'left-to-successor';
  if (privatePath !== undefined) {
    const dir = dirname(endpoint);
    const { sockets } = siblingNames(endpoint, await readdir(dir).catch(() => []));
    for (const name of sockets) {
      const sibling = join(dir, name);
      if (sibling === privatePath || !(await probeSocket(sibling))) continue;
      try {
        await swapInto(endpoint, sibling, `${privatePath}.link`);
        return 'handed-to-sibling';
      } catch {
        // Not ours to link (another owner under fs.protected_hardlinks), or gone meanwhile: try the next, then remove.
      }
    }
  }
  try {
    await unlink(endpoint);
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') return 'already-gone';
    throw err;
  }
  return 'removed';
}

export interface SocketGuardOptions {
  readonly endpoint: string;
  readonly privatePath: string;
  readonly own: SocketIdentity;
  /** Poll interval while another live instance holds the path or the directory cannot be watched (2 s). */
  readonly intervalMs?: number;
  readonly onRestored?: (found: PathHolder) => void;
  readonly onError?: (err: unknown) => void;
}

/**
 * Re-publishes on a missing path, a dead socket or a plain file, on every directory change (inotify). A timer runs
 * only while another live instance holds the path (its SIGKILL leaves no trace in the directory) or when the
 * directory cannot be watched.
 */
export class SocketGuard {
  readonly #options: SocketGuardOptions;
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: SocketGuardOptions) {
    this.#options = options;
  }

  start(): void {
    try {
      this.#watcher = watch(dirname(this.#options.endpoint), { persistent: false }, () => void this.check());
      this.#watcher.on('error', () => {
        this.#watcher?.close();
        this.#watcher = undefined;
        this.#poll(true);
      });
    } catch {
      // No inotify (limits, an odd filesystem): the timer alone.
      this.#poll(true);
    }
  }

  /** Whether the guard's timer is armed (tests): only while it cannot count on the directory's events alone. */
  get polling(): boolean {
    return this.#timer !== undefined;
  }

  #poll(on: boolean): void {
    if (on && this.#timer === undefined && !this.#stopped) {
      this.#timer = setInterval(() => void this.check(), this.#options.intervalMs ?? 2_000);
      this.#timer.unref();
    } else if (!on && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  check(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#once()
      .catch((err: unknown) => this.#options.onError?.(err))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          void this.check();
        }
      });
    return this.#running;
  }

  async #once(): Promise<void> {
    const { endpoint, own, privatePath } = this.#options;
    const holder = await pathHolder(endpoint, own);
    if (this.#stopped) return;
    this.#poll(holder === 'live-socket' || this.#watcher === undefined);
    if (holder === 'own' || holder === 'live-socket' || holder === 'directory') return;
    await swapInto(endpoint, privatePath, `${privatePath}.link`);
    this.#options.onRestored?.(holder);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#poll(false);
    this.#watcher?.close();
    await this.#running;
  }
}
