// Public entry of the Vault-compatible test server: start it, seed it with short helper calls,
// inject faults, and read the request log. Never shipped; used by tests, benchmarks and the demo.
import { VaultCore } from './core.js';
import { FaultInjector, type FaultHandle, type FaultSpec } from './faults.js';
import { RequestLog } from './request-log.js';
import { listen, type InFlightCount, type RunningServer, type TlsOptions } from './http-server.js';
import * as setup from './setup.js';
import { KvV1Engine, KvV2Engine } from './kv.js';
import { DatabaseEngine, type DatabaseRoleConfig } from './database.js';
import { PkiEngine, type PkiOptions, type PkiRoleConfig } from './pki.js';
import { KubernetesAuth, type KubernetesAuthConfig, type KubernetesRoleConfig } from './auth-kubernetes.js';
import { JwtAuth, type JwtAuthConfig, type JwtRoleConfig } from './auth-jwt.js';
import { AppRoleAuth, CertAuth, UserpassAuth, type CredentialRoleConfig } from './auth-credentials.js';
import { SYSTEM_MAX_TTL_SECONDS } from './tokens.js';
import type { LeaseInfo } from './leases.js';
import type { Namespace } from './namespaces.js';
import type { Clock, JsonObject, RequestKind, RequestLogEntry } from './types.js';

export type { TlsOptions } from './http-server.js';
export type { FaultHandle, FaultSpec } from './faults.js';
export type { LeaseInfo } from './leases.js';
export type { RequestKind, RequestLogEntry, Clock } from './types.js';
export { REQUEST_KINDS } from './types.js';
export type { KubernetesAuthConfig, KubernetesRoleConfig } from './auth-kubernetes.js';
export type { JwtAuthConfig, JwtRoleConfig } from './auth-jwt.js';
export type { CredentialRoleConfig } from './auth-credentials.js';
export type { DatabaseRoleConfig } from './database.js';
export type { PkiOptions, PkiRoleConfig } from './pki.js';
export { ServiceAccountJwtIssuer, DEFAULT_K8S_ISSUER, type ServiceAccountTokenOptions } from './jwt-issuer.js';
export { createTlsMaterial, writeTlsFiles, type TlsMaterial, type TlsFiles } from './certs.js';
export { multiError } from './vault-errors.js';

export interface TestVaultOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (ephemeral). */
  readonly port?: number;
  readonly tls?: TlsOptions;
  /** Clock in ms for token/lease expiry, JWT time checks and certificate validity. Default Date.now. */
  readonly now?: Clock;
  /** Default "root". */
  readonly rootToken?: string;
  /** Keep at most about this many request-log entries (oldest dropped); default unbounded. */
  readonly requestLogLimit?: number;
}

/** Filter for `countRequests`. */
export interface RequestFilter {
  readonly kind?: RequestKind;
  readonly method?: string;
  readonly namespace?: string;
  readonly status?: number;
  /** Prefix of `route` (namespace-relative path without `/v1/`). */
  readonly routePrefix?: string;
}

export class TestVault {
  private readonly faults = new FaultInjector();
  private server: RunningServer | undefined;
  /** Requests being handled now and the most at once (see resetPeakInFlight). */
  readonly inFlight: InFlightCount = { current: 0, peak: 0 };

  private constructor(private readonly core: VaultCore, readonly rootToken: string, private readonly log: RequestLog) {}

  /** @internal use startTestVault */
  static async start(options: TestVaultOptions = {}): Promise<TestVault> {
    const clock = options.now ?? Date.now;
    const rootToken = options.rootToken ?? 'root';
    const vault = new TestVault(new VaultCore(clock, rootToken), rootToken, new RequestLog(options.requestLogLimit));
    vault.server = await listen(
      { host: options.host ?? '127.0.0.1', port: options.port ?? 0, tls: options.tls },
      vault.core, vault.faults, vault.log, clock, vault.inFlight,
    );
    return vault;
  }

