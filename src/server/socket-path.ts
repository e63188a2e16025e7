/**
 * The Unix socket path: preparing it (create its directory, deal with whatever is already there) and giving it up.
 * A socket that answers belongs to a live provider (a second instance must not steal it); one that refuses
 * connections was left by a crash (grpc-js does not remove it) and is replaced.
 *
 * A rolling update starts the new pod while the old one drains. The old one stops listening first (closing the
 * listener removes the path at once: libuv unlinks a pipe's path as it closes it), so the new one finds the path
 * free and binds; when the old one exits it removes the path only if it still holds the socket it created (same
 * device, inode and creation time), never the new instance's.
 */
import { connect } from 'node:net';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { dirname } from 'node:path';
import { errnoCode } from '../errors.js';

export class SocketInUseError extends Error {
  override readonly name = 'SocketInUseError';
  constructor(readonly path: string) {
    super(`another process is serving on ${path}; refusing to replace a live socket`);
  }
}

/** Resolves true when something accepts a connection on the socket. */
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
    socket.once('error', () => done(false));
  });
}

export type ExistingPath = 'none' | 'stale-socket-removed' | 'file-removed';

export async function prepareSocketPath(path: string): Promise<ExistingPath> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  let stats;
  try {
    stats = await lstat(path);
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') return 'none';
    throw err;
  }
  if (stats.isSocket()) {
    if (await probeSocket(path)) throw new SocketInUseError(path);
    await unlink(path);
    return 'stale-socket-removed';
  }
  if (stats.isDirectory()) throw new Error(`${path} is a directory, not a socket`);
  // The reference removes whatever file is in the way; so do we (a symlink is removed, not followed).
  await unlink(path);
  return 'file-removed';
}

/**
 * Which file a socket path held when this instance bound it: device and inode, and the creation and change times
 * in nanoseconds, because a filesystem may give a new file the inode number of one just removed (tmpfs does, at
 * once) — exactly what happens when the successor binds right after this instance's listener freed the path.
 */
export interface SocketIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly birthtimeNs: bigint;
  readonly ctimeNs: bigint;
}

function identityOf(stats: BigIntStats): SocketIdentity {
  return { dev: stats.dev, ino: stats.ino, birthtimeNs: stats.birthtimeNs, ctimeNs: stats.ctimeNs };
}

function sameFile(a: SocketIdentity, b: SocketIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.birthtimeNs === b.birthtimeNs && a.ctimeNs === b.ctimeNs;
}

/** Call after the socket's mode is set: a change of mode changes its ctime. */
export async function socketIdentity(path: string): Promise<SocketIdentity> {
  return identityOf(await lstat(path, { bigint: true }));
}

export type Release = 'removed' | 'already-gone' | 'left-to-successor';

/**
 * Removes the socket at `path` if it is still the one `own` names (a file whose mode or owner someone changed since
 * counts as another: left behind, it is replaced as a stale socket by the next start). Anything else there (a new instance's socket,
 * bound after this one stopped listening) is left alone. The check and the unlink are two calls, so a successor
 * binding in between could still lose its path; by then this instance's listener has long been closed, which already
 * freed the path, so in practice the unlink only ever meets this instance's own leftover.
 */
export async function releaseSocket(path: string, own: SocketIdentity | undefined): Promise<Release> {
  let stats: BigIntStats;
  try {
    stats = await lstat(path, { bigint: true });
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') return 'already-gone';
    throw err;
  }
  if (own === undefined || !stats.isSocket() || !sameFile(identityOf(stats), own)) return 'left-to-successor';
  try {
    await unlink(path);
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') return 'already-gone';
    throw err;
  }
  return 'removed';
}
