/**
 * The filesystem operations the atomic writer needs, behind one small interface.
 *
 * The writer never touches node:fs directly so that tests (and fault-injection tests) can wrap `nodeFsOps` and make
 * any single call fail with ENOSPC or EIO, and so that every call that could follow a symlink is visible in one
 * place. The set is deliberately small: no `stat`, `chmod(path)`, `writeFile` or `readFile(path)`, because each of
 * those follows a symlink in the last path component; files and directories are opened with O_NOFOLLOW and then
 * changed through their handle instead.
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

/**
 * Open flags. O_NOFOLLOW makes open fail (ELOOP) when the last path component is a symlink, and O_EXCL makes it fail
 * when anything already exists there, so a file we create is always a new inode of our own.
 */
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

