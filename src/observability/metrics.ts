/**
 * Prometheus metrics on their own Registry (two providers in one process keep separate counts). Every label value
 * comes from a small fixed set: a series per pod, path or role would fell a metrics backend and name secrets.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from './process-metrics.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { ErrorCode } from '../errors.js';
import type { VaultRequestEvent } from '../vault/client.js';
import type { GateWait } from '../vault/rate-limit.js';
import type { AdmissionWait } from '../admission/mount-admission.js';
import type { ExtraRoute } from './health.js';

export const METRIC_PREFIX = 'vault_csi_provider_';

export const CacheEvents = ['hit', 'miss', 'eviction'] as const;
export type CacheEvent = (typeof CacheEvents)[number];

/** A cache name is a constant of our code (`token`, `lease`, ...): lower-case, short, and few of them. */
const CACHE_NAME = /^[a-z][a-z0-9_]{0,31}$/;
const MAX_CACHE_NAMES = 16;

/** Anything else is folded into its class: a vaultAddress pointed at an attacker's server must not mint series. */
const KNOWN_STATUSES: ReadonlySet<number> = new Set([200, 204, 307, 400, 401, 403, 404, 405, 412, 429, 472, 473, 500, 501, 502, 503, 504]);

export function vaultStatusLabel(httpStatus: number | undefined): string {
  if (httpStatus === undefined || !Number.isInteger(httpStatus)) return 'network_error';
  if (KNOWN_STATUSES.has(httpStatus)) return String(httpStatus);
  if (httpStatus >= 100 && httpStatus < 600) return `${Math.floor(httpStatus / 100)}xx`;
  return 'other';
}

export interface MountMetricsOutcome {
  readonly result: 'ok' | ErrorCode;
  readonly grpcCode: string;
  readonly durationMs: number;
}

export interface MetricsOptions {
  /** process_* and nodejs_* metrics, read at each scrape (process-metrics.ts; default true). */
  readonly processMetrics?: boolean;
  readonly version?: string;
  /** Watch the event loop while mounts are in flight, for event_loop_delay_seconds (default true; a one-shot CLI run has no use for it). */
  readonly eventLoopDelay?: boolean;
  /** What the event-loop monitor's lull is timed by (default: the system clock). */
  readonly clock?: Pick<Clock, 'after' | 'monotonic'>;
}

/** How often the event-loop monitor's timer (libuv's, not ours) looks: the finest delay it can see. */
export const EVENT_LOOP_RESOLUTION_MS = 10;
/** The quantiles of event_loop_delay_seconds; 1 is the largest delay seen. */
const EVENT_LOOP_QUANTILES = [0.5, 0.9, 0.99, 1] as const;

/** The samples are intervals between the monitor's ticks, so the resolution is taken off. */
export function eventLoopDelaySeconds(histogram: Pick<IntervalHistogram, 'count' | 'percentile' | 'max'>, quantile: number, resolutionMs = EVENT_LOOP_RESOLUTION_MS): number {
  if (histogram.count === 0) return 0;
  const ns = quantile >= 1 ? histogram.max : histogram.percentile(quantile * 100);
  return Math.max(0, ns / 1e9 - resolutionMs / 1000);
}

/** How long the event-loop monitor outlives the last mount in flight: one stop per lull, not one per mount. */
export const LOOP_WATCH_LINGER_MS = 2_000;

/**
 * The event-loop monitor runs only while mounts are in flight (and LOOP_WATCH_LINGER_MS after): at rest nothing
 * waits on the loop, and its 10 ms timer was most of the CPU an idle provider used. Stopping it after every mount
 * cost more than a republish's Vault read, so it stops when a lull is due. A busy period that ends before the scrape
 * is kept as its quantiles, since a monitor must be reset before it is enabled again (else its first sample is the
 * whole pause).
 */
class LoopWatch {
  readonly #monitor: IntervalHistogram;
  readonly #enabled: boolean;
  readonly #clock: Pick<Clock, 'after' | 'monotonic'>;
  /** Delays by quantile of the busy periods that ended since the last scrape: the largest of each. */
  readonly #ended = new Map<number, number>();
  #busy = 0;
  #watching = false;
  #idleSince = 0;
  #cancelLull: (() => void) | undefined;

  constructor(enabled: boolean, clock: Pick<Clock, 'after' | 'monotonic'>) {
    this.#monitor = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    this.#enabled = enabled;
    this.#clock = clock;
  }

