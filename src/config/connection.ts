/**
 * Where one mount talks to Vault, decided in one place: the provider defaults (flags over environment) overlaid by
 * what the SecretProviderClass sets (resolveConnection), then the operator's trust policy on every parameter that
 * reaches the provider's own files or network, then the TLS paths resolved on disk and checked again
 * (TrustBoundary.connection). The result's `key` decides which mounts share a Vault client and its caches.
 */
import { isAbsolute, join, resolve, sep } from 'node:path';
import { errnoCode, ProviderError } from '../errors.js';
import { usesPodToken, type ConnectionSettings, type MountConfig, type ProviderDefaults, type TlsParameters } from './types.js';
import { quoted } from '../shared/message-text.js';

function invalid(parameter: string, message: string): ProviderError {
  return new ProviderError('INVALID_CONFIG', message, { parameter });
}

/** Canonical spelling, so equal addresses give equal keys; user info is refused (it would reach logs and keys). */
export function normaliseVaultAddress(raw: string, parameter: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(parameter, `${parameter} must be an http:// or https:// URL such as "https://vault.vault.svc:8200"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(parameter, `${parameter} must use http:// or https://, not ${url.protocol}//`);
  }
  if (url.hostname === '') throw invalid(parameter, `${parameter} has no host`);
  if (url.username !== '' || url.password !== '') {
    throw invalid(parameter, `${parameter} must not contain a user name or password`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw invalid(parameter, `${parameter} must not have a query or fragment`);
  }
  const path = trimTrailingSlashes(url.pathname);
  return `${url.protocol}//${url.host}${path}`;
}

/** More addresses than any HA cluster has nodes: a longer list is a mistake, and each one costs a failed attempt. */
export const MAX_VAULT_ADDRESSES = 8;

/** vault-csi-provider#164 (an HA cluster without a load balancer): the first is preferred, the others tried in turn. */
export function normaliseVaultAddresses(raw: string, parameter: string): readonly string[] {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.every((p) => p === '')) throw invalid(parameter, `${parameter} is empty`);
  if (parts.some((p) => p === '')) throw invalid(parameter, `${parameter} has an empty entry in its comma-separated list`);
  const out = [...new Set(parts.map((p) => normaliseVaultAddress(p, parameter)))];
  if (out.length > MAX_VAULT_ADDRESSES) throw invalid(parameter, `${parameter} lists ${out.length} addresses; at most ${MAX_VAULT_ADDRESSES} are allowed`);
  return out;
}

// A segment of a Vault auth mount path: the characters Vault mount paths use.
const MOUNT_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** `path` (no leading or trailing '/') is a Vault auth mount path: segments of MOUNT_SEGMENT, none '.' or '..'. */
export function isAuthMountPath(path: string): boolean {
  return path !== '' && path.split('/').every((s) => MOUNT_SEGMENT.test(s) && s !== '.' && s !== '..');
}

export function normaliseAuthMount(raw: string, parameter: string): string {
  const trimmed = trimSlashes(raw);
  if (!isAuthMountPath(trimmed)) {
    throw invalid(parameter, `${parameter} must be a Vault auth mount path such as "kubernetes" or "team-a/jwt"`);
  }
  return trimmed;
}

