/**
 * Wiring: settings → the running daemon (gRPC server, health server, Vault clients, token cache, HMAC key).
 * Used by main.ts and by the end-to-end tests, which start the real thing on a temporary socket.
 *
 * Shutdown order is fixed: readiness turns 503, the gRPC server stops listening (which frees the socket path for
 * the next instance) and lets in-flight mounts finish (bounded), the socket is removed if it is still ours, Vault
 * connections close, the health server closes.
 */
import type { AddressInfo } from 'node:net';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { DEFAULT_LEASE_CACHE_BYTES, DEFAULT_LEASE_CACHE_SIZE, type ProviderSettings } from './flags.js';
import type { Logger } from '../observability/logger.js';
import { HealthServer } from '../observability/health.js';
import { metricsRoute, ProviderMetrics } from '../observability/metrics.js';
import { fileAuditSink, loggerAuditSink, MountAuditor } from '../observability/audit.js';
import { VERSION } from '../version.js';
import { Authenticator } from '../auth/authenticator.js';
import type { ServiceAccountTokenRequester } from '../auth/token-requester.js';
import { VaultClientPool } from '../vault/client-pool.js';
import type { VaultClientOptions } from '../vault/client.js';
import { MountService } from '../mount/mount-service.js';
import { ResponseReuse } from '../mount/response-reuse.js';
import { LeaseCache } from '../vault/lease-cache.js';
import { FileHmacKeySource, RandomHmacKeySource, type HmacKeySource } from '../mount/hmac-key.js';
import { AtomicWriter } from '../output/atomic-writer.js';
import { ProviderGrpcServer } from '../server/grpc-server.js';
import { createMountHandler, versionHandler } from '../server/mount-handler.js';
import { detectCluster, SERVICE_ACCOUNT_DIR } from '../kubernetes/cluster.js';
import { buildTrustPolicy, NO_TRUST_FLAGS } from '../config/policy.js';
import { TrustBoundary } from '../mount/trust-boundary.js';
import type { TlsFileReader } from '../vault/tls-files.js';
import type { FsOps } from '../output/fs-ops.js';
import { KubeTokenRequester } from '../kubernetes/token-requester.js';
import { KubeSecretHmacKeySource } from '../kubernetes/hmac-secret.js';
import { AddressGates, DEFAULT_GATE_LIMITS, realGateClock, type GateClock } from '../vault/rate-limit.js';
import { AddressHealth } from '../vault/address-health.js';
import { DEFAULT_ADMISSION_LIMITS, MountAdmission } from '../admission/mount-admission.js';

export interface ProviderOverrides {
  /** Replaces the HMAC key source chosen from settings (tests use a fixed key). */
  readonly hmacKey?: HmacKeySource;
  /** Replaces the in-cluster TokenRequest client. */
  readonly tokenRequester?: ServiceAccountTokenRequester;
  /** The process environment used to detect a cluster (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  readonly vaultClient?: VaultClientOptions;
  /** Replaces how TLS files are read (tests wrap the real reader to see every path opened). */
  readonly tlsFiles?: TlsFileReader;
  /** Replaces the --write-files writer's filesystem calls (tests inject ENOSPC midway). */
  readonly writerFs?: FsOps;
  /** The clock of the per-address request gates (tests drive time by hand). */
  readonly gateClock?: GateClock;
  /** The provider's own ServiceAccount directory, protected from every mount (default: the in-cluster path). */
  readonly serviceAccountDir?: string;
}

export interface RunningProvider {
  readonly endpoint: string;
  /** Where the health server listens; undefined when disabled (empty --health-addr). */
  readonly healthAddress: AddressInfo | undefined;
  readonly mounts: MountService;
  readonly auth: Authenticator;
  /** Leased responses (dynamic credentials, certificates) kept per pod for reuse on republish. */
  readonly leases: LeaseCache;
  /** Per-Vault-address gates (in-flight bound, rate, backoff): tests read their peaks. */
  readonly gates: AddressGates;
  /** The Prometheus registry behind `/metrics`. */
  readonly metrics: ProviderMetrics;
  /** One audit line per Mount (stdout, or --audit-log-file). */
  readonly audit: MountAuditor;
  /** Admission control: mounts in progress and the bytes they hold. */
  readonly admission: MountAdmission;
  /** Graceful stop; resolves when everything is closed. */
  stop(graceMs?: number): Promise<void>;
  /** In-flight mounts right now. */
  inflight(): number;
}

