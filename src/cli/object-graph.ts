/**
 * The provider's object graph, one named step each: settings → trust policy → Vault clients → mount service. The
 * daemon (daemon.ts) builds its Kubernetes pieces and servers around these; the `mount` subcommand
 * (mount-command.ts) builds exactly these, so a mount run from a shell goes through the same pieces, made the same
 * way, as one on a node.
 */
import { readdir, realpath } from 'node:fs/promises';
import type { ProviderSettings } from './flags.js';
import { DEFAULT_LEASE_CACHE_BYTES, DEFAULT_LEASE_CACHE_SIZE } from './flags.js';
import type { Logger } from '../observability/logger.js';
import type { ProviderMetrics } from '../observability/metrics.js';
import { Authenticator } from '../auth/authenticator.js';
import type { ServiceAccountTokenRequester } from '../auth/authenticator.js';
import { VaultClientPool } from '../vault/client-pool.js';
import type { VaultClientOptions } from '../vault/client.js';
import type { TlsFileReader } from '../vault/tls-files.js';
import { AddressGates, DEFAULT_GATE_LIMITS } from '../vault/rate-limit.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { AddressHealth } from '../vault/client.js';
import { LeaseCache } from '../vault/lease-cache.js';
import { MountService } from '../conductor/mount-service.js';
import { ResponseReuse } from '../mount/response-reuse.js';
import { FileHmacKeySource, RandomHmacKeySource, type HmacKeySource } from '../mount/hmac-key.js';
import type { AtomicWriter } from '../output/atomic-writer.js';
import type { FsOps } from '../output/fs-ops.js';
import { buildTrustPolicy, NO_TRUST_FLAGS, TrustBoundary, type PathResolver, type TrustPolicy } from '../config/connection.js';
import { SERVICE_ACCOUNT_DIR } from '../kubernetes/cluster.js';
import { DEFAULT_ADMISSION_LIMITS, DEFAULT_MAX_MOUNTS_PER_NAMESPACE, DEFAULT_MAX_MOUNTS_QUEUED, MountAdmission } from '../admission/mount-admission.js';
import { objectsMemo } from '../config/objects.js';

/** What tests (and the `mount` subcommand) replace in the graph; everything else comes from the settings. */
export interface ProviderOverrides {
  /** Replaces the HMAC key source chosen from settings (tests use a fixed key). */
  readonly hmacKey?: HmacKeySource;
  /** Replaces the in-cluster TokenRequest client. */
  readonly tokenRequester?: ServiceAccountTokenRequester;
  /** The process environment used to detect a cluster (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly now?: Clock['now'];
  readonly vaultClient?: VaultClientOptions;
  /** Replaces how TLS files are read (tests wrap the real reader to see every path opened). */
  readonly tlsFiles?: TlsFileReader;
  /** Replaces the --write-files writer's filesystem calls (tests inject ENOSPC midway). */
  readonly writerFs?: FsOps;
  /** The clock of the per-address request gates (tests drive time by hand). */
  readonly gateClock?: Pick<Clock, 'monotonic' | 'sleep'>;
  /** The provider's own ServiceAccount directory, protected from every mount (default: the in-cluster path). */
  readonly serviceAccountDir?: string;
}

/** The real filesystem behind the trust boundary's path checks. */
export const nodePathResolver: PathResolver = {
  realpath: (path) => realpath(path),
  readdir: (path) => readdir(path),
};

const hmacKeyFileOf = (settings: ProviderSettings): string | undefined =>
  settings.hmacKeyFile === undefined || settings.hmacKeyFile === '' ? undefined : settings.hmacKeyFile;

/** The provider's own credentials are protected whatever the flags say (docs/security.md). */
export function trustPolicyFor(settings: ProviderSettings, serviceAccountDir: string = SERVICE_ACCOUNT_DIR): TrustPolicy {
  const keyFile = hmacKeyFileOf(settings);
  return buildTrustPolicy(settings.trust ?? NO_TRUST_FLAGS, settings.defaults, [serviceAccountDir, ...(keyFile === undefined ? [] : [keyFile])]);
}

/** --hmac-key-file when given, else `fallback` (the daemon's Kubernetes Secret), else a random key for this run. */
export function hmacKeyFor(settings: ProviderSettings, fallback?: () => HmacKeySource | undefined): { readonly source: HmacKeySource; readonly random: boolean } {
  const keyFile = hmacKeyFileOf(settings);
  if (keyFile !== undefined) return { source: new FileHmacKeySource(keyFile), random: false };
  const source = fallback?.();
  return source === undefined ? { source: new RandomHmacKeySource(), random: true } : { source, random: false };
}

export interface VaultParts {
  /** Per-Vault-address gates (in-flight bound, rate, backoff). */
  readonly gates: AddressGates;
  readonly clients: VaultClientPool;
}