interface ClientPair {
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** The client certificate and key travel as a pair, as in the reference: one named does not borrow the other. */
function clientPair(mountTls: TlsParameters, defaultTls: TlsParameters): ClientPair {
  if (mountTls.clientCertPath !== undefined || mountTls.clientKeyPath !== undefined) {
    if (mountTls.clientCertPath === undefined || mountTls.clientKeyPath === undefined) {
      const missing = mountTls.clientCertPath === undefined ? 'vaultTLSClientCertPath' : 'vaultTLSClientKeyPath';
      throw invalid(missing, 'vaultTLSClientCertPath and vaultTLSClientKeyPath must be set together');
    }
    return { cert: mountTls.clientCertPath, key: mountTls.clientKeyPath };
  }
  if ((defaultTls.clientCertPath === undefined) !== (defaultTls.clientKeyPath === undefined)) {
    const missing = defaultTls.clientCertPath === undefined ? 'vault-tls-client-cert' : 'vault-tls-client-key';
    throw invalid(missing, '--vault-tls-client-cert and --vault-tls-client-key must be set together');
  }
  return { cert: defaultTls.clientCertPath, key: defaultTls.clientKeyPath };
}

/** So do the trust roots: a CA the SecretProviderClass names replaces the provider's, as in the reference. */
function caPair(mountTls: TlsParameters, defaultTls: TlsParameters): { file: string | undefined; dir: string | undefined } {
  const source = mountTls.caCertPath !== undefined || mountTls.caDirectory !== undefined ? mountTls : defaultTls;
  return { file: source.caCertPath, dir: source.caDirectory };
}

/** A refused header value leaves undici 7's pool slot waiting for good, so a bad value must never get that far. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function checkNamespace(namespace: string, parameter: string): string {
  if (!HEADER_VALUE.test(namespace)) throw invalid(parameter, `${parameter} holds characters an HTTP header cannot carry`);
  return namespace;
}

/**
 * Overlay `defaults` with the SecretProviderClass's settings. Throws INVALID_CONFIG naming the parameter. The defaults
 * were validated and normalised once, when the flags were parsed (cli/flags.ts), and the auth mount path when the
 * request was; they are trusted here.
 */
export function resolveConnection(mount: MountConfig, defaults: ProviderDefaults): ConnectionSettings {
  const addresses = mount.vaultAddress !== undefined ? normaliseVaultAddresses(mount.vaultAddress, 'vaultAddress') : defaults.vaultAddress.split(',');
  const namespace = mount.vaultNamespace !== undefined ? checkNamespace(mount.vaultNamespace, 'vaultNamespace') : defaults.vaultNamespace;
  // --vault-mount is the default of the pod-token login; the other methods default to Vault's own path for them.
  const authMount = mount.authMountPath ?? (usesPodToken(mount.auth) ? defaults.vaultMount : mount.auth.method);
  const ca = caPair(mount.tls, defaults.tls);
  const client = clientPair(mount.tls, defaults.tls);
  const tls = {
    caCertPath: ca.file,
    caDirectory: ca.dir,
    serverName: mount.tls.serverName ?? defaults.tls.serverName,
    clientCertPath: client.cert,
    clientKeyPath: client.key,
    skipVerify: mount.tls.skipVerify ?? defaults.tls.skipVerify ?? false,
  };
  return withKey({ address: addresses[0]!, addresses, namespace, authMount, tls });
}

/**
 * JSON keeps undefined distinct from ''. A list of addresses is one identity in its order (one cluster shares its
 * token store); the provider cannot tell which addresses form one cluster, so two lists are two keys.
 */
export function withKey(settings: Omit<ConnectionSettings, 'key'>): ConnectionSettings {
  const { address, addresses, namespace, authMount, tls } = settings;
  const key = JSON.stringify([
    addresses.join(','),
    namespace ?? null,
    authMount,
    tls.caCertPath ?? null,
    tls.caDirectory ?? null,
    tls.serverName ?? null,
    tls.clientCertPath ?? null,
    tls.clientKeyPath ?? null,
    tls.skipVerify,
  ]);
  return { address, addresses, namespace, authMount, tls, key };
}

/*
 * The trust boundary between namespace users and the provider's own files and network (docs/security.md).
 *
 * The driver merges a pod's volumeAttributes over its SecretProviderClass's parameters, so everything a mount asks
 * for is chosen by a namespace user. Most parameters only shape what is read from Vault, and Vault's own policy
 * decides whether that is allowed. Six reach past Vault onto the node: `vaultAddress` (where the pod's JWT is sent),
 * `vaultSkipTLSVerify` (whether that endpoint must prove who it is), and four file paths the provider opens with its
 * own privileges (`vaultCACertPath`, `vaultCADirectory`, `vaultTLSClientCertPath`, `vaultTLSClientKeyPath`). This
 * module decides, from operator flags, which values of those a mount may use — and, when the connection presents a
 * client certificate of the operator's, at which auth mounts a mount may log in (`checkAuthMounts`).
 *
 * Pure: no filesystem access here. The caller resolves real paths (symlinks and `..`) and hands them in, so the same
 * rules apply to the spelling a mount used and to the file it would really open. Only values the mount itself set
 * are judged; the operator's own flags are trusted as they are.
 */

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
  /**
   * Auth mount paths (no leading or trailing '/') a mount may log in at while its connection presents a client
   * certificate of the operator's: `--allowed-auth-mounts` plus the provider's default `--vault-mount`. 'any' only
   * when the operator allowed it (`*`, or `--trust-policy=reference`).
   */
  readonly authMounts: 'any' | readonly string[];
}