function chooseHmacKey(settings: ProviderSettings, logger: Logger, cluster: ReturnType<typeof detectCluster>): HmacKeySource {
  if (settings.hmacKeyFile !== undefined && settings.hmacKeyFile !== '') return new FileHmacKeySource(settings.hmacKeyFile);
  if (cluster !== undefined) return new KubeSecretHmacKeySource(cluster.kubeConfig, cluster.namespace, settings.hmacSecretName);
  logger.warn('not running in a cluster and no --hmac-key-file: object versions use a random key and change when the provider restarts');
  return new RandomHmacKeySource();
}

export async function startProvider(settings: ProviderSettings, logger: Logger, overrides: ProviderOverrides = {}): Promise<RunningProvider> {
  const cluster = detectCluster(overrides.env ?? process.env);
  const hmacKey = overrides.hmacKey ?? chooseHmacKey(settings, logger, cluster);
  const tokenRequester = overrides.tokenRequester ?? (cluster === undefined ? undefined : new KubeTokenRequester(cluster.kubeConfig));
  const vaultLog = logger.child({ component: 'vault' });
  const metrics = new ProviderMetrics({ version: VERSION });
  // Opened first: an audit file that cannot be written stops the start before anything listens.
  const audit = new MountAuditor({ sink: settings.auditLogFile === undefined ? loggerAuditSink(logger) : fileAuditSink(settings.auditLogFile) });
  // What a SecretProviderClass or pod may point the provider at (SECURITY.md). The provider's own credentials are
  // protected whatever the flags say.
  const trustPolicy = buildTrustPolicy(
    settings.trust ?? NO_TRUST_FLAGS,
    settings.defaults,
    [overrides.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, ...(settings.hmacKeyFile === undefined || settings.hmacKeyFile === '' ? [] : [settings.hmacKeyFile])],
  );
  if (trustPolicy.vaultAddresses === 'any') {
    logger.warn('--allowed-vault-addresses=*: any SecretProviderClass or pod may send its ServiceAccount token to any Vault address');
  }
  // One gate and one health record per Vault address, shared by every client: the bounds hold per address whatever
  // mix of SecretProviderClasses reaches it, and a failed node is skipped by every mount.
  const gates = new AddressGates(settings.vaultLimits ?? DEFAULT_GATE_LIMITS, overrides.gateClock ?? realGateClock, {
    onWait: (wait) => metrics.vaultWait(wait),
    onThrottled: () => metrics.vaultThrottled(),
  });
  const addressHealth = new AddressHealth(overrides.now === undefined ? {} : { now: overrides.now });
  const clients = new VaultClientPool({
    requestTimeoutMs: settings.requestTimeoutMs,
    gates,
    trust: trustPolicy,
    ...(overrides.tlsFiles === undefined ? {} : { tlsFiles: overrides.tlsFiles }),
    client: {
      onRetry: (failure, attempt, delayMs) =>
        vaultLog.debug({ attempt, delayMs, code: failure.error.code, vaultPath: failure.error.context.vaultPath }, 'retrying a Vault request'),
      health: addressHealth,
      onFailover: (failure, from, to) => {
        metrics.vaultFailover();
        vaultLog.info({ from, to, code: failure.error.code, httpStatus: failure.error.context.httpStatus }, 'moving on to the next Vault address');
      },
      ...overrides.vaultClient,
      onRequest: (event) => {
        metrics.vaultRequest(event);
        overrides.vaultClient?.onRequest?.(event);
      },
    },
  });
  const auth = new Authenticator({
    cacheSize: settings.cacheSize,
    onLogin: (result) => metrics.login(result),
    onCache: (event) => metrics.cacheEvent('token', event),
    ...(tokenRequester === undefined ? {} : { tokenRequester }),
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  });
  const mountLog = logger.child({ component: 'mount' });
  const leases = new LeaseCache({
    maxEntries: settings.leaseCacheSize ?? DEFAULT_LEASE_CACHE_SIZE,
    maxBytes: settings.leaseCacheMaxBytes ?? DEFAULT_LEASE_CACHE_BYTES,
    onEvict: () => metrics.cacheEvent('lease', 'eviction'),
    ...(settings.leaseReuseFraction === undefined ? {} : { fraction: settings.leaseReuseFraction }),
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  });
  metrics.cacheSize('token', () => auth.cachedTokens);
  metrics.cacheSize('lease', () => leases.size);
  const reuse = new ResponseReuse({
    leases,
    // A kept lease answering a republish is a lease-cache hit; joining an identical request in flight is a hit of
    // the single-flight table. Static reads are never kept, so a lease "miss" would only count every static read.
    onEvent: (event) => {
      if (event === 'reused') metrics.cacheEvent('lease', 'hit');
      else if (event === 'shared') metrics.cacheEvent('single_flight', 'hit');
    },
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  });
  const writer = settings.writeFiles
    ? new AtomicWriter({ logger: logger.child({ component: 'writer' }), ...(overrides.writerFs === undefined ? {} : { fs: overrides.writerFs }) })
    : undefined;
  const admission = new MountAdmission({
    nodeBytes: settings.memoryBudgetBytes ?? DEFAULT_ADMISSION_LIMITS.nodeBytes,
    mountBytes: settings.mountResponseBudgetBytes ?? Math.min(DEFAULT_ADMISSION_LIMITS.mountBytes, settings.memoryBudgetBytes ?? Number.POSITIVE_INFINITY),
    maxMounts: settings.maxMountsInFlight ?? DEFAULT_ADMISSION_LIMITS.maxMounts,
  });
  metrics.bytesInFlight(() => admission.bytesInFlight);
  const mounts = new MountService({
    defaults: settings.defaults,
    mountResponseBytes: admission.limits.mountBytes,
    clients,
    auth,
    hmacKey,
    ...(writer === undefined ? {} : { writer }),
    reuse,
    trust: new TrustBoundary(trustPolicy, settings.defaults),
    onIgnoredParameters: (names) => mountLog.debug({ parameters: names }, 'ignoring unknown parameters'),
  });

  let inflight = 0;
  const server: ProviderGrpcServer = new ProviderGrpcServer({
    endpoint: settings.endpoint,
    handlers: {
      Version: versionHandler,
      Mount: createMountHandler({
        mounts,
        logger: logger.child({ component: 'server' }),
        accepting: () => server.state === 'serving',
        admission,
        ...(settings.mountTimeBudgetMs === undefined ? {} : { defaultTimeBudgetMs: settings.mountTimeBudgetMs }),
        onMountStart: () => {
          inflight++;
          metrics.mountStarted();
        },
        onMountEnd: (outcome) => {
          inflight--;
          const grpcCode = GrpcStatus[outcome.grpcCode] ?? String(outcome.grpcCode);
          metrics.mountFinished({ result: outcome.result, grpcCode, durationMs: outcome.durationMs });
          audit.record({
            config: outcome.config,
            mounted: outcome.mounted,
            error: outcome.error,
            result: outcome.result,
            grpcCode,
            durationMs: outcome.durationMs,
          });
        },
      }),
    },
  });

  let health: HealthServer | undefined;
  let healthAddress: AddressInfo | undefined;
  try {
    const existing = await server.start();
    if (existing !== 'none') logger.info({ endpoint: server.endpoint, existing }, 'replaced what was left at the socket path');
    if (settings.healthAddr !== '') {
      health = new HealthServer(() => server.state === 'serving', [metricsRoute(metrics)]);
      healthAddress = await health.listen(settings.healthAddr);
    }
  } catch (err: unknown) {
    await server.drain(0).catch(() => undefined);
    await clients.close();
    await audit.close();
    throw err;
  }
  logger.info(
    { endpoint: server.endpoint, health: healthAddress === undefined ? undefined : `${healthAddress.address}:${healthAddress.port}`, hmacKey: hmacKey.description, writeFiles: settings.writeFiles, inCluster: cluster !== undefined, allowedVaultAddresses: trustPolicy.vaultAddresses, allowedTlsDirectories: trustPolicy.tlsDirectories, allowSkipTlsVerify: trustPolicy.allowSkipTlsVerify },
    'provider serving',
  );

  let stopping: Promise<void> | undefined;
  return {
    endpoint: server.endpoint,
    healthAddress,
    mounts,
    auth,
    leases,
    gates,
    metrics,
    audit,
    admission,
    inflight: () => inflight,
    stop(graceMs = 20_000) {
      stopping ??= (async () => {
        server.beginDrain();
        const outcome = await server.drain(graceMs);
        logger.info({ outcome, inflight, socket: server.released }, 'gRPC server stopped');
        await clients.close();
        await audit.close();
        await health?.close();
      })();
      return stopping;
    },
  };
}
