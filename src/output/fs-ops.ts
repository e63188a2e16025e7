/**
 * The writer's filesystem calls, behind one interface so tests can fail any of them. No call that follows a symlink
 * in the last component (`stat`, `chmod(path)`, `writeFile`): open with O_NOFOLLOW, then change through the handle.
 */
import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';

/** An open file or directory. Changes go through the handle (fchmod, write), never through a path. */
export interface FsFile {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  readFile(): Promise<Buffer>;
  /** fchmod: sets the mode exactly, unaffected by the umask. */
  chmod(mode: number): Promise<void>;
  close(): Promise<void>;
}

/** The part of fs.Stats the writer reads. Always from lstat: the entry itself, never what a symlink points to. */
export interface FsStats {
  readonly mode: number;
  readonly size: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export interface FsOps {
  lstat(path: string): Promise<FsStats>;
  readlink(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  /** Creates one directory (not recursive); fails with EEXIST when anything, a symlink included, is at the path. */
  mkdir(path: string, mode: number): Promise<void>;
  open(path: string, flags: number, mode?: number): Promise<FsFile>;
  symlink(target: string, path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Removes one non-directory entry; for a symlink, the link itself. */
  unlink(path: string): Promise<void>;
  /** Removes a tree; symlinks inside it are unlinked, not followed. Missing paths are not an error. */
  removeTree(path: string): Promise<void>;
}

/** O_NOFOLLOW|O_EXCL: a file we create is always a new inode of our own. */
export const OpenFlags = {
  createExclusive: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
  readNoFollow: constants.O_RDONLY | constants.O_NOFOLLOW,
  directoryNoFollow: constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
} as const;

function wrapHandle(handle: fsp.FileHandle): FsFile {
  return {
    write: (buffer, offset, length) => handle.write(buffer, offset, length),
    readFile: () => handle.readFile(),
    chmod: (mode) => handle.chmod(mode),
    close: () => handle.close(),
  };
}

/** The real implementation over node:fs/promises. A plain object so tests can spread it and override one call. */
export const nodeFsOps: FsOps = {
  lstat: (path) => fsp.lstat(path),
  readlink: (path) => fsp.readlink(path),
  readdir: (path) => fsp.readdir(path),
  mkdir: async (path, mode) => {
    await fsp.mkdir(path, { mode });
  },
  open: async (path, flags, mode) => wrapHandle(await fsp.open(path, flags, mode)),
  symlink: (target, path) => fsp.symlink(target, path),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  removeTree: (path) => fsp.rm(path, { recursive: true, force: true }),
};

