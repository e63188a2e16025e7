import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../../src/observability/process-metrics.js';

/** `name{labels} value` lines of one family. */
function values(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m !== null) out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}

describe('observability/process-metrics', () => {
  it('exports the process and Node families, read at each scrape', async () => {
    const registry = new Registry();
    const close = registerProcessMetrics(registry);
    try {
      const first = await registry.metrics();
      for (const name of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total', 'process_start_time_seconds', 'process_resident_memory_bytes', 'process_virtual_memory_bytes', 'process_heap_bytes', 'process_open_fds', 'process_max_fds', 'nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
        assert.equal(values(first, name).size, 1, name);
      }
      assert.match(first, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
      assert.equal(values(first, 'nodejs_version_info').get(`{version="${process.version}",major="${process.versions.node.split('.')[0]}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}"}`), 1);
      assert.ok(values(first, 'process_resident_memory_bytes').get('')! > 1024 * 1024);
      const start = values(first, 'process_start_time_seconds').get('')!;
      assert.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 2, 'the process start, in seconds since the epoch');
      // CPU counters grow by what was used between scrapes; the total is user plus system.
      let x = 0;
      for (let i = 0; i < 2e6; i++) x += i;
      assert.ok(x > 0);
      const second = await registry.metrics();
      const user = values(second, 'process_cpu_user_seconds_total').get('')!;
      const system = values(second, 'process_cpu_system_seconds_total').get('')!;
      assert.ok(user >= values(first, 'process_cpu_user_seconds_total').get('')!);
      assert.ok(Math.abs(values(second, 'process_cpu_seconds_total').get('')! - (user + system)) < 1e-9);
    } finally {
      close();
    }
  });
});
