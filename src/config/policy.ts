/**
 * The trust boundary between namespace users and the provider's own files and network (DESIGN.md §5, SECURITY.md).
 *
 * The driver merges a pod's volumeAttributes over its SecretProviderClass's parameters, so everything a mount asks
 * for is chosen by a namespace user. Most parameters only shape what is read from Vault, and Vault's own policy
 * decides whether that is allowed. Six reach past Vault onto the node: `vaultAddress` (where the pod's JWT is sent),
 * `vaultSkipTLSVerify` (whether that endpoint must prove who it is), and four file paths the provider opens with its
 * own privileges (`vaultCACertPath`, `vaultCADirectory`, `vaultTLSClientCertPath`, `vaultTLSClientKeyPath`). This
 * module decides, from operator flags, which values of those a mount may use.
 *
 * Pure: no filesystem access here. The caller resolves real paths (symlinks and `..`) and hands them in, so the same
 * rules apply to the spelling a mount used and to the file it would really open. Only values the mount itself set
 * are judged; the operator's own flags are trusted as they are.
 */
import { isAbsolute, resolve, sep } from 'node:path';
import { ProviderError } from '../errors.js';
import type { ConnectionSettings, MountConfig, ProviderDefaults } from './types.js';
import { quoted } from '../shared/message-text.js';

export const TLS_FILE_PARAMETERS = ['vaultCACertPath', 'vaultCADirectory', 'vaultTLSClientCertPath', 'vaultTLSClientKeyPath'] as const;
export type TlsFileParameter = (typeof TLS_FILE_PARAMETERS)[number];

export interface TrustPolicy {
  /**
   * Normalised Vault addresses (see normaliseVaultAddress) a mount may name in `vaultAddress`; the provider's default
   * address is always among them. 'any' only when the operator allowed it (`--allowed-vault-addresses=*`).
   */
  readonly vaultAddresses: 'any' | readonly string[];
  /** Absolute directories (lexically normalised) a mount's TLS file parameters may point into, subdirectories included. */
  readonly tlsDirectories: readonly string[];
  /** The operator's own TLS files (flags): a mount may name exactly these too. */
  readonly operatorTlsFiles: readonly string[];
  /** Whether a mount may turn off verification of Vault's certificate. */
  readonly allowSkipTlsVerify: boolean;
  /** Never readable through a parameter, even inside an allowed directory: the provider's own credentials. */
  readonly protectedPaths: readonly string[];
}

/** What the operator said on the command line (see cli/flags.ts). */
export interface TrustSettings {
  /** `--allowed-vault-addresses`, normalised (the default address is added by buildTrustPolicy); 'any' for `*`. */
  readonly vaultAddresses: 'any' | readonly string[];
  /** `--allowed-tls-directories`: absolute, normalised. */
  readonly tlsDirectories: readonly string[];
  /** `--allow-skip-tls-verify`. */
  readonly allowSkipTlsVerify: boolean;
}

/** No trust flag given: only the provider's own Vault address, no TLS directory, no skip-verify. */
export const NO_TRUST_FLAGS: TrustSettings = { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false };

/**
 * The policy for a provider: the flags, plus what the operator configured for the provider itself (its default
 * address is always allowed, its CA directory may be named, its own TLS files may be named exactly), plus the
 * provider's own credentials as protected paths.
 */
export function buildTrustPolicy(settings: TrustSettings, defaults: ProviderDefaults, protectedPaths: readonly string[]): TrustPolicy {
  // `--vault-addr` may list the nodes of a cluster: each of them is the operator's own choice, so each is allowed.
  const own = defaults.vaultAddress.split(',').filter((a) => a !== '');
  const addresses = settings.vaultAddresses === 'any' ? 'any' : [...new Set([...own, ...settings.vaultAddresses])];
  const absolute = (p: string | undefined): p is string => p !== undefined && isAbsolute(p);
  const operatorDirs = [defaults.tls.caDirectory].filter(absolute).map((p) => resolve(p));
  const operatorFiles = [defaults.tls.caCertPath, defaults.tls.clientCertPath, defaults.tls.clientKeyPath].filter(absolute).map((p) => resolve(p));
  return {
    vaultAddresses: addresses,
    tlsDirectories: [...new Set([...settings.tlsDirectories.map((p) => resolve(p)), ...operatorDirs])],
    operatorTlsFiles: operatorFiles,
    allowSkipTlsVerify: settings.allowSkipTlsVerify,
    // A relative one (--hmac-key-file=key) is read from the working directory, so it is protected there: dropping it
    // would leave the file readable through a parameter.
    protectedPaths: protectedPaths.filter((p) => p !== '').map((p) => resolve(p)),
  };
}

