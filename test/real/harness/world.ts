/**
 * The real suite's world: real Vault set up through its API (KV v1 and v2, PKI, the database engine on a real
 * PostgreSQL, JWT auth with the issuer's public key, Kubernetes auth reviewing tokens at our TokenReview endpoint,
 * a policy per role), our provider on its socket, and the driver's client. Mount requests are built the way the
 * driver's node server builds them: SecretProviderClass parameters, then the pod's attributes, then the tokens.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { ServiceAccountJwtIssuer } from '../../vault-server/jwt-issuer.js';
import { RealDriverClient, type DriverAnswer, type DriverMount } from './driver-client.js';
import { Postgres } from './postgres.js';
import { RealSuiteProvider } from './provider.js';
import { TokenReviewServer } from './token-review.js';
import { auditedRequests, auditLineCount, type VaultRequest } from './vault-audit.js';
import { RealVault, type VaultTlsListener } from './vault-dev.js';

export interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

export const WEB_POD: Pod = { name: 'web-5d8f7c9b4-abcde', namespace: 'prod', uid: '8a3c1f2e-5b6d-4e7f-9a0b-1c2d3e4f5a6b', serviceAccountName: 'web' };

export const WEB_POLICY = `
path "secret/data/*" { capabilities = ["read"] }
path "kv/*" { capabilities = ["read"] }
path "database/creds/web" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
path "kv/writable" { capabilities = ["create", "update"] }
`;

export interface WorldOptions {
  readonly postgres?: boolean;
  readonly tls?: VaultTlsListener;
  readonly providerFlags?: readonly string[];
  /** Start the provider against this address instead of the plain listener. */
  /** The provider's --vault-addr; `second` is there when `secondVault` is set. */
  readonly providerVaultAddress?: (vault: RealVault, second: RealVault | undefined) => string;
  /** A second dev server, configured as the first (configureVault): another cluster, set up alike. */
  readonly secondVault?: boolean;
  /** Serve as this provider (`openbao`: openbao.sock, `-openbao-addr`); default vault. */
  readonly providerName?: 'vault' | 'openbao';
  /** Starts the provider another way than RealSuiteProvider (the image in a container); given Vault's address. */
  readonly startProvider?: (vaultAddress: string) => Promise<WorldProvider>;
}

/** The provider a World mounts through: its socket directory (the driver's providers directory), a restart, a stop. */
export interface WorldProvider {
  readonly socketDir: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface MountOptions {
  readonly objects: string | ReadonlyArray<Record<string, unknown>>;
  readonly params?: Readonly<Record<string, string>>;
  readonly pod?: Pod;
  /** The token to send; default a fresh one for the pod and audience. null: no tokens at all. */
  readonly jwt?: string | null;
  readonly audience?: string;
  readonly secrets?: Readonly<Record<string, string>> | null;
  readonly target?: string;
  readonly timeoutMs?: number;
  /** The SecretProviderClass's `spec.provider` (which socket the driver dials); default vault. */
  readonly provider?: string;
  /** Attributes to leave out, e.g. roleName when a test spells it baoRoleName. */
  readonly omit?: readonly string[];
}

export interface Mounted extends DriverAnswer {
  /** The files the driver's writer left in the target directory (path → contents), dot-dirs of the writer excluded. */
  readonly files: ReadonlyMap<string, { readonly text: string; readonly bytes: Buffer; readonly mode: number }>;
  readonly target: string;
}

export class World {
  readonly issuer = new ServiceAccountJwtIssuer();
  vault!: RealVault;
  /** With `secondVault`: another dev server, configured the same way, auditing into secondAuditFile. */
  second: RealVault | undefined;
  postgres: Postgres | undefined;
  reviews!: TokenReviewServer;
  provider!: WorldProvider;
  driver!: RealDriverClient;
  dir!: string;
  private targets = 0;

  static async start(options: WorldOptions = {}): Promise<World> {
    const w = new World();
    w.dir = await mkdtemp(join(tmpdir(), 'vcp-real-'));
    w.vault = await RealVault.start(options.tls === undefined ? {} : { tls: options.tls });
    w.reviews = await TokenReviewServer.start(w.issuer.publicKeyPem, w.issuer.issuer);
    if (options.postgres === true) w.postgres = await Postgres.start();
    await w.configureVault();
    if (options.secondVault === true) {
      w.second = await RealVault.start();
      await w.configureVault(w.second, w.secondAuditFile);
    }
    const address = options.providerVaultAddress?.(w.vault, w.second) ?? w.vault.address;
    w.provider = await (options.startProvider?.(address) ?? RealSuiteProvider.start(address, options.providerFlags ?? [], options.providerName ?? 'vault'));
    w.driver = new RealDriverClient(w.provider.socketDir);
    return w;
  }

