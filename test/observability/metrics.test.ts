/**
 * Metrics: names and labels as Prometheus expects them, label values bounded whatever Vault answers, and the
 * /metrics route on the real health server.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HealthServer } from '../../src/observability/health.js';
import { ManualClock } from '../helpers/clocks.js';
import { EVENT_LOOP_RESOLUTION_MS, eventLoopDelaySeconds, LOOP_WATCH_LINGER_MS, metricsRoute, ProviderMetrics, vaultStatusLabel } from '../../src/observability/metrics.js';
import { samples } from '../helpers/prometheus.js';

describe('observability/metrics', () => {
  it('counts mounts by result and gRPC code, observes durations, and tracks mounts in flight', async () => {
    const m = new ProviderMetrics({ processMetrics: false, version: '1.2.3' });
    m.mountStarted();
    m.mountStarted();
    let text = await m.render();
    assert.equal(samples(text, 'vault_csi_provider_mounts_in_flight').get(''), 2);
    m.mountFinished({ result: 'ok', grpcCode: 'OK', durationMs: 40 });
    m.mountFinished({ result: 'SECRET_NOT_FOUND', grpcCode: 'NOT_FOUND', durationMs: 3000 });
    text = await m.render();
    assert.equal(samples(text, 'vault_csi_provider_mounts_in_flight').get(''), 0);
    const mounts = samples(text, 'vault_csi_provider_mounts_total');
    assert.equal(mounts.get('{result="ok",grpc_code="OK"}'), 1);
    assert.equal(mounts.get('{result="SECRET_NOT_FOUND",grpc_code="NOT_FOUND"}'), 1);
    const buckets = samples(text, 'vault_csi_provider_mount_duration_seconds_bucket');
    assert.equal(buckets.get('{le="0.05",result="ok"}'), 1);
    assert.equal(buckets.get('{le="0.025",result="ok"}'), 0);
    assert.equal(buckets.get('{le="2.5",result="SECRET_NOT_FOUND"}'), 0);
    assert.equal(buckets.get('{le="5",result="SECRET_NOT_FOUND"}'), 1);
    assert.equal(samples(text, 'vault_csi_provider_build_info').get('{version="1.2.3"}'), 1);
  });

  it('counts Vault requests by operation and folded status, logins, and cache events', async () => {
    const m = new ProviderMetrics({ processMetrics: false });
    m.vaultRequest({ operation: 'login', outcome: 'ok', httpStatus: 200, durationMs: 2 });
    m.vaultRequest({ operation: 'read', outcome: 'error', httpStatus: 403, durationMs: 1 });
    m.vaultRequest({ operation: 'read', outcome: 'error', httpStatus: 418, durationMs: 1 });
    m.vaultRequest({ operation: 'write', outcome: 'error', httpStatus: undefined, durationMs: 1 });
    m.login('ok');
    m.login('error');
    m.cacheEvent('token', 'hit');
    m.cacheEvent('token', 'hit');
    m.cacheEvent('token', 'miss');
    m.cacheEvent('lease', 'eviction');
    let entries = 3;
    m.cacheSize('token', () => entries);
    let text = await m.render();
    const requests = samples(text, 'vault_csi_provider_vault_requests_total');
    assert.equal(requests.get('{operation="login",status="200"}'), 1);
    assert.equal(requests.get('{operation="read",status="403"}'), 1);
    assert.equal(requests.get('{operation="read",status="4xx"}'), 1);
    assert.equal(requests.get('{operation="write",status="network_error"}'), 1);
    assert.equal(samples(text, 'vault_csi_provider_vault_request_duration_seconds_count').get('{operation="read"}'), 2);
    const logins = samples(text, 'vault_csi_provider_vault_logins_total');
    assert.equal(logins.get('{result="ok"}'), 1);
    assert.equal(logins.get('{result="error"}'), 1);
    const cache = samples(text, 'vault_csi_provider_cache_events_total');
    assert.equal(cache.get('{cache="token",event="hit"}'), 2);
    assert.equal(cache.get('{cache="token",event="miss"}'), 1);
    assert.equal(cache.get('{cache="lease",event="eviction"}'), 1);
    assert.equal(samples(text, 'vault_csi_provider_cache_entries').get('{cache="token"}'), 3);
    entries = 7;
    text = await m.render();
    assert.equal(samples(text, 'vault_csi_provider_cache_entries').get('{cache="token"}'), 7, 'read at each scrape');
  });

  it('reports the bytes of the caches bounded in bytes, read at each scrape', async () => {
    const m = new ProviderMetrics({ processMetrics: false, eventLoopDelay: false });
    let bytes = 1_000;
    m.cacheBytes('audit', () => bytes);
    assert.equal(samples(await m.render(), 'vault_csi_provider_cache_bytes').get('{cache="audit"}'), 1_000);
    bytes = 2_048;
    assert.equal(samples(await m.render(), 'vault_csi_provider_cache_bytes').get('{cache="audit"}'), 2_048);
    assert.throws(() => m.cacheBytes('Not A Constant', () => 0), /not a short lower-case constant/);
  });

  it('turns the event-loop monitor\'s intervals into delays: quantiles, 1 for the largest, the resolution taken off', () => {
    const ms = 1e6;
    const histogram = { count: 3, max: 250 * ms, percentile: (p: number) => (p >= 99 ? 120 * ms : p >= 90 ? 40 * ms : 10 * ms) };
    assert.equal(eventLoopDelaySeconds(histogram, 1), 0.25 - EVENT_LOOP_RESOLUTION_MS / 1000);
    assert.equal(eventLoopDelaySeconds(histogram, 0.99), 0.12 - EVENT_LOOP_RESOLUTION_MS / 1000);
    assert.equal(eventLoopDelaySeconds(histogram, 0.5), 0);
    assert.equal(eventLoopDelaySeconds({ ...histogram, count: 0 }, 1), 0, 'no samples: no delay');
  });

  it('exports the event-loop delay since the previous scrape, from perf_hooks, reset at each scrape', async () => {
    const m = new ProviderMetrics({ processMetrics: false });
    try {
      // The loop is watched while mounts are in flight; this one ends before the scrape that reports the hold.
      m.mountStarted();
      await m.render();
      // A reset histogram counts from its next tick on (docs/operations.md#metrics): let it tick once.
      await new Promise((resolve) => setTimeout(resolve, 3 * EVENT_LOOP_RESOLUTION_MS));
      // Hold the loop, as a step of one mount would, then let the monitor tick.
      const until = performance.now() + 200;
      while (performance.now() < until) {
        // busy
      }
      await new Promise((resolve) => setTimeout(resolve, 3 * EVENT_LOOP_RESOLUTION_MS));
      m.mountFinished({ result: 'ok', grpcCode: 'OK', durationMs: 300 });
      const held = samples(await m.render(), 'vault_csi_provider_event_loop_delay_seconds');
      assert.deepEqual([...held.keys()].sort(), ['{quantile="0.5"}', '{quantile="0.9"}', '{quantile="0.99"}', '{quantile="1"}']);
      assert.ok(held.get('{quantile="1"}')! >= 0.15, `largest delay ${held.get('{quantile="1"}')} s after holding the loop for 200 ms`);
      const after = samples(await m.render(), 'vault_csi_provider_event_loop_delay_seconds');
      assert.ok(after.get('{quantile="1"}')! < held.get('{quantile="1"}')!, 'the hold is not reported twice');
    } finally {
      m.close();
    }
  });

  it('watches the event loop only while mounts are in flight and a lull after: no monitor timer at rest', async () => {
    const clock = new ManualClock();
    const m = new ProviderMetrics({ processMetrics: false, clock });
    try {
      assert.equal(m.watchingEventLoop, false, 'at rest');
      m.mountStarted();
      m.mountStarted();
      assert.equal(m.watchingEventLoop, true);
      m.mountFinished({ result: 'ok', grpcCode: 'OK', durationMs: 1 });
      assert.equal(m.watchingEventLoop, true, 'one mount still in flight');
      m.mountFinished({ result: 'ok', grpcCode: 'OK', durationMs: 1 });
      assert.equal(m.watchingEventLoop, true, 'a lull is not due yet');
      clock.advance(LOOP_WATCH_LINGER_MS - 1);
      // A mount in the lull keeps the monitor running; the lull counts from its end.
      m.mountStarted();
      m.mountFinished({ result: 'ok', grpcCode: 'OK', durationMs: 1 });
      clock.advance(1);
      assert.equal(m.watchingEventLoop, true, 'the last mount ended 0 ms ago');
      assert.equal(clock.pending, 1, 'one lull timer, not one per mount');
      clock.advance(LOOP_WATCH_LINGER_MS - 2);
      assert.equal(m.watchingEventLoop, true);
      clock.advance(1);
      assert.equal(m.watchingEventLoop, false, 'at rest again');
      assert.equal(clock.pending, 0, 'no timer left at rest');
      // A pause at rest is not reported as a delay when the next mount starts the monitor again.
      await new Promise((resolve) => setTimeout(resolve, 600));
      m.mountStarted();
      await new Promise((resolve) => setTimeout(resolve, 5 * EVENT_LOOP_RESOLUTION_MS));
      m.mountFinished({ result: 'ok', grpcCode: 'OK', durationMs: 1 });
      const delay = samples(await m.render(), 'vault_csi_provider_event_loop_delay_seconds');
      assert.ok(delay.get('{quantile="1"}')! < 0.5, `largest delay ${delay.get('{quantile="1"}')} s: the 600 ms at rest is not one`);
    } finally {
      m.close();
    }
  });

  it('follows Prometheus naming: counters end in _total, durations in _seconds', async () => {
    const m = new ProviderMetrics();
    const families = (await m.registry.getMetricsAsJSON()).filter((f) => f.name.startsWith('vault_csi_provider_'));
    assert.ok(families.length >= 8);
    // prom-client's typings say a numeric enum; at run time the type is the exposition-format word.
    const types = new Map(families.map((f) => [f.name, String(f.type)]));
    assert.equal(types.get('vault_csi_provider_mounts_total'), 'counter');
    for (const [name, type] of types) {
      if (type === 'counter') assert.match(name, /_total$/, name);
      if (type === 'histogram') assert.match(name, /_seconds$/, name);
    }
    const text = await m.render();
    assert.match(text, /^process_resident_memory_bytes /m, 'process metrics are collected');
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });

  it('keeps the status label within a fixed set whatever status a (hostile) Vault answers', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.option(fc.integer({ min: -1000, max: 100_000 }), { nil: undefined }), (status) => {
        const label = vaultStatusLabel(status);
        seen.add(label);
        assert.match(label, /^(?:\d{3}|[1-5]xx|network_error|other)$/);
      }),
      { numRuns: 2000 },
    );
    for (let s = 0; s < 1000; s++) seen.add(vaultStatusLabel(s));
    assert.ok(seen.size <= 17 + 5 + 2, `at most ${17 + 5 + 2} values, saw ${seen.size}`);
  });

  it('refuses cache names that are not short constants, and more than a few of them', () => {
    const m = new ProviderMetrics({ processMetrics: false });
    assert.throws(() => m.cacheEvent('secret/data/db', 'hit'), RangeError);
    assert.throws(() => m.cacheEvent('Token', 'hit'), RangeError);
    for (let i = 0; i < 16; i++) m.cacheEvent(`cache_${i}`, 'miss');
    assert.throws(() => m.cacheEvent('one_too_many', 'miss'), /more than 16/);
    m.cacheEvent('cache_3', 'hit');
  });

  it('serves GET /metrics on the health server, beside /health/ready', async () => {
    const m = new ProviderMetrics({ processMetrics: false });
    m.login('ok');
    const server = new HealthServer(() => true, [metricsRoute(m)]);
    const addr = await server.listen('127.0.0.1:0');
    try {
      const base = `http://127.0.0.1:${addr.port}`;
      const res = await fetch(`${base}/metrics?x=1`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(samples(await res.text(), 'vault_csi_provider_vault_logins_total').get('{result="ok"}'), 1);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
      assert.equal((await fetch(`${base}/health/ready`)).status, 200);
      assert.equal((await fetch(`${base}/other`)).status, 404);
      m.cacheSize('broken', () => {
        throw new Error('collect bug');
      });
      assert.equal((await fetch(`${base}/metrics`)).status, 500);
    } finally {
      await server.close();
    }
  });
});