/** The policy's directories and files as they really are on disk: each entry's lexical and real spelling. */
export interface ResolvedRoots {
  readonly tlsDirectories: readonly string[];
  readonly operatorTlsFiles: readonly string[];
  readonly protectedPaths: readonly string[];
}

/** A TLS file path a mount asked for, normalised (absolute, `.` and `..` folded), still to be resolved on disk. */
export interface RequestedPath {
  readonly parameter: TlsFileParameter;
  /** As the mount wrote it, for messages. */
  readonly requested: string;
  readonly normalised: string;
}

function notAllowed(parameter: string, message: string): ProviderError {
  return new ProviderError('PARAMETER_NOT_ALLOWED', message, { parameter });
}

/** `path` is `dir` or lies below it. Both absolute and normalised. */
export function isWithin(dir: string, path: string): boolean {
  if (path === dir) return true;
  const prefix = dir.endsWith(sep) ? dir : `${dir}${sep}`;
  return path.startsWith(prefix);
}

function listOf(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.join(', ');
}

/** The TLS file paths the mount itself set (SecretProviderClass parameters or pod volumeAttributes). */
export function requestedTlsPaths(mount: MountConfig): Array<{ parameter: TlsFileParameter; path: string }> {
  const out: Array<{ parameter: TlsFileParameter; path: string }> = [];
  const add = (parameter: TlsFileParameter, path: string | undefined): void => {
    if (path !== undefined) out.push({ parameter, path });
  };
  add('vaultCACertPath', mount.tls.caCertPath);
  add('vaultCADirectory', mount.tls.caDirectory);
  add('vaultTLSClientCertPath', mount.tls.clientCertPath);
  add('vaultTLSClientKeyPath', mount.tls.clientKeyPath);
  return out;
}

function isProtected(path: string, roots: readonly string[]): boolean {
  return roots.some((p) => isWithin(p, path));
}

function permitted(path: string, parameter: TlsFileParameter, dirs: readonly string[], operatorFiles: readonly string[]): boolean {
  if (dirs.some((d) => isWithin(d, path))) return true;
  // An operator file may be named exactly; an operator CA directory is in tlsDirectories already.
  return parameter !== 'vaultCADirectory' && operatorFiles.includes(path);
}

/**
 * Everything decidable without the filesystem: the address, skip-verify, and each TLS path as spelt. Throws
 * PARAMETER_NOT_ALLOWED naming the parameter (INVALID_CONFIG for a path that is not a usable path at all). Returns the
 * TLS paths that passed, to be resolved on disk and checked again with `checkRealPath`. A path refused here is never
 * touched, so the answer cannot tell a user whether a file exists outside the allowed directories.
 */