  /** Whether the monitor's timer is running (tests). */
  get watching(): boolean {
    return this.#watching;
  }

  start(): void {
    if (this.#busy++ > 0 || !this.#enabled || this.#watching) return;
    this.#watching = true;
    this.#monitor.enable();
  }

  end(): void {
    if (this.#busy === 0 || --this.#busy > 0 || !this.#watching) return;
    this.#idleSince = this.#clock.monotonic();
    this.#cancelLull ??= this.#clock.after(LOOP_WATCH_LINGER_MS, () => this.#lull());
  }

  #lull(): void {
    this.#cancelLull = undefined;
    if (this.#busy > 0 || !this.#watching) return;
    const idle = this.#clock.monotonic() - this.#idleSince;
    if (idle < LOOP_WATCH_LINGER_MS) {
      this.#cancelLull = this.#clock.after(LOOP_WATCH_LINGER_MS - idle, () => this.#lull());
      return;
    }
    this.#watching = false;
    this.#monitor.disable();
    this.#keep();
    this.#monitor.reset();
  }

  /**
   * By quantile, since the previous scrape; then starts over. The largest of each part: exact for quantile 1, an
   * upper bound for the others when more than one busy period fell between two scrapes.
   */
  scrape(): Map<number, number> {
    this.#keep();
    this.#monitor.reset();
    const out = new Map(EVENT_LOOP_QUANTILES.map((q) => [q, this.#ended.get(q) ?? 0]));
    this.#ended.clear();
    return out;
  }

  close(): void {
    this.#busy = 0;
    this.#watching = false;
    this.#cancelLull?.();
    this.#cancelLull = undefined;
    this.#monitor.disable();
  }

  #keep(): void {
    for (const q of EVENT_LOOP_QUANTILES) this.#ended.set(q, Math.max(this.#ended.get(q) ?? 0, eventLoopDelaySeconds(this.#monitor, q)));
  }
}

// A mount is a login plus a few reads: usually milliseconds, up to kubelet's 2-minute budget when Vault is slow.
const MOUNT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const VAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ProviderMetrics {
  readonly registry: Registry;
  readonly #mounts: Counter<'result' | 'grpc_code'>;
  readonly #mountDuration: Histogram<'result'>;
  readonly #inflight: Gauge;
  readonly #vaultRequests: Counter<'operation' | 'status'>;
  readonly #vaultDuration: Histogram<'operation'>;
  readonly #logins: Counter<'result'>;
  readonly #cacheEvents: Counter<'cache' | 'event'>;
  readonly #vaultWait: Histogram<'cause'>;
  readonly #vaultThrottled: Counter;
  readonly #vaultNodeBackoffs: Counter<'cause'>;
  readonly #admissionWait: Histogram<'result'>;
  readonly #mountsQueued: { source: () => number } = { source: () => 0 };
  readonly #vaultFailovers: Counter;
  readonly #keptState: Counter<'event'>;
  readonly #cacheSizes = new Map<string, () => number>();
  readonly #cacheBytes = new Map<string, () => number>();
  readonly #loop: LoopWatch;
  readonly #closeProcessMetrics: () => void;
  /** Holder of the byte count's source, read by the gauge's collect (which runs with the gauge as `this`). */
  readonly #bytesInFlight: { source: () => number } = { source: () => 0 };
  readonly #cacheNames = new Set<string>();

  constructor(options: MetricsOptions = {}) {
    const registry = new Registry();
    this.registry = registry;
    this.#mounts = new Counter({
      name: `${METRIC_PREFIX}mounts_total`,
      help: 'Mount requests finished, by result (ok or the error code) and gRPC status.',
      labelNames: ['result', 'grpc_code'],
      registers: [registry],
    });
    this.#mountDuration = new Histogram({
      name: `${METRIC_PREFIX}mount_duration_seconds`,
      help: 'Time from receiving a Mount to answering it, by result.',
      labelNames: ['result'],
      buckets: MOUNT_BUCKETS,
      registers: [registry],
    });
    this.#inflight = new Gauge({
      name: `${METRIC_PREFIX}mounts_in_flight`,
      help: 'Mount requests being served right now.',
      registers: [registry],
    });
    this.#vaultRequests = new Counter({
      name: `${METRIC_PREFIX}vault_requests_total`,
      help: 'HTTP requests sent to Vault (each retry counts), by operation (login, lookup, read, write) and HTTP status.',
      labelNames: ['operation', 'status'],
      registers: [registry],
    });
    this.#vaultDuration = new Histogram({
      name: `${METRIC_PREFIX}vault_request_duration_seconds`,
      help: 'Duration of one HTTP request to Vault, by operation.',
      labelNames: ['operation'],
      buckets: VAULT_BUCKETS,
      registers: [registry],
    });
    this.#logins = new Counter({
      name: `${METRIC_PREFIX}vault_logins_total`,
      help: 'Vault logins with a pod ServiceAccount token, by result (ok, error).',
      labelNames: ['result'],
      registers: [registry],
    });
    this.#cacheEvents = new Counter({
      name: `${METRIC_PREFIX}cache_events_total`,
      help: 'Cache lookups and evictions, by cache and event (hit, miss, eviction).',
      labelNames: ['cache', 'event'],
      registers: [registry],
    });
    this.#vaultWait = new Histogram({
      name: `${METRIC_PREFIX}vault_request_wait_seconds`,
      help: 'Time a request to Vault waited at its address\'s gate before it was sent (--vault-max-in-flight, --vault-max-in-flight-per-tenant, --vault-rate-limit, a 429\'s Retry-After, a backoff), by the strongest cause (none, rate, tenant_in_flight, in_flight, backoff).',
      labelNames: ['cause'],
      buckets: VAULT_BUCKETS,
      registers: [registry],
    });
    this.#vaultThrottled = new Counter({
      name: `${METRIC_PREFIX}vault_throttled_total`,
      help: 'Answers of 429 (rate limited) from Vault; the tenant (pod namespace) it answered then waits for its Retry-After.',
      registers: [registry],
    });
    this.#vaultNodeBackoffs = new Counter({
      name: `${METRIC_PREFIX}vault_node_backoffs_total`,
      help: 'Times every request to a Vault address was paused, by cause: 429s for several tenants at once (throttled) or failures of several (failing).',
      labelNames: ['cause'],
      registers: [registry],
    });
    this.#admissionWait = new Histogram({
      name: `${METRIC_PREFIX}mount_admission_wait_seconds`,
      help: 'Time a Mount waited for a place (--max-mounts-in-flight, --max-mounts-in-flight-per-namespace), by result (admitted, refused, cancelled).',
      labelNames: ['result'],
      buckets: MOUNT_BUCKETS,
      registers: [registry],
    });
    const mountsQueued = this.#mountsQueued;
    new Gauge({
      name: `${METRIC_PREFIX}mounts_queued`,
      help: 'Mounts waiting for a place now (--max-mounts-queued).',
      registers: [registry],
      collect() {
        this.set(mountsQueued.source());
      },
    });
    this.#vaultFailovers = new Counter({
      name: `${METRIC_PREFIX}vault_failovers_total`,
      help: 'Requests moved on from a failed Vault address to the next one of a vaultAddress or --vault-addr list.',
      registers: [registry],
    });
    this.#keptState = new Counter({
      name: `${METRIC_PREFIX}kept_state_events_total`,
      help: 'The kept state file (--state-dir): restored at start, merged from another instance, written, ignored (another key, altered, too large), failed writes.',
      labelNames: ['event'],
      registers: [registry],
    });
    const sizes = this.#cacheSizes;
    new Gauge({
      name: `${METRIC_PREFIX}cache_entries`,
      help: 'Entries held by each in-memory cache.',
      labelNames: ['cache'],
      registers: [registry],
      collect() {
        for (const [cache, size] of sizes) this.set({ cache }, size());
      },
    });
    const cacheBytes = this.#cacheBytes;
    new Gauge({
      name: `${METRIC_PREFIX}cache_bytes`,
      help: 'Bytes held by each in-memory cache that is bounded in bytes, as the cache counts them against its bound.',
      labelNames: ['cache'],
      registers: [registry],
      collect() {
        for (const [cache, bytes] of cacheBytes) this.set({ cache }, bytes());
      },
    });
    // Read, then reset, at each scrape: each scrape sees the delays since the one before, and no timer of ours runs.
    const loop = new LoopWatch(options.eventLoopDelay ?? true, options.clock ?? systemClock);
    this.#loop = loop;
    new Gauge({
      name: `${METRIC_PREFIX}event_loop_delay_seconds`,
      help: `How late the event loop ran while mounts were in flight since the previous scrape (perf_hooks.monitorEventLoopDelay, ${EVENT_LOOP_RESOLUTION_MS} ms resolution), by quantile; quantile 1 is the largest delay. Reset at each scrape.`,
      labelNames: ['quantile'],
      registers: [registry],
      collect() {
        for (const [q, seconds] of loop.scrape()) this.set({ quantile: String(q) }, seconds);
      },
    });
    const bytesInFlight = this.#bytesInFlight;
    new Gauge({
      name: `${METRIC_PREFIX}memory_in_flight_bytes`,
      help: 'Bytes the mounts in flight hold against --memory-budget (Vault responses, parsed responses, file contents).',
      registers: [registry],
      collect() {
        this.set(bytesInFlight.source());
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}build_info`,
      help: 'Always 1; the provider version as a label.',
      labelNames: ['version'],
      registers: [registry],
    }).set({ version: options.version ?? 'unknown' }, 1);
    this.#closeProcessMetrics = (options.processMetrics ?? true) ? registerProcessMetrics(registry) : () => undefined;
  }

  mountStarted(): void {
    this.#inflight.inc();
    this.#loop.start();
  }

  mountFinished(outcome: MountMetricsOutcome): void {
    this.#inflight.dec();
    this.#loop.end();
    this.#mounts.inc({ result: outcome.result, grpc_code: outcome.grpcCode });
    this.#mountDuration.observe({ result: outcome.result }, outcome.durationMs / 1000);
  }

  vaultRequest(event: VaultRequestEvent): void {
    this.#vaultRequests.inc({ operation: event.operation, status: vaultStatusLabel(event.httpStatus) });
    this.#vaultDuration.observe({ operation: event.operation }, event.durationMs / 1000);
  }

  vaultWait(wait: GateWait): void {
    this.#vaultWait.observe({ cause: wait.cause ?? 'none' }, wait.waitedMs / 1000);
  }

  vaultThrottled(): void {
    this.#vaultThrottled.inc();
  }

  vaultNodeBackoff(cause: 'throttled' | 'failing'): void {
    this.#vaultNodeBackoffs.inc({ cause });
  }

  admissionWait(wait: AdmissionWait): void {
    this.#admissionWait.observe({ result: wait.result }, wait.waitedMs / 1000);
  }

  mountsQueued(count: () => number): void {
    this.#mountsQueued.source = count;
  }

  vaultFailover(): void {
    this.#vaultFailovers.inc();
  }

  keptState(event: 'restored' | 'merged' | 'written' | 'ignored' | 'write_error'): void {
    this.#keptState.inc({ event });
  }

  login(result: 'ok' | 'error'): void {
    this.#logins.inc({ result });
  }

  /** `cache` must be a constant of the calling code, never data from a request. */
  cacheEvent(cache: string, event: CacheEvent): void {
    this.#checkCacheName(cache);
    this.#cacheEvents.inc({ cache, event });
  }

  bytesInFlight(bytes: () => number): void {
    this.#bytesInFlight.source = bytes;
  }

  cacheSize(cache: string, size: () => number): void {
    this.#checkCacheName(cache);
    this.#cacheSizes.set(cache, size);
  }

  cacheBytes(cache: string, bytes: () => number): void {
    this.#checkCacheName(cache);
    this.#cacheBytes.set(cache, bytes);
  }

  /** Whether the event-loop monitor's timer runs (only while mounts are in flight). */
  get watchingEventLoop(): boolean {
    return this.#loop.watching;
  }

  /** Stops the event-loop monitor and the GC observer. */
  close(): void {
    this.#loop.close();
    this.#closeProcessMetrics();
  }

  #checkCacheName(cache: string): void {
    if (this.#cacheNames.has(cache)) return;
    if (!CACHE_NAME.test(cache)) throw new RangeError(`cache name ${JSON.stringify(cache)} is not a short lower-case constant`);
    if (this.#cacheNames.size >= MAX_CACHE_NAMES) throw new RangeError(`more than ${MAX_CACHE_NAMES} cache names`);
    this.#cacheNames.add(cache);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export function metricsRoute(metrics: ProviderMetrics): ExtraRoute {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
      res.end('method not allowed\n');
      return true;
    }
    try {
      const body = await metrics.render();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      // A failing collect callback is our bug; the scrape shows an error rather than half a page.
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('metrics collection failed\n');
    }
    return true;
  };
}