  /** e.g. `https://127.0.0.1:41234` (no trailing slash). */
  get address(): string {
    return this.running().address;
  }

  get port(): number {
    return this.running().port;
  }

  /** Live view of the request log, oldest first. Holds no tokens, JWTs or bodies. */
  get requests(): readonly RequestLogEntry[] {
    return this.log.entries;
  }

  clearRequests(): void {
    this.log.clear();
  }

  /** Starts counting the most requests in flight at once afresh. */
  resetPeakInFlight(): void {
    this.inFlight.peak = this.inFlight.current;
  }

  countRequests(filter: RequestFilter = {}): number {
    return this.log.entries.filter((e) =>
      (filter.kind === undefined || e.kind === filter.kind) &&
      (filter.method === undefined || e.method === filter.method.toUpperCase()) &&
      (filter.namespace === undefined || e.namespace === filter.namespace.replace(/^\/+|\/+$/g, '')) &&
      (filter.status === undefined || e.status === filter.status) &&
      (filter.routePrefix === undefined || e.route.startsWith(filter.routePrefix))).length;
  }

  /** Closes the listener and destroys every socket, keep-alive ones included. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await s.close();
  }

  now(): number {
    return this.core.clock();
  }

  // --- namespaces -------------------------------------------------------------------------------

  /** Creates a namespace (and missing parents): `createNamespace('team-a/sub')`. */
  createNamespace(path: string): void {
    this.core.namespaces.create(path);
  }

  // --- KV -----------------------------------------------------------------------------------------

  enableKv(mount: string, version: 1 | 2, ns?: string): void {
    setup.enableKv(this.core, this.ns(ns), mount, version);
  }

  /** Writes a secret; KV v2 adds a version (returned), KV v1 overwrites (returns 0). */
  putKv(mount: string, path: string, data: JsonObject, ns?: string): number {
    const engine = this.engine(mount, ns);
    const key = path.replace(/^\/+/, '');
    if (engine instanceof KvV2Engine) return engine.put(key, data);
    if (engine instanceof KvV1Engine) {
      engine.put(key, data);
      return 0;
    }
    throw new Error(`${mount} is not a KV mount`);
  }

  /**
   * Deletes a secret. KV v1: removed. KV v2: soft-deletes the latest version (or `versions`), or
   * removes all versions and metadata with `{ all: true }`.
   */
  deleteKv(mount: string, path: string, ns?: string, options: { versions?: readonly number[]; all?: boolean } = {}): void {
    const engine = this.engine(mount, ns);
    const key = path.replace(/^\/+/, '');
    if (engine instanceof KvV2Engine) {
      if (options.all) engine.deleteAll(key);
      else engine.softDelete(key, options.versions);
      return;
    }
    if (engine instanceof KvV1Engine) {
      engine.delete(key);
      return;
    }
    throw new Error(`${mount} is not a KV mount`);
  }

  // --- auth methods -----------------------------------------------------------------------------

  enableKubernetesAuth(mount = 'kubernetes', config: KubernetesAuthConfig, ns?: string): void {
    const existing = this.ns(ns).authMounts.get(setup.mountKey(mount))?.engine;
    if (existing instanceof KubernetesAuth) existing.configure(config);
    else setup.enableKubernetesAuth(this.ns(ns), mount, config);
  }

  addKubernetesRole(mount: string, name: string, role: KubernetesRoleConfig, ns?: string): void {
    const engine = this.ns(ns).authMounts.get(setup.mountKey(mount))?.engine;
    if (!(engine instanceof KubernetesAuth)) throw new Error(`no kubernetes auth at auth/${setup.mountKey(mount)}`);
    engine.setRole(name, role);
  }

  enableJwtAuth(mount = 'jwt', config: JwtAuthConfig, ns?: string): void {
    const existing = this.ns(ns).authMounts.get(setup.mountKey(mount))?.engine;
    if (existing instanceof JwtAuth) existing.configure(config);
    else setup.enableJwtAuth(this.ns(ns), mount, config);
  }