export function checkMountParameters(mount: MountConfig, connection: ConnectionSettings, policy: TrustPolicy, roots: ResolvedRoots): RequestedPath[] {
  // Every address of a list: a mount moves on to the next one when the first fails, carrying the pod's JWT there.
  const refused = mount.vaultAddress === undefined ? undefined : connection.addresses.find((a) => !addressAllowed(policy, a));
  if (refused !== undefined && policy.vaultAddresses !== 'any') {
    throw notAllowed(
      'vaultAddress',
      `vaultAddress ${quoted(refused, 200)} is not one of the Vault addresses this provider may send ServiceAccount tokens to (--allowed-vault-addresses: ${listOf(policy.vaultAddresses)})`,
    );
  }
  if (mount.tls.skipVerify === true && !policy.allowSkipTlsVerify) {
    throw notAllowed('vaultSkipTLSVerify', 'vaultSkipTLSVerify=true is not allowed on this node: the provider runs without --allow-skip-tls-verify');
  }
  const dirs = [...policy.tlsDirectories, ...roots.tlsDirectories];
  const operatorFiles = [...policy.operatorTlsFiles, ...roots.operatorTlsFiles];
  const protectedPaths = [...policy.protectedPaths, ...roots.protectedPaths];
  const out: RequestedPath[] = [];
  for (const { parameter, path } of requestedTlsPaths(mount)) {
    if (path.includes('\0')) throw new ProviderError('INVALID_CONFIG', `${parameter} contains a NUL byte`, { parameter });
    // The value is not quoted: whatever a manifest put in a parameter stays out of messages (the fuzzers plant one).
    if (!isAbsolute(path)) throw new ProviderError('INVALID_CONFIG', `${parameter} must be an absolute path`, { parameter });
    const normalised = resolve(path);
    if (isProtected(normalised, protectedPaths)) {
      throw notAllowed(parameter, `${parameter} ${quoted(path, 200)} is inside the provider's own credentials, which no mount may read`);
    }
    if (!permitted(normalised, parameter, dirs, operatorFiles)) {
      throw notAllowed(
        parameter,
        `${parameter} ${quoted(path, 200)} is outside the directories this provider may read TLS files from (allowed: ${listOf(policy.tlsDirectories)}; see --allowed-tls-directories)`,
      );
    }
    out.push({ parameter, requested: path, normalised });
  }
  return out;
}

/** Whether the policy lets a ServiceAccount token or a Vault token go to `address` (normalised). */
export function addressAllowed(policy: TrustPolicy, address: string): boolean {
  return policy.vaultAddresses === 'any' || policy.vaultAddresses.includes(address);
}

/**
 * Whether a redirect from one of `connection`'s addresses may be followed to `target` (the normalised Vault address
 * the Location names: its origin and any path before `/v1/`). The request carries the pod's JWT or a Vault token, so
 * the target must be an address this mount could have named itself: one of its own, or one the policy allows.
 */
export function redirectAllowed(policy: TrustPolicy, connection: Pick<ConnectionSettings, 'addresses'>, target: string): boolean {
  return connection.addresses.includes(target) || addressAllowed(policy, target);
}

/**
 * The same rules on the path the provider would really open (every symlink and `..` resolved), which catches a
 * symlink inside an allowed directory that leads out of it. `what` names the file in messages when it differs from
 * the parameter's own path (an entry of a CA directory).
 */
export function checkRealPath(requested: RequestedPath, realPath: string, policy: TrustPolicy, roots: ResolvedRoots, what?: string): void {
  const subject = what === undefined ? `${requested.parameter} ${quoted(requested.requested, 200)}` : `${requested.parameter} ${quoted(requested.requested, 200)}: ${what}`;
  const protectedPaths = [...policy.protectedPaths, ...roots.protectedPaths];
  if (isProtected(realPath, protectedPaths)) {
    throw notAllowed(requested.parameter, `${subject} leads into the provider's own credentials, which no mount may read`);
  }
  const dirs = [...policy.tlsDirectories, ...roots.tlsDirectories];
  const operatorFiles = [...policy.operatorTlsFiles, ...roots.operatorTlsFiles];
  // A CA directory's entries are files: they may be operator files too.
  const parameter = what === undefined ? requested.parameter : 'vaultCACertPath';
  if (!permitted(realPath, parameter, dirs, operatorFiles)) {
    throw notAllowed(
      requested.parameter,
      `${subject} leads outside the directories this provider may read TLS files from (allowed: ${listOf(policy.tlsDirectories)}; see --allowed-tls-directories)`,
    );
  }
}

/** The connection with the mount's TLS paths replaced by the real paths that were checked. */
export function withRealTlsPaths(connection: ConnectionSettings, real: ReadonlyMap<TlsFileParameter, string>): ConnectionSettings['tls'] {
  const pick = (parameter: TlsFileParameter, current: string | undefined): string | undefined => real.get(parameter) ?? current;
  return {
    ...connection.tls,
    caCertPath: pick('vaultCACertPath', connection.tls.caCertPath),
    caDirectory: pick('vaultCADirectory', connection.tls.caDirectory),
    clientCertPath: pick('vaultTLSClientCertPath', connection.tls.clientCertPath),
    clientKeyPath: pick('vaultTLSClientKeyPath', connection.tls.clientKeyPath),
  };
}
