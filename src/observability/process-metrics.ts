/**
 * The process_* and nodejs_* families a Node service is expected to export, each read when Prometheus scrapes.
 * Not prom-client's collectDefaultMetrics: its event-loop-lag histogram keeps a 10 ms libuv timer running for the
 * life of the process (most of 600 ms of CPU a minute at rest, docs/benchmark.md#at-rest), and prom-client 15 has no
 * way to leave that one out. Names, types and units are the ones prom-client and the other Prometheus clients use.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
/** V8's GC kinds (perf_hooks.constants.NODE_PERFORMANCE_GC_*), by their bit. */
const GC_KINDS: ReadonlyMap<number, string> = new Map([
  [1, 'major'],
  [2, 'minor'],
  [4, 'incremental'],
  [8, 'weakcb'],
]);

/** Fields of /proc/self/status in bytes (Linux); undefined elsewhere. */
function procStatus(): Map<string, number> | undefined {
  let text: string;
  try {
    // A read of procfs does not block: it is answered from kernel memory.
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const fields = new Map<string, number>();
  for (const m of text.matchAll(/^(Vm\w+):\s+(\d+) kB$/gm)) fields.set(m[1]!, Number(m[2]) * 1024);
  return fields;
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // less the one readdir itself opened
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Registers the families on `registry`; the returned function stops the GC observer. */
export function registerProcessMetrics(registry: Registry): () => void {
  const registers = [registry];
  let lastCpu = process.cpuUsage();
  // The first of the three collects for all (a registry collects in the order of registration).
  new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const user = (now.user - lastCpu.user) / 1e6;
      const system = (now.system - lastCpu.system) / 1e6;
      lastCpu = now;
      this.inc(user);
      cpuSystem.inc(system);
      cpuTotal.inc(user + system);
    },
  });
  const cpuSystem = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers });
  const cpuTotal = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers });
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers }).set(
    Math.round((Date.now() - performance.now()) / 1000),
  );
  const virtual = new Gauge({ name: 'process_virtual_memory_bytes', help: 'Virtual memory size in bytes.', registers });
  const heap = new Gauge({ name: 'process_heap_bytes', help: 'Process heap size in bytes.', registers });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      const status = procStatus();
      this.set(status?.get('VmRSS') ?? process.memoryUsage.rss());
      const size = status?.get('VmSize');
      const data = status?.get('VmData');
      if (size !== undefined) virtual.set(size);
      if (data !== undefined) heap.set(data);
    },
  });
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers,
    collect() {
      const n = openFds();
      if (n !== undefined) this.set(n);
    },
  });
  const limit = maxFds();
  if (limit !== undefined) new Gauge({ name: 'process_max_fds', help: 'Maximum number of open file descriptors.', registers }).set(limit);

  const heapTotal = new Gauge({ name: 'nodejs_heap_size_total_bytes', help: 'Process heap size from Node.js in bytes.', registers });
  const external = new Gauge({ name: 'nodejs_external_memory_bytes', help: 'Node.js external memory size in bytes.', registers });
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used from Node.js in bytes.',
    registers,
    collect() {
      const usage = process.memoryUsage();
      this.set(usage.heapUsed);
      heapTotal.set(usage.heapTotal);
      external.set(usage.external);
    },
  });
  new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds, measured at the scrape (from the scrape to the next check phase).',
    registers,
    async collect() {
      const start = performance.now();
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.set((performance.now() - start) / 1000);
    },
  });
  const [major, minor, patch] = process.versions.node.split('.');
  new Gauge({ name: 'nodejs_version_info', help: 'Node.js version info.', labelNames: ['version', 'major', 'minor', 'patch'], registers }).set(
    { version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' },
    1,
  );

  // GC pauses as V8 reports them: an event per collection, no timer.
  const gc = new Histogram({ name: 'nodejs_gc_duration_seconds', help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.', labelNames: ['kind'], buckets: GC_BUCKETS, registers });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind;
      gc.observe({ kind: GC_KINDS.get(kind ?? 0) ?? 'unknown' }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