  addJwtRole(mount: string, name: string, role: JwtRoleConfig, ns?: string): void {
    const engine = this.ns(ns).authMounts.get(setup.mountKey(mount))?.engine;
    if (!(engine instanceof JwtAuth)) throw new Error(`no jwt auth at auth/${setup.mountKey(mount)}`);
    engine.setRole(name, role);
  }

  /** AppRole auth at `auth/<mount>` (Vault's default path: approle). */
  enableAppRoleAuth(mount = 'approle', ns?: string): void {
    setup.enableCredentialAuth(this.ns(ns), mount, new AppRoleAuth());
  }

  /** Creates an AppRole role and returns its role ID (`auth/<mount>/role/<name>/role-id`). */
  addAppRole(mount: string, name: string, role: CredentialRoleConfig, ns?: string): string {
    return this.authEngine(mount, AppRoleAuth, ns).setRole(name, role);
  }

  /** A new secret ID for the role (`auth/<mount>/role/<name>/secret-id`). */
  newAppRoleSecretId(mount: string, name: string, ns?: string): string {
    return this.authEngine(mount, AppRoleAuth, ns).newSecretId(name);
  }

  destroyAppRoleSecretId(mount: string, name: string, secretId: string, ns?: string): void {
    this.authEngine(mount, AppRoleAuth, ns).destroySecretId(name, secretId);
  }

  enableUserpassAuth(mount = 'userpass', ns?: string): void {
    setup.enableCredentialAuth(this.ns(ns), mount, new UserpassAuth());
  }

  addUserpassUser(mount: string, username: string, password: string, role: CredentialRoleConfig, ns?: string): void {
    this.authEngine(mount, UserpassAuth, ns).setUser(username, password, role);
  }

  /** Cert auth; logins need the TLS listener (`tls.clientCa` so that client certificates are asked for). */
  enableCertAuth(mount = 'cert', ns?: string): void {
    setup.enableCredentialAuth(this.ns(ns), mount, new CertAuth());
  }

  /** A certificate role: client certificates must chain to `certificatePem` (`auth/<mount>/certs/<name>`). */
  addCertRole(mount: string, name: string, certificatePem: string, role: CredentialRoleConfig, ns?: string): void {
    this.authEngine(mount, CertAuth, ns).setRole(name, certificatePem, role);
  }

  /** The accessor of an auth mount (`auth_jwt_…`), as templated policies name it. */
  authAccessor(mount: string, ns?: string): string {
    const entry = this.ns(ns).authMounts.get(setup.mountKey(mount));
    if (entry === undefined) throw new Error(`no auth mount at auth/${setup.mountKey(mount)}`);
    return entry.accessor;
  }

  private authEngine<T>(mount: string, kind: abstract new (...args: never[]) => T, ns: string | undefined): T {
    const engine = this.ns(ns).authMounts.get(setup.mountKey(mount))?.engine;
    if (!(engine instanceof kind)) throw new Error(`no ${kind.name} at auth/${setup.mountKey(mount)}`);
    return engine;
  }

  // --- policies -----------------------------------------------------------------------------------

  /** HCL (`path "x/*" { capabilities = [...] }`) or JSON policy text. Throws on parse errors. */
  putPolicy(name: string, hcl: string, ns?: string): void {
    setup.putPolicy(this.core, this.ns(ns), name, hcl);
  }

  // --- database -----------------------------------------------------------------------------------

  enableDatabase(mount = 'database', ns?: string): void {
    setup.enableDatabase(this.core, this.ns(ns), mount);
  }

  addDatabaseRole(mount: string, name: string, role: DatabaseRoleConfig, ns?: string): void {
    const engine = this.engine(mount, ns);
    if (!(engine instanceof DatabaseEngine)) throw new Error(`${mount} is not a database mount`);
    engine.setRole(name, role);
  }

  /** Unexpired leases across all namespaces. */
  activeLeases(): LeaseInfo[] {
    return this.core.leases.active();
  }