/** What the operator said on the command line (see cli/flags.ts). */
export interface TrustSettings {
  /** `--allowed-vault-addresses`, normalised (the default address is added by buildTrustPolicy); 'any' for `*`. */
  readonly vaultAddresses: 'any' | readonly string[];
  /** `--allowed-tls-directories`: absolute, normalised. */
  readonly tlsDirectories: readonly string[];
  /** `--allow-skip-tls-verify`. */
  readonly allowSkipTlsVerify: boolean;
  /** `--allowed-auth-mounts`, normalised (the default `--vault-mount` is added by buildTrustPolicy); absent: none. */
  readonly authMounts?: 'any' | readonly string[];
}

/** No trust flag given: only the provider's own Vault address, no TLS directory, no skip-verify, no other auth mount. */
export const NO_TRUST_FLAGS: TrustSettings = { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false, authMounts: [] };

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
  const authMounts = settings.authMounts ?? [];
  return {
    vaultAddresses: addresses,
    tlsDirectories: [...new Set([...settings.tlsDirectories.map((p) => resolve(p)), ...operatorDirs])],
    operatorTlsFiles: operatorFiles,
    allowSkipTlsVerify: settings.allowSkipTlsVerify,
    // A relative one (--hmac-key-file=key) is read from the working directory, so it is protected there: dropping it
    // would leave the file readable through a parameter.
    protectedPaths: protectedPaths.filter((p) => p !== '').map((p) => resolve(p)),
    authMounts: authMounts === 'any' ? 'any' : [...new Set([defaults.vaultMount, ...authMounts])],
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
  checkAuthMounts(mount, connection, policy);
  return out;
}

/** More `auth`…`login` readings of one path than this: no secret path looks like that, so it is refused whole. */
const MAX_LOGIN_READINGS = 16;

/**
 * The auth mounts a request path (`/v1/…`, percent-encoded as sent) would log in at, were it
 * `/v1/[<namespace>/]auth/<mount>/login[/…]`: every reading of it, since a namespace or a mount may itself hold an
 * `auth` or `login` segment. The segments as Vault's HTTP server sees them: decoded, `//`, `.` and `..` folded (Go's
 * ServeMux redirects to that clean path, and the provider follows a redirect to its own address). `undefined` for a
 * path with more than MAX_LOGIN_READINGS readings. Linear in the path.
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
 * The operator's identity is never lent (issue 19, class 6). A connection that presents a client certificate the pod
 * did not bring itself (`--vault-tls-client-cert`, or a `vaultTLSClientCertPath` file from an allowed directory)
 * presents it on every request, logins included, and Vault's cert auth logs in whoever presents a certificate one of
 * its roles trusts, at whatever path the method is mounted: a mount naming that path would be logged in as the
 * certificate's owner. So while a connection presents one, a mount may log in — by its own login, or by an object
 * whose path is an auth method's login — only at an auth mount the operator allowed (`--allowed-auth-mounts`, and the
 * provider's default `--vault-mount`), or at the path its method logs in at when it names none. A cert login
 * (`vaultAuthMethod: cert`) goes over a connection of its own presenting the pod's certificate instead
 * (vault/client-pool.ts), so its own login lends nothing; its objects are read over the operator's connection and are
 * checked. Throws PARAMETER_NOT_ALLOWED naming the parameter (or the object) and the flag.
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

/*
 * Where a mount's connection is decided: resolveConnection (flags overlaid by the mount's parameters), then the
 * operator's trust policy (above) on every parameter that reaches the provider's own files or network.
 *
 * The filesystem part lives here, behind a two-call interface: TLS paths a mount names are resolved to real paths
 * (every symlink and `..` followed) and checked again, a CA directory's entries one by one, and the connection then
 * carries the real paths, so the files read later are the files that were checked. Nothing is resolved for a path
 * the policy already refused by its spelling, and nothing at all for a mount that names no TLS file.
 */

/** The filesystem calls the boundary needs. Neither reads a file's contents. */
export interface PathResolver {
  realpath(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

export class TrustBoundary {
  readonly policy: TrustPolicy;
  readonly #defaults: ProviderDefaults;
  readonly #fs: PathResolver;

  constructor(policy: TrustPolicy, defaults: ProviderDefaults, fs: PathResolver) {
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

  /**
   * Every entry the CA loader would read (it skips hidden names such as a volume's `..data`) must itself resolve
   * inside the allowed directories: a symlink planted in an allowed directory must not lead elsewhere.
   */
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

/** By hand: a regex reads a run of slashes again from every position of it (quadratic). */
const SLASH = 0x2f;

/** `text` without its leading and trailing `/`. */
export function trimSlashes(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === SLASH) start++;
  while (end > start && text.charCodeAt(end - 1) === SLASH) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** `text` without its trailing `/`. */
export function trimTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === SLASH) end--;
  return end === text.length ? text : text.slice(0, end);
}