/** Per address and shared, so the bounds hold whatever mix of mounts reaches it and a failed node is skipped by all. */
export function buildVaultClients(
  settings: ProviderSettings,
  trust: TrustPolicy,
  metrics: ProviderMetrics,
  logger: Logger,
  overrides: Pick<ProviderOverrides, 'gateClock' | 'now' | 'tlsFiles' | 'vaultClient'>,
): VaultParts {
  const vaultLog = logger.child({ component: 'vault' });
  const gates = new AddressGates(settings.vaultLimits ?? DEFAULT_GATE_LIMITS, overrides.gateClock ?? systemClock, {
    onWait: (wait) => metrics.vaultWait(wait),
    onThrottled: () => metrics.vaultThrottled(),
    onNodeBackoff: (cause) => metrics.vaultNodeBackoff(cause),
  });
  const clients = new VaultClientPool({
    requestTimeoutMs: settings.requestTimeoutMs,
    gates,
    ...(settings.vaultResponseMaxValues === undefined ? {} : { maxResponseValues: settings.vaultResponseMaxValues }),
    trust,
    ...(overrides.tlsFiles === undefined ? {} : { tlsFiles: overrides.tlsFiles }),
    client: {
      onRetry: (failure, attempt, delayMs) =>
        vaultLog.debug({ attempt, delayMs, code: failure.error.code, vaultPath: failure.error.context.vaultPath }, 'retrying a Vault request'),
      health: new AddressHealth(overrides.now === undefined ? {} : { now: overrides.now }),
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
  return { gates, clients };
}

export interface MountParts {
  readonly auth: Authenticator;
  /** Leased responses (dynamic credentials, certificates) kept per pod for reuse on republish. */
  readonly leases: LeaseCache;
  /** Admission control: mounts in progress and the bytes they hold. */
  readonly admission: MountAdmission;
  readonly mounts: MountService;
}

export interface MountDeps {
  readonly clients: VaultClientPool;
  readonly trust: TrustPolicy;
  readonly hmacKey: HmacKeySource;
  readonly metrics: ProviderMetrics;
  /** Fetches a ServiceAccount token when the driver sent none for the audience (in a cluster). */
  readonly tokenRequester: ServiceAccountTokenRequester | undefined;
  /** Writes the files itself: the daemon with --write-files, the `mount` subcommand always. */
  readonly writer: AtomicWriter | undefined;
  /** A parsed request asked for parameters the provider does not know. */
  readonly onIgnoredParameters: (names: readonly string[]) => void;
  /** Before a mount asks the caches (the daemon's kept state, src/state/). */
  readonly beforeCaches?: () => Promise<void>;
}

/** The token cache, lease cache, admission control and the MountService over them. */
export function buildMountService(settings: ProviderSettings, deps: MountDeps, overrides: Pick<ProviderOverrides, 'now'>): MountParts {
  const { metrics, tokenRequester } = deps;
  const now = overrides.now === undefined ? {} : { now: overrides.now };
  const auth = new Authenticator({
    cacheSize: settings.cacheSize,
    onLogin: (result) => metrics.login(result),
    onCache: (event) => metrics.cacheEvent('token', event),
    ...(tokenRequester === undefined ? {} : { tokenRequester }),
    ...now,
  });
  const leases = new LeaseCache({
    maxEntries: settings.leaseCacheSize ?? DEFAULT_LEASE_CACHE_SIZE,
    maxBytes: settings.leaseCacheMaxBytes ?? DEFAULT_LEASE_CACHE_BYTES,
    onEvict: () => metrics.cacheEvent('lease', 'eviction'),
    ...(settings.leaseReuseFraction === undefined ? {} : { fraction: settings.leaseReuseFraction }),
    ...now,
  });
  if (settings.objectsCacheMaxBytes !== undefined) objectsMemo.configure({ maxBytes: settings.objectsCacheMaxBytes });
  metrics.cacheSize('objects', () => objectsMemo.size);
  metrics.cacheBytes('objects', () => objectsMemo.bytes);
  metrics.cacheSize('token', () => auth.cachedTokens);
  metrics.cacheSize('lease', () => leases.size);
  metrics.cacheBytes('lease', () => leases.bytes);
  const reuse = new ResponseReuse({
    leases,
    // A kept lease answering a republish is a lease-cache hit; joining an identical request in flight is a hit of
    // the single-flight table. Static reads are never kept, so a lease "miss" would only count every static read.
    onEvent: (event) => {
      if (event === 'reused') metrics.cacheEvent('lease', 'hit');
      else if (event === 'shared') metrics.cacheEvent('single_flight', 'hit');
    },
    ...now,
  });
  const admission = new MountAdmission(
    {
      nodeBytes: settings.memoryBudgetBytes ?? DEFAULT_ADMISSION_LIMITS.nodeBytes,
      mountBytes: settings.mountResponseBudgetBytes ?? Math.min(DEFAULT_ADMISSION_LIMITS.mountBytes, settings.memoryBudgetBytes ?? Number.POSITIVE_INFINITY),
      maxMounts: settings.maxMountsInFlight ?? DEFAULT_ADMISSION_LIMITS.maxMounts,
      maxMountsPerNamespace: settings.maxMountsInFlightPerNamespace ?? DEFAULT_MAX_MOUNTS_PER_NAMESPACE,
      maxQueued: settings.maxMountsQueued ?? DEFAULT_MAX_MOUNTS_QUEUED,
    },
    { onWait: (wait) => metrics.admissionWait(wait) },
  );
  metrics.bytesInFlight(() => admission.bytesInFlight);
  metrics.mountsQueued(() => admission.mountsQueued);
  const mounts = new MountService({
    mountResponseBytes: admission.limits.mountBytes,
    clients: deps.clients,
    auth,
    hmacKey: deps.hmacKey,
    ...(deps.writer === undefined ? {} : { writer: deps.writer }),
    reuse,
    trust: new TrustBoundary(deps.trust, settings.defaults, nodePathResolver),
    onIgnoredParameters: deps.onIgnoredParameters,
    ...(deps.beforeCaches === undefined ? {} : { beforeCaches: deps.beforeCaches }),
  });
  return { auth, leases, admission, mounts };
}
