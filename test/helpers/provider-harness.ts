/**
 * End-to-end harness: the Vault-compatible test server, the real provider on a temporary Unix socket, and a gRPC
 * client speaking the published contract. Every log line the provider writes (at trace level) is captured so tests
 * can prove that no secret, token or JWT leaks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startTestVault, ServiceAccountJwtIssuer, type TestVault, type TestVaultOptions, type TlsFiles } from '../vault-server/index.js';
import { startProvider, type ProviderOverrides, type RunningProvider } from '../../src/cli/daemon.js';
import type { ProviderSettings } from '../../src/cli/flags.js';
import type { HmacKeySource } from '../../src/mount/hmac-key.js';
import { createLogger } from '../../src/observability/logger.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';
import { DriverClient } from './grpc-client.js';
import { settingsFrom } from './settings.js';

export const POD = { name: 'web-7d9c8b6f5-x2x4k', namespace: 'prod', uid: '5c1f3a9e-2b7d-4e0a-9f61-3d2c8a7b6e51', serviceAccountName: 'web' } as const;

export function fixedHmacKey(byte = 0x42): HmacKeySource {
  const key = Buffer.alloc(32, byte);
  return { description: 'fixed test key', getKey: () => Promise.resolve(key) };
}

export interface PodIdentity {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

export interface RequestOptions {
  /** The objects list: YAML text, or objects that are turned into YAML. */
  readonly objects: string | ReadonlyArray<Record<string, unknown>>;
  readonly params?: Readonly<Record<string, string>>;
  readonly pod?: PodIdentity;
  /** The JWT to send; default: a valid one for the pod and audience "vault". `null` sends no tokens at all. */
  readonly jwt?: string | null;
  readonly audience?: string;
  /** Where the tokens key travels: attributes (drivers today) or secrets (Kubernetes 1.35+). */
  readonly tokensIn?: 'attributes' | 'secrets';
  readonly permission?: string;
  readonly targetPath?: string;
  /** The volume's nodePublishSecretRef data (the driver's `secrets`), e.g. an AppRole secret ID. */
  readonly secrets?: Readonly<Record<string, string>>;
}

export class Harness {
  readonly logs: string[] = [];
  client!: DriverClient;
  provider!: RunningProvider;
  settings!: ProviderSettings;

  constructor(
    readonly vault: TestVault,
    readonly issuer: ServiceAccountJwtIssuer,
    readonly dir: string,
  ) {}

  get socketPath(): string {
    return join(this.dir, 'sock', 'vault.sock');
  }

  async startProvider(settings: Partial<ProviderSettings> = {}, overrides: ProviderOverrides = {}): Promise<void> {
    // The daemon's command line for this harness: every other setting at the flag table's default.
    const argv = [`--endpoint=${this.socketPath}`, '--health-addr=127.0.0.1:0', '--log-level=trace', `--vault-addr=${this.vault.address}`, '--cache-size=100', '--vault-request-timeout=5s'];
    this.settings = { ...settingsFrom(argv), ...settings };
    const logger = createLogger(this.settings.logLevel, { write: (line: string) => void this.logs.push(line) });
    this.provider = await startProvider(this.settings, logger, { hmacKey: fixedHmacKey(), env: {}, ...overrides });
    // The endpoint the provider was given (socketPath unless the test names another, such as openbao.sock).
    this.client = new DriverClient(this.settings.endpoint);
  }

  /** The --vault-* flags' defaults for this Vault over TLS: the CA and client certificate of `files`. */
  tlsDefaults(files: TlsFiles): ProviderSettings['defaults'] {
    return {
      vaultAddress: this.vault.address,
      vaultMount: 'kubernetes',
      vaultNamespace: undefined,
      tls: { caCertPath: files.caFile, clientCertPath: files.clientCertFile, clientKeyPath: files.clientKeyFile },
    };
  }

  async stopProvider(): Promise<void> {
    this.client.close();
    await this.provider.stop(2_000);
  }

  jwtFor(pod: PodIdentity = POD, audience = 'vault', options: { wrongKey?: boolean; ttlSeconds?: number; unbound?: boolean } = {}): string {
    return this.issuer.signServiceAccountJwt({
      namespace: pod.namespace,
      serviceAccountName: pod.serviceAccountName,
      podName: pod.name,
      podUid: pod.uid,
      audience,
      ...options,
    });
  }

  request(options: RequestOptions): MountRequest {
    const pod = options.pod ?? POD;
    const audience = options.audience ?? 'vault';
    const jwt = options.jwt === undefined ? this.jwtFor(pod, audience) : options.jwt;
    const tokens = jwt === null ? undefined : JSON.stringify({ [audience]: { token: jwt, expirationTimestamp: new Date(Date.now() + 600_000).toISOString() } });
    const objects = typeof options.objects === 'string' ? options.objects : stringify(options.objects);
    const attributes: Record<string, string> = {
      'csi.storage.k8s.io/ephemeral': 'false',
      'csi.storage.k8s.io/pod.name': pod.name,
      'csi.storage.k8s.io/pod.namespace': pod.namespace,
      'csi.storage.k8s.io/pod.uid': pod.uid,
      'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccountName,
      secretProviderClass: 'web-secrets',
      roleName: 'web',
      objects,
      ...(options.audience === undefined ? {} : { audience }),
      ...options.params,
    };
    const secretMap: Record<string, string> = { ...options.secrets };
    if (tokens !== undefined) {
      if (options.tokensIn === 'secrets') secretMap['csi.storage.k8s.io/serviceAccount.tokens'] = tokens;
      else attributes['csi.storage.k8s.io/serviceAccount.tokens'] = tokens;
    }
    const secrets = Object.keys(secretMap).length === 0 ? 'null' : JSON.stringify(secretMap);
    return {
      attributes: JSON.stringify(attributes),
      secrets,
      target_path: options.targetPath ?? join(this.dir, 'target'),
      permission: options.permission ?? '420',
      current_object_version: [],
    };
  }

  /** Every captured log line that contains `needle`. */
  logLinesWith(needle: string): string[] {
    return this.logs.filter((l) => l.includes(needle));
  }

  async close(): Promise<void> {
    try {
      this.client?.close();
      await this.provider?.stop(1_000);
    } finally {
      await this.vault.close();
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}

export const WEB_POLICY = `
path "secret/data/*" { capabilities = ["read"] }
path "kv/*" { capabilities = ["read"] }
path "database/creds/web" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
`;

/** A Vault with the mounts, auth and policies most end-to-end tests need, and a harness around it. */
export async function startHarness(vaultOptions: TestVaultOptions = {}): Promise<Harness> {
  const vault = await startTestVault(vaultOptions);
  const issuer = new ServiceAccountJwtIssuer(vaultOptions.now === undefined ? {} : { now: vaultOptions.now });
  vault.enableKv('secret', 2);
  vault.enableKv('kv', 1);
  vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] });
  vault.putPolicy('web', WEB_POLICY);
  vault.addKubernetesRole('kubernetes', 'web', {
    boundServiceAccountNames: ['web'],
    boundServiceAccountNamespaces: ['prod'],
    audience: 'vault',
    policies: ['web'],
    ttlSeconds: 3600,
  });
  vault.enableDatabase('database');
  vault.addDatabaseRole('database', 'web', { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 });
  await vault.enablePki('pki');
  vault.addPkiRole('pki', 'web', { allowedDomains: ['prod.svc'], allowSubdomains: true, maxTtlSeconds: 86400 * 30 });
  const dir = await mkdtemp(join(tmpdir(), 'vcp-e2e-'));
  return new Harness(vault, issuer, dir);
}
