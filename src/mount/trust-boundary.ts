/**
 * The connection of a mount and the trust policy's file half: TLS paths are resolved to real paths and checked
 * again, and the connection carries the real paths, so the files read later are the files that were checked.
 */
import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, ProviderError } from '../errors.js';
import { resolveConnection, withKey } from '../config/connection.js';
import {
  checkMountParameters,
  checkRealPath,
  withRealTlsPaths,
  type ResolvedRoots,
  type TlsFileParameter,
  type TrustPolicy,
} from '../config/policy.js';
import type { ConnectionSettings, MountConfig, ProviderDefaults } from '../config/types.js';

/** The filesystem calls the boundary needs. Neither reads a file's contents. */
export interface PathResolver {
  realpath(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

export const nodePathResolver: PathResolver = {
  realpath: (path) => realpath(path),
  readdir: (path) => readdir(path),
};

export class TrustBoundary {
  readonly policy: TrustPolicy;
  readonly #defaults: ProviderDefaults;
  readonly #fs: PathResolver;

  constructor(policy: TrustPolicy, defaults: ProviderDefaults, fs: PathResolver = nodePathResolver) {
    this.policy = policy;
    this.#defaults = defaults;
    this.#fs = fs;
  }

  /** The connection this mount may use. Throws INVALID_CONFIG, PARAMETER_NOT_ALLOWED or LOCAL_FILE_ERROR. */
  async connection(mount: MountConfig): Promise<ConnectionSettings> {
    const connection = resolveConnection(mount, this.#defaults);
    const hasTlsFiles = [mount.tls.caCertPath, mount.tls.caDirectory, mount.tls.clientCertPath, mount.tls.clientKeyPath].some((p) => p !== undefined);
    // The common case: no TLS file named, nothing to resolve.
    const roots = hasTlsFiles ? await this.#roots() : { tlsDirectories: [], operatorTlsFiles: [], protectedPaths: [] };
    const requested = checkMountParameters(mount, connection, this.policy, roots);
    if (requested.length === 0) return connection;
    const real = new Map<TlsFileParameter, string>();
    for (const entry of requested) {
      const resolved = await this.#realpath(entry.normalised, entry.parameter, entry.requested);
      checkRealPath(entry, resolved, this.policy, roots);
      if (entry.parameter === 'vaultCADirectory') await this.#checkDirectoryEntries(entry, resolved, roots);
      real.set(entry.parameter, resolved);
    }
    return withKey({ ...connection, tls: withRealTlsPaths(connection, real) });
  }

  /** A symlink planted in an allowed CA directory must not lead elsewhere. */
  async #checkDirectoryEntries(entry: Parameters<typeof checkRealPath>[0], dir: string, roots: ResolvedRoots): Promise<void> {
    let names: string[];
    try {
      names = await this.#fs.readdir(dir);
    } catch (err: unknown) {
      throw localFileError(entry.parameter, entry.requested, err);
    }
    for (const name of names.filter((n) => !n.startsWith('.'))) {
      let resolved: string;
      try {
        resolved = await this.#fs.realpath(join(dir, name));
      } catch {
        // A dangling entry: the loader skips what it cannot stat, and nothing is read through it.
        continue;
      }
      checkRealPath(entry, resolved, this.policy, roots, `its entry ${JSON.stringify(name)}`);
    }
  }

  async #realpath(path: string, parameter: TlsFileParameter, requested: string): Promise<string> {
    try {
      return await this.#fs.realpath(path);
    } catch (err: unknown) {
      throw localFileError(parameter, requested, err);
    }
  }

  /** The real spelling of the policy's own paths (an allowed directory may itself be a symlink, e.g. a volume). */
  async #roots(): Promise<ResolvedRoots> {
    const real = async (paths: readonly string[]): Promise<string[]> => {
      const out = await Promise.all(paths.map((p) => this.#fs.realpath(p).catch(() => undefined)));
      return out.filter((p): p is string => p !== undefined);
    };
    const [tlsDirectories, operatorTlsFiles, protectedPaths] = await Promise.all([
      real(this.policy.tlsDirectories),
      real(this.policy.operatorTlsFiles),
      real(this.policy.protectedPaths),
    ]);
    return { tlsDirectories, operatorTlsFiles, protectedPaths };
  }
}

function localFileError(parameter: TlsFileParameter, path: string, err: unknown): ProviderError {
  return new ProviderError('LOCAL_FILE_ERROR', `cannot read ${parameter} ${JSON.stringify(path)} (${errnoCode(err) ?? 'error'})`, { parameter });
}
