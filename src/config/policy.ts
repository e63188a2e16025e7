/**
 * The trust boundary (docs/security.md): which values of the six parameters that reach past Vault onto the node
 * (`vaultAddress`, `vaultSkipTLSVerify`, the four TLS file paths) a mount may use, and at which auth mounts it may log
 * in while presenting the operator's client certificate. Pure: the caller resolves real paths and hands them in.
 */
import { isAbsolute, resolve, sep } from 'node:path';
import { ProviderError } from '../errors.js';
import { usesPodToken, type ConnectionSettings, type MountConfig, type ProviderDefaults } from './types.js';
import { quoted } from '../shared/message-text.js';
import { normaliseAuthMount } from './connection.js';

export const TLS_FILE_PARAMETERS = ['vaultCACertPath', 'vaultCADirectory', 'vaultTLSClientCertPath', 'vaultTLSClientKeyPath'] as const;
export type TlsFileParameter = (typeof TLS_FILE_PARAMETERS)[number];

export interface TrustPolicy {
  /** Normalised addresses a mount may name; the default address is always among them. */
  readonly vaultAddresses: 'any' | readonly string[];
  /** Absolute directories (lexically normalised) a mount's TLS file parameters may point into, subdirectories included. */
  readonly tlsDirectories: readonly string[];
  /** The operator's own TLS files (flags): a mount may name exactly these too. */
  readonly operatorTlsFiles: readonly string[];
  readonly allowSkipTlsVerify: boolean;
  /** Never readable through a parameter, even inside an allowed directory: the provider's own credentials. */
  readonly protectedPaths: readonly string[];
  /** Where a mount may log in while presenting the operator's client certificate (`--allowed-auth-mounts` + `--vault-mount`). */
  readonly authMounts: 'any' | readonly string[];
}

export interface TrustSettings {
  /** `--allowed-vault-addresses`, normalised (the default address is added by buildTrustPolicy); 'any' for `*`. */
  readonly vaultAddresses: 'any' | readonly string[];
  readonly tlsDirectories: readonly string[];
  readonly allowSkipTlsVerify: boolean;
  /** `--allowed-auth-mounts`, normalised (the default `--vault-mount` is added by buildTrustPolicy); absent: none. */
  readonly authMounts?: 'any' | readonly string[];
}

/** No trust flag given: only the provider's own Vault address, no TLS directory, no skip-verify, no other auth mount. */
export const NO_TRUST_FLAGS: TrustSettings = { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false, authMounts: [] };

/** The flags, plus the provider's own address, CA directory and TLS files, plus its own credentials as protected paths. */
export function buildTrustPolicy(settings: TrustSettings, defaults: ProviderDefaults, protectedPaths: readonly string[]): TrustPolicy {
  // `--vault-addr` may list the nodes of a cluster: each of them is the operator's own choice, so each is allowed.
  const own = defaults.vaultAddress.split(',').filter((a) => a !== '');
  const addresses = settings.vaultAddresses === 'any' ? 'any' : [...new Set([...own, ...settings.vaultAddresses])];
  const absolute = (p: string | undefined): p is string => p !== undefined && isAbsolute(p);
  const operatorDirs = [defaults.tls.caDirectory].filter(absolute).map((p) => resolve(p));
  const operatorFiles = [defaults.tls.caCertPath, defaults.tls.clientCertPath, defaults.tls.clientKeyPath].filter(absolute).map((p) => resolve(p));
  const authMounts = settings.authMounts ?? [];
  const ownMount = ownAuthMount(defaults.vaultMount);
  return {
    vaultAddresses: addresses,
    tlsDirectories: [...new Set([...settings.tlsDirectories.map((p) => resolve(p)), ...operatorDirs])],
    operatorTlsFiles: operatorFiles,
    allowSkipTlsVerify: settings.allowSkipTlsVerify,
    // A relative one is read from the working directory, so it is protected there.
    protectedPaths: protectedPaths.filter((p) => p !== '').map((p) => resolve(p)),
    authMounts: authMounts === 'any' ? 'any' : [...new Set([ownMount, ...authMounts])],
  };
}

/** `--vault-mount` as mounts are compared in; a value that is no auth mount path stays as given (no mount resolves to it). */
function ownAuthMount(vaultMount: string): string {
  try {
    return normaliseAuthMount(vaultMount, 'vault-mount');
  } catch {
    return vaultMount;
  }
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
  readonly requested: string;
  readonly normalised: string;
}

