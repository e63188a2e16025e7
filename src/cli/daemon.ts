/**
 * Wiring: settings → the running daemon (gRPC server, health server, Vault clients, token cache, HMAC key), in named
 * steps: Kubernetes pieces, logs and metrics, the shared graph of object-graph.ts (trust policy, Vault clients, mount
 * service), then the servers. Used by main.ts and by the end-to-end tests, which start the real thing on a
 * temporary socket.
 *
 * Start order: the kept state is read (--state-dir) before the socket is taken over, so the first mount the new
 * instance serves already finds what the last one kept. Shutdown order is fixed: the kept state is written, readiness
 * turns 503, the socket path is given up if it is still ours (to a live sibling, else removed), the gRPC server stops
 * listening (GOAWAY to open connections) and lets in-flight mounts finish (bounded), the kept state is written
 * again, Vault connections close, then the Kubernetes client's, the audit sink closes, the health server closes.
 */
import type { AddressInfo } from 'node:net';
import type { ProviderSettings } from './flags.js';
import type { Logger } from '../observability/logger.js';
import { HealthServer } from '../observability/health.js';
import { metricsRoute, ProviderMetrics } from '../observability/metrics.js';
import { fileAuditSink, loggerAuditSink, MountAuditor } from '../observability/audit.js';
import { VERSION } from '../version.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ServiceAccountTokenRequester } from '../auth/authenticator.js';
import type { MountService } from '../conductor/mount-service.js';
import type { LeaseCache } from '../vault/lease-cache.js';
import type { HmacKeySource } from '../mount/hmac-key.js';
import { AtomicWriter } from '../output/atomic-writer.js';
import { ProviderGrpcServer } from '../server/grpc-server.js';
import { createMountHandler, versionHandler } from '../server/mount-handler.js';
import { detectCluster, SERVICE_ACCOUNT_DIR, type ClusterInfo } from '../kubernetes/cluster.js';
import { KubeClient } from '../kubernetes/kube-client.js';
import { KubeTokenRequester } from '../kubernetes/token-requester.js';
import { KubeSecretHmacKeySource } from '../kubernetes/hmac-secret.js';
import type { AddressGates } from '../vault/rate-limit.js';
import type { MountAdmission } from '../admission/mount-admission.js';
import { buildMountService, buildVaultClients, hmacKeyFor, trustPolicyFor, type ProviderOverrides } from './object-graph.js';
import { KeptState } from '../state/kept-state.js';
import { DEFAULT_STATE_IDLE_TIMEOUT, DEFAULT_STATE_MAX_BYTES } from './flags.js';
import { parseGoDurationMs } from '../config/go-syntax.js';
import { codeCacheState } from '../boot/provider-cache.js';

export type { ProviderOverrides };

export interface RunningProvider {
  readonly endpoint: string;
  readonly healthAddress: AddressInfo | undefined;
  readonly mounts: MountService;
  readonly auth: Authenticator;
  readonly leases: LeaseCache;
  readonly gates: AddressGates;
  readonly metrics: ProviderMetrics;
  readonly audit: MountAuditor;
  readonly admission: MountAdmission;
  readonly kept: KeptState | undefined;
  stop(graceMs?: number): Promise<void>;
  inflight(): number;
}

interface KubernetesParts {
  readonly cluster: ClusterInfo | undefined;
  readonly hmacKey: HmacKeySource;
  readonly tokenRequester: ServiceAccountTokenRequester | undefined;
  close(): Promise<void>;
}

/** Step 1: the cluster we run in, if any, and what the provider asks of its API: the HMAC key Secret, TokenRequest. */
function buildKubernetes(settings: ProviderSettings, logger: Logger, overrides: ProviderOverrides): KubernetesParts {
  const cluster = detectCluster(overrides.env ?? process.env);
  // One client for both: one token file re-read, one connection pool.
  const kube = cluster === undefined ? undefined : new KubeClient(cluster.kubeConfig);
  const hmacKey =
    overrides.hmacKey ??
    hmacKeyFor(settings, () => {
      if (cluster !== undefined && kube !== undefined) return new KubeSecretHmacKeySource(kube, cluster.namespace, settings.hmacSecretName);
      logger.warn('not running in a cluster and no --hmac-key-file: object versions use a random key and change when the provider restarts');
      return undefined;
    }).source;
  // Off by default: the fallback needs create on serviceaccounts/token for every ServiceAccount of the cluster, and a
  // CSIDriver with tokenRequests (deploy/driver) never needs it.
  const tokenRequester = settings.tokenRequestFallback !== true ? undefined : (overrides.tokenRequester ?? (kube === undefined ? undefined : new KubeTokenRequester(kube)));
  return { cluster, hmacKey, tokenRequester, close: async () => kube?.close() };
}

