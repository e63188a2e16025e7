/**
 * Preparing the Unix socket path: create its directory, and deal with whatever is already there. A socket that
 * answers belongs to a live provider (a second instance must not steal it); one that refuses connections was left
 * by a crash (grpc-js does not remove it) and is replaced.
 */
import { connect } from 'node:net';
import { lstat, mkdir, unlink } from 'node:fs/promises';
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