function notAllowed(parameter: string, message: string): ProviderError {
  return new ProviderError('PARAMETER_NOT_ALLOWED', message, { parameter });
}

export function isWithin(dir: string, path: string): boolean {
  if (path === dir) return true;
  const prefix = dir.endsWith(sep) ? dir : `${dir}${sep}`;
  return path.startsWith(prefix);
}

function listOf(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.join(', ');
}

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
 * Everything decidable without the filesystem. A path refused here is never touched, so the answer cannot tell a
 * user whether a file exists outside the allowed directories.
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
  checkAuthMounts(mount, connection, policy);
  return out;
}

/** More `auth`…`login` readings of one path than this: no secret path looks like that, so it is refused whole. */
const MAX_LOGIN_READINGS = 16;

/**
 * Every auth mount a request path would log in at (`[<ns>/]auth/<mount>/login`), read as Vault's server sees it:
 * decoded, `//`, `.` and `..` folded (Go's ServeMux redirects there). `undefined` past MAX_LOGIN_READINGS.
 */
export function loginMounts(requestPath: string): string[] | undefined {
  const segments: string[] = [];
  for (const raw of requestPath.replace(/^\/v1\//, '').split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      segment = raw;
    }
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const auths: number[] = [];
  const out: string[] = [];
  for (let j = 0; j < segments.length; j++) {
    const segment = segments[j]!.toLowerCase();
    if (segment === 'login') {
      for (const i of auths) {
        if (j < i + 2) continue;
        if (out.length === MAX_LOGIN_READINGS) return undefined;
        out.push(segments.slice(i + 1, j).join('/'));
      }
    }
    if (segment === 'auth') auths.push(j);
  }
  return out;
}

/**
 * The operator's identity is never lent (issue 19, class 6): Vault's cert auth logs in whoever presents a trusted
 * certificate, so while a connection presents one the pod did not bring, a mount (its login, or an object that is a
 * login) may log in only at an allowed auth mount. A cert login has a connection of its own (vault/client-pool.ts).
 */
export function checkAuthMounts(mount: MountConfig, connection: ConnectionSettings, policy: TrustPolicy): void {
  if (connection.tls.clientCertPath === undefined || policy.authMounts === 'any') return;
  const allowed = policy.authMounts;
  const presents =
    mount.tls.clientCertPath === undefined
      ? 'the provider\'s client certificate (--vault-tls-client-cert)'
      : `the client certificate of vaultTLSClientCertPath ${quoted(mount.tls.clientCertPath, 200)}`;
  const why = `this provider presents ${presents} on every request, and a cert auth method there would log the mount in as that certificate's owner (allowed: ${listOf(allowed)}; see --allowed-auth-mounts)`;
  // Named or not, the path a credential method logs in at by default is Vault's own for it (approle, userpass).
  const methodPath = usesPodToken(mount.auth) ? [] : [mount.auth.method];
  if (mount.authMountPath !== undefined && mount.auth.method !== 'cert' && ![...allowed, ...methodPath].includes(connection.authMount)) {
    const parameter = mount.authMountParameter ?? 'vaultAuthMountPath';
    throw notAllowed(parameter, `${parameter} ${quoted(connection.authMount, 200)} is not an auth mount this provider may log in at: ${why}`);
  }
  // The mount's own login path is allowed (it passed above, or it is the method's default): an object may read it too.
  const own = [...allowed, connection.authMount];
  for (const obj of mount.objects) {
    if (obj.requestPath === '') continue;
    const mounts = loginMounts(obj.requestPath);
    const refused = mounts === undefined ? '' : mounts.find((m) => !own.includes(m));
    if (refused === undefined) continue;
    const at = mounts === undefined ? 'many auth mounts' : `auth mount ${quoted(refused, 200)}`;
    throw notAllowed('secretPath', `secretPath is a login at ${at}, which is not one this provider may log in at: ${why}`).forObject(obj.objectName, obj.secretPath);
  }
}

export function addressAllowed(policy: TrustPolicy, address: string): boolean {
  return policy.vaultAddresses === 'any' || policy.vaultAddresses.includes(address);
}

/** A redirect carries the pod's JWT or a Vault token: only to an address this mount could have named itself. */
export function redirectAllowed(policy: TrustPolicy, connection: Pick<ConnectionSettings, 'addresses'>, target: string): boolean {
  return connection.addresses.includes(target) || addressAllowed(policy, target);
}

/** The same rules on the real path, which catches a symlink inside an allowed directory that leads out of it. */
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