/** Step 2: metrics, and the audit sink, opened first: an audit file that cannot be written stops the start before anything listens. */
function buildObservability(settings: ProviderSettings, logger: Logger): { readonly metrics: ProviderMetrics; readonly audit: MountAuditor } {
  const metrics = new ProviderMetrics({ version: VERSION });
  const audit = new MountAuditor({
    sink: settings.auditLogFile === undefined ? loggerAuditSink(logger) : fileAuditSink(settings.auditLogFile),
    ...(settings.auditStateMaxBytes === undefined ? {} : { maxBytes: settings.auditStateMaxBytes }),
  });
  return { metrics, audit };
}

/** How long the start waits for the kept state (the HMAC key may come from a slow API server); it goes on after. */
const RESTORE_WAIT_MS = 10_000;

/** Step 3b: the kept state over the caches, read before the socket is taken over (--state-dir). */
async function restoreKept(kept: KeptState | undefined): Promise<void> {
  if (kept === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([kept.restore(), new Promise<void>((ok) => (timer = setTimeout(ok, RESTORE_WAIT_MS)))]);
  clearTimeout(timer);
}

interface Servers {
  readonly endpoint: string;
  readonly healthAddress: AddressInfo | undefined;
  inflight(): number;
  stopGrpc(graceMs: number): Promise<void>;
  closeHealth(): Promise<void>;
}

/** Step 4: the gRPC server on the driver's socket, then the health and metrics server; one audit line per Mount. */
async function startServers(
  settings: ProviderSettings,
  logger: Logger,
  parts: { readonly mounts: MountService; readonly admission: MountAdmission; readonly metrics: ProviderMetrics; readonly audit: MountAuditor; readonly kept: KeptState | undefined },
): Promise<Servers> {
  const { metrics, audit } = parts;
  let inflight = 0;
  const server: ProviderGrpcServer = new ProviderGrpcServer({
    endpoint: settings.endpoint,
    onSocketRestored: (found) => logger.info({ endpoint: server.endpoint, found }, 'put this instance\'s socket back at the path'),
    handlers: {
      Version: versionHandler,
      Mount: createMountHandler({
        mounts: parts.mounts,
        parse: settings.defaults,
        logger: logger.child({ component: 'server' }),
        // A call grpc-js hands over during the drain was sent before the GOAWAY reached the driver: served, not
        // refused (after the GOAWAY new calls go to the path again, i.e. to the successor).
        accepting: () => server.state !== 'stopped',
        admission: parts.admission,
        ...(settings.mountTimeBudgetMs === undefined ? {} : { defaultTimeBudgetMs: settings.mountTimeBudgetMs }),
        onMountStart: () => {
          inflight++;
          metrics.mountStarted();
        },
        onMountEnd: (outcome) => {
          inflight--;
          parts.kept?.noteMount();
          metrics.mountFinished(outcome);
          audit.record(outcome);
        },
      }),
    },
  });

  let health: HealthServer | undefined;
  let healthAddress: AddressInfo | undefined;
  try {
    const existing = await server.start();
    if (existing !== 'none') logger.info({ endpoint: server.endpoint, existing }, 'took the socket path over');
    if (settings.healthAddr !== '') {
      health = new HealthServer(() => server.state === 'serving', [metricsRoute(metrics)]);
      healthAddress = await health.listen(settings.healthAddr);
    }
  } catch (err: unknown) {
    await server.drain(0).catch(() => undefined);
    throw err;
  }
  return {
    endpoint: server.endpoint,
    healthAddress,
    inflight: () => inflight,
    async stopGrpc(graceMs) {
      server.beginDrain();
      const outcome = await server.drain(graceMs);
      logger.info({ outcome, inflight, socket: server.released }, 'gRPC server stopped');
    },
    async closeHealth() {
      await health?.close();
    },
  };
}

export async function startProvider(settings: ProviderSettings, logger: Logger, overrides: ProviderOverrides = {}): Promise<RunningProvider> {
  const kubernetes = buildKubernetes(settings, logger, overrides);
  const { cluster, hmacKey, tokenRequester } = kubernetes;
  const { metrics, audit } = buildObservability(settings, logger);
  metrics.cacheSize('audit', () => audit.rememberedVolumes);
  metrics.cacheBytes('audit', () => audit.rememberedBytes);
  // Step 3, shared with the `mount` subcommand (object-graph.ts).
  const trust = trustPolicyFor(settings, overrides.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  if (trust.vaultAddresses === 'any') {
    logger.warn('--allowed-vault-addresses=* or --trust-policy=reference: any SecretProviderClass or pod may send its ServiceAccount token to any Vault address');
  }
  if (trust.authMounts === 'any' && settings.defaults.tls.clientCertPath !== undefined) {
    logger.warn('--allowed-auth-mounts=* or --trust-policy=reference with --vault-tls-client-cert: any SecretProviderClass or pod may log in at any auth mount while the provider presents its client certificate, so a cert auth role that trusts it logs them in as the provider');
  }
  const { gates, clients } = buildVaultClients(settings, trust, metrics, logger, overrides);
  const writer = settings.writeFiles
    ? new AtomicWriter({ logger: logger.child({ component: 'writer' }), ...(overrides.writerFs === undefined ? {} : { fs: overrides.writerFs }) })
    : undefined;
  const mountLog = logger.child({ component: 'mount' });
  let kept: KeptState | undefined;
  const { auth, leases, admission, mounts } = buildMountService(
    settings,
    {
      clients,
      trust,
      hmacKey,
      metrics,
      tokenRequester,
      writer,
      onIgnoredParameters: (names) => mountLog.debug({ parameters: names }, 'ignoring unknown parameters'),
      beforeCaches: () => kept?.sync() ?? Promise.resolve(),
    },
    overrides,
  );
  if (settings.stateDir !== undefined) {
    kept = new KeptState({
      dir: settings.stateDir,
      endpoint: settings.endpoint,
      hmacKey,
      auth,
      leases,
      maxBytes: settings.stateMaxBytes ?? DEFAULT_STATE_MAX_BYTES,
      idleMs: settings.stateIdleMs ?? parseGoDurationMs(DEFAULT_STATE_IDLE_TIMEOUT)!,
      log: logger.child({ component: 'state' }),
      onEvent: (event) => metrics.keptState(event),
      ...(overrides.now === undefined ? {} : { now: overrides.now }),
    });
  }
  await restoreKept(kept);

  // What outlives the servers, closed after them in this order.
  const closeGraph = async (): Promise<void> => {
    await clients.close();
    await kubernetes.close();
    await audit.close();
  };
  let servers: Servers;
  try {
    servers = await startServers(settings, logger, { mounts, admission, metrics, audit, kept });
  } catch (err: unknown) {
    await closeGraph();
    metrics.close();
    throw err;
  }
  logger.info(
    { endpoint: servers.endpoint, state: kept?.file, health: servers.healthAddress === undefined ? undefined : `${servers.healthAddress.address}:${servers.healthAddress.port}`, hmacKey: hmacKey.description, writeFiles: settings.writeFiles, inCluster: cluster !== undefined, allowedVaultAddresses: trust.vaultAddresses, allowedTlsDirectories: trust.tlsDirectories, allowSkipTlsVerify: trust.allowSkipTlsVerify, allowedAuthMounts: trust.authMounts, codeCache: codeCacheState() },
    'provider serving',
  );

  let stopping: Promise<void> | undefined;
  return {
    endpoint: servers.endpoint,
    healthAddress: servers.healthAddress,
    mounts,
    auth,
    leases,
    gates,
    metrics,
    audit,
    admission,
    kept,
    inflight: () => servers.inflight(),
    stop(graceMs = 20_000) {
      stopping ??= (async () => {
        // What is kept goes to the file at once, for the instance taking over; again once the drain is done.
        const early = kept?.flush();
        await servers.stopGrpc(graceMs);
        await early;
        await kept?.close();
        await closeGraph();
        await servers.closeHealth();
        metrics.close();
      })();
      return stopping;
    },
  };
}
