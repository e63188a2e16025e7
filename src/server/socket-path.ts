/**
 * The Unix socket path the driver dials, held so that instances replace each other with no moment when the path is
 * missing or dead: a rollout with `maxSurge` starts the new pod while the old one still serves.
 *
 * Each instance listens on a private name beside the path (`.vault.sock.<16 hex>`) and publishes it by hard-linking
 * that socket to a temporary name and renaming the link over the path: rename(2) replaces the path atomically, so
 * the driver finds a socket there at every instant, the old one or the new one. Connections already open stay with
 * the instance they reached; the old instance's GOAWAY on SIGTERM sends the driver to the path again, and so to the
 * new one. (The driver looks only at `<dir>/<provider>.sock`; the private names are dotfiles it never dials.)
 *
 * Why a private name: libuv unlinks a pipe's bound name when it closes the listener. Bound at the path itself, an
 * old instance would, on exit, remove the socket of the instance that replaced it; bound at its private name, it
 * removes only that. (An instance of a version before this one, or the reference, still binds at the path and does
 * remove it on exit: the guard below restores the path at once.)
 *
 * While it serves, an instance guards the path (SocketGuard): when the path is gone, or holds a socket nobody
 * answers on, it publishes its own again. On SIGTERM it gives up the path before it stops listening: if the path is
 * still its own, it hands it to another live instance's socket when there is one (a second instance started by
 * mistake, which therefore never leaves the node without a socket), else removes it. A path that is not its own
 * (the successor's) is left as it is.
 */
import { connect } from 'node:net';
import { watch, type FSWatcher } from 'node:fs';
import { link, lstat, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoCode } from '../errors.js';

/**
 * Resolves true when something accepts a connection on the socket. Only a refusal (or no socket file) means dead: a
 * full backlog (EAGAIN) or a slow accept is a live listener under load, never one to replace.
 */
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

/**
 * Creates the socket's directory and removes what dead instances of this endpoint left in it: private sockets
 * nobody answers on (a SIGKILL leaves them, as grpc-js does not clean up) and temporary links.
 */
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

/** What was at the path when an instance published its socket there. */
export type Takeover = 'none' | 'stale-socket-replaced' | 'live-socket-taken-over' | 'file-replaced';

/**
 * Puts the socket listening at `privatePath` at `endpoint`, atomically: link it to a temporary name, rename that over
 * the path. A directory at the path is refused; anything else there is replaced (a symlink itself, never its target).
 */
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

/**
 * The socket file an instance listens on, by device and inode. It stays exact for as long as the instance holds its
 * private name (until its listener closes): a linked inode cannot be reused for another file.
 */
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

/** Who holds the path now, as seen by the instance whose socket is `own`. */
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
 * Gives up the path before this instance stops listening (its private name must still exist). Not its own: left
 * alone (the successor's). Its own: handed to another live instance of the endpoint when there is one (rename, so
 * the path never goes missing), else removed. The check and the change are two calls: a successor publishing in
 * between could lose the path, and then its guard publishes again at once (it watches the directory).
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
  /**
   * How often the path is checked while another live instance holds it, or when the directory cannot be watched
   * (default 2 s).
   */
  readonly intervalMs?: number;
  /** Told when the guard put this instance's socket back at the path, and what it found there. */
  readonly onRestored?: (found: PathHolder) => void;
  readonly onError?: (err: unknown) => void;
}

/**
 * Keeps the path served while this instance serves: a missing path, a dead socket or a plain file there gets this
 * instance's socket again; another live instance's socket is left alone (it took over; this one is about to be
 * stopped, or is the spare). Checks on every change in the directory (inotify, at once). A timer runs only while
 * another instance holds the path (its death by SIGKILL leaves no trace in the directory) or when the directory
 * cannot be watched: while the path is this instance's own, any change to it is a directory event, and an idle
 * provider wakes for nothing.
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

  /** One check now (checks never overlap: one asked for during a check runs after it). */
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

  /** Stops guarding; resolves once a check under way has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#poll(false);
    this.#watcher?.close();
    await this.#running;
  }
}