  /** Everything Vault needs; run again after a restart of the dev server, which forgets it all. */
  async configureVault(v: RealVault = this.vault, auditFile: string = this.auditFile): Promise<void> {
    // Vault's own file audit device counts what the provider asked of Vault (paths are logged in clear).
    await v.must('PUT', 'sys/audit/file', { type: 'file', options: { file_path: auditFile } });
    await v.must('POST', 'sys/mounts/kv', { type: 'kv', options: { version: '1' } });
    await v.must('POST', 'sys/policies/acl/web', { policy: WEB_POLICY });
    await v.must('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
    await v.must('POST', 'pki/root/generate/internal', { common_name: 'Real Suite Root CA', ttl: '87600h', key_type: 'ec', key_bits: 256 });
    await v.must('POST', 'pki/roles/web', { allowed_domains: 'prod.svc', allow_subdomains: true, max_ttl: '72h', key_type: 'ec', key_bits: 256 });
    await v.must('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
    // No reviewer JWT and no local CA: Vault reviews each login with the login's own JWT at kubernetes_host.
    await v.must('POST', 'auth/kubernetes/config', { kubernetes_host: this.reviews.address, disable_local_ca_jwt: true, issuer: this.issuer.issuer });
    await v.must('POST', 'auth/kubernetes/role/web', {
      bound_service_account_names: ['web'], bound_service_account_namespaces: ['prod'], audience: 'vault', token_policies: ['web'], token_ttl: '1h',
    });
    await v.must('POST', 'sys/auth/jwt', { type: 'jwt' });
    await v.must('POST', 'auth/jwt/config', { jwt_validation_pubkeys: [this.issuer.publicKeyPem], bound_issuer: this.issuer.issuer });
    await v.must('POST', 'auth/jwt/role/web', {
      role_type: 'jwt', bound_audiences: ['vault'], user_claim: 'sub', bound_subject: 'system:serviceaccount:prod:web', token_policies: ['web'], token_ttl: '1h',
    });
    if (this.postgres !== undefined) {
      await this.postgres.configureVault(v);
    }
  }

  get auditFile(): string {
    return join(this.dir, 'vault-audit.log');
  }

  get secondAuditFile(): string {
    return join(this.dir, 'vault-2-audit.log');
  }

  /**
   * Requests Vault's audit device logged since the last call of mark(), optionally only those whose path starts
   * with a prefix (e.g. "auth/kubernetes/login", "database/creds/"). Counts what reached Vault, not what we sent.
   */
  async vaultRequests(pathPrefix = '', auditFile = this.auditFile): Promise<VaultRequest[]> {
    return auditedRequests(auditFile, auditFile === this.auditFile ? this.auditMark : 0, pathPrefix);
  }

  /** Starts a new count for vaultRequests(). */
  async mark(): Promise<void> {
    this.auditMark = await auditLineCount(this.auditFile);
  }

  private auditMark = 0;

  jwtFor(pod: Pod = WEB_POD, audience = 'vault', extra: { ttlSeconds?: number } = {}): string {
    return this.issuer.signServiceAccountJwt({ namespace: pod.namespace, serviceAccountName: pod.serviceAccountName, podName: pod.name, podUid: pod.uid, audience, ...extra });
  }

  /** The request the driver's node server would send for this pod and SecretProviderClass. */
  request(options: MountOptions, target: string): DriverMount {
    const pod = options.pod ?? WEB_POD;
    const audience = options.audience ?? 'vault';
    const jwt = options.jwt === undefined ? this.jwtFor(pod, audience) : options.jwt;
    const objects = typeof options.objects === 'string' ? options.objects : stringify(options.objects);
    const attributes: Record<string, string> = {
      roleName: 'web',
      objects,
      ...(options.audience === undefined ? {} : { audience }),
      ...options.params,
      secretProviderClass: 'web-secrets',
      'csi.storage.k8s.io/pod.name': pod.name,
      'csi.storage.k8s.io/pod.namespace': pod.namespace,
      'csi.storage.k8s.io/pod.uid': pod.uid,
      'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccountName,
      'csi.storage.k8s.io/ephemeral': 'false',
    };
    if (jwt !== null) {
      attributes['csi.storage.k8s.io/serviceAccount.tokens'] = JSON.stringify({ [audience]: { token: jwt, expirationTimestamp: new Date(Date.now() + 600_000).toISOString() } });
    }
    for (const key of options.omit ?? []) delete attributes[key];
    return {
      attributes,
      secrets: options.secrets ?? null,
      targetPath: target,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.provider === undefined ? {} : { provider: options.provider }),
    };
  }

  /** A fresh target directory, as the driver's tmpfs mount point would be. */
  async newTarget(): Promise<string> {
    const t = join(this.dir, `target-${++this.targets}`);
    await mkdir(t, { recursive: true });
    return t;
  }

  /** One mount through the driver's client and writer; the files are read back from the target directory. */
  async mount(options: MountOptions): Promise<Mounted> {
    const target = options.target ?? (await this.newTarget());
    const answer = await this.driver.mount(this.request(options, target));
    return { ...answer, files: await readTarget(target), target };
  }

  async close(): Promise<void> {
    await this.driver?.close();
    await this.provider?.stop();
    await this.vault?.stop();
    await this.second?.stop();
    await this.reviews?.close();
    await this.postgres?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The files as a pod sees them: the driver's writer keeps its data in `..data`-style entries, skipped here. */
export async function readTarget(target: string): Promise<Map<string, { text: string; bytes: Buffer; mode: number }>> {
  const files = new Map<string, { text: string; bytes: Buffer; mode: number }>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('..')) continue;
      const p = join(dir, e.name);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else {
        const bytes = await readFile(p);
        files.set(relative(target, p), { text: bytes.toString('utf8'), bytes, mode: s.mode & 0o777 });
      }
    }
  };
  await walk(target);
  return files;
}