  /** Ids of leases revoked so far (explicitly, by prefix, or with their token). */
  revokedLeases(): readonly string[] {
    return this.core.leases.revoked();
  }

  // --- PKI ------------------------------------------------------------------------------------------

  /** Generates a root CA and (by default) an intermediate that issues; returns their PEMs. */
  async enablePki(mount = 'pki', ns?: string, options: PkiOptions = {}): Promise<{ rootCaPem: string; issuingCaPem: string }> {
    const entry = await setup.enablePki(this.core, this.ns(ns), mount, options);
    const engine = entry.engine as PkiEngine;
    return { rootCaPem: engine.rootCaPem, issuingCaPem: engine.issuingCaPem };
  }

  addPkiRole(mount: string, name: string, role: PkiRoleConfig, ns?: string): void {
    const engine = this.engine(mount, ns);
    if (!(engine instanceof PkiEngine)) throw new Error(`${mount} is not a pki mount`);
    engine.setRole(name, role);
  }

  // --- tokens ---------------------------------------------------------------------------------------

  /** Mints a service token directly (no login), e.g. for policy tests. Includes `default` unless asked not to. */
  createToken(options: { policies: readonly string[]; ttlSeconds?: number; ns?: string; noDefaultPolicy?: boolean; meta?: Record<string, string> }): string {
    const ns = this.ns(options.ns);
    const ttl = options.ttlSeconds ?? SYSTEM_MAX_TTL_SECONDS;
    return this.core.tokens.create({
      nsPath: ns.path, nsId: ns.id,
      policies: options.noDefaultPolicy ? options.policies : ['default', ...options.policies],
      meta: options.meta ?? null, displayName: 'token', path: 'auth/token/create', ttlSeconds: ttl,
      maxTtlSeconds: Math.max(ttl, SYSTEM_MAX_TTL_SECONDS), entityId: '',
    }).id;
  }

  /** Revokes one token (and its leases); its next use gets 403. Returns false if it was unknown. */
  revokeToken(token: string): boolean {
    return this.core.tokens.revoke(token);
  }

  /**
   * Revokes the live tokens whose metadata has `key` = `value` (e.g. `service_account_name` = `web` for one
   * ServiceAccount's Kubernetes-auth logins), with their leases. Returns how many were revoked.
   */
  revokeTokensWithMeta(key: string, value: string): number {
    const matching = this.core.tokens.live().filter((t) => !t.isRoot && t.meta?.[key] === value);
    for (const t of matching) this.core.tokens.revoke(t.id);
    return matching.length;
  }

  /** Revokes every token except the root token. Returns how many were revoked. */
  revokeAllTokens(): number {
    return this.core.tokens.revokeAll();
  }

  /** Live (unexpired, unrevoked) non-root tokens. */
  liveTokenCount(): number {
    return this.core.tokens.live().filter((t) => !t.isRoot).length;
  }

  // --- faults and seal ------------------------------------------------------------------------------

  injectFault(spec: FaultSpec): FaultHandle {
    return this.faults.add(spec);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Sealed: every request but sys/health and sys/seal-status gets 503 `Vault is sealed`. */
  seal(): void {
    this.core.isSealed = true;
  }

  unseal(): void {
    this.core.isSealed = false;
  }

  get sealed(): boolean {
    return this.core.isSealed;
  }

  // --- internals --------------------------------------------------------------------------------------

  private running(): RunningServer {
    if (!this.server) throw new Error('test vault is closed');
    return this.server;
  }

  private ns(path: string | undefined): Namespace {
    return this.core.namespaces.require(path);
  }

  private engine(mount: string, ns?: string): unknown {
    const entry = this.ns(ns).mounts.get(setup.mountKey(mount));
    if (!entry) throw new Error(`nothing mounted at ${setup.mountKey(mount)}`);
    return entry.engine;
  }
}

export function startTestVault(options: TestVaultOptions = {}): Promise<TestVault> {
  return TestVault.start(options);
}
