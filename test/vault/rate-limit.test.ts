/**
 * The per-address gate, on clocks of the test's own: the recording clock passes every wait at once and records it,
 * the manual one stands still until the test moves it. The tests count what was admitted, for whom, in what order,
 * and what the gate asked to wait, never how long anything took.
 */
import assert from 'node:assert/strict';
import {
  AddressGate,
  AddressGates,
  MAX_GATES,
  MAX_TENANTS,
  NODE_BACKOFF_TENANTS,
  NODE_THROTTLE_WINDOW_MS,
  type GateLimits,
  type GateWait,
} from '../../src/vault/rate-limit.js';
import { ManualClock, RecordingGateClock } from '../helpers/clocks.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

const LIMITS: GateLimits = { maxInFlight: 100, maxInFlightPerTenant: 100, ratePerSecond: 1000, burst: 1000 };

function gate(limits: Partial<GateLimits> = {}, waits: GateWait[] = []): { gate: AddressGate; clock: RecordingGateClock } {
  const clock = new RecordingGateClock();
  return { gate: new AddressGate({ ...LIMITS, ...limits }, clock, { onWait: (w) => waits.push(w) }), clock };
}

function manual(limits: Partial<GateLimits> = {}, backoffs: string[] = []): { gate: AddressGate; clock: ManualClock } {
  const clock = new ManualClock();
  return { gate: new AddressGate({ ...LIMITS, ...limits }, clock, { onNodeBackoff: (cause) => backoffs.push(cause) }), clock };
}

/** Acquires for `tenant`, recording the grant in `order`; the release is kept in `releases`. */
function take(g: AddressGate, tenant: string, order: string[], releases: Array<() => void>): Promise<void> {
  return g.acquire(undefined, tenant).then((release) => {
    order.push(tenant);
    releases.push(release);
  });
}

describe('vault/rate-limit AddressGate', () => {
  it('never lets more than maxInFlight through at once; a release admits the next, first come first served', async () => {
    const { gate: g } = gate({ maxInFlight: 2 });
    const order: number[] = [];
    const releases: Array<() => void> = [];
    for (let i = 0; i < 5; i++) void g.acquire().then((release) => { order.push(i); releases.push(release); });
    await settle();
    assert.deepEqual(order, [0, 1]);
    assert.equal(g.queued, 3);
    releases[0]!();
    releases[0]!(); // a second call of one release frees nothing more
    await settle();
    assert.deepEqual(order, [0, 1, 2]);
    for (const release of releases.slice(1)) release();
    await settle();
    releases.slice(3).forEach((r) => r());
    await settle();
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    assert.equal(g.peakInFlight, 2);
  });

  it('paces requests past the burst at the rate', async () => {
    const { gate: g, clock } = gate({ ratePerSecond: 10, burst: 3 });
    for (let i = 0; i < 6; i++) (await g.acquire())();
    // Three from the bucket, then one every 100 ms.
    assert.equal(clock.monotonic(), 300);
    assert.ok(clock.sleeps.every((ms) => ms <= 100), clock.sleeps.join(','));
  });

  it("stops the tenant for Retry-After after a 429, halves its rate, and earns it back with answers", async () => {
    const waits: GateWait[] = [];
    const { gate: g, clock } = gate({ ratePerSecond: 100, burst: 100 }, waits);
    (await g.acquire())();
    g.throttled(2);
    assert.equal(g.tenant().rate, 50);
    assert.equal(g.rate, 100, 'one tenant throttled leaves the node its rate');
    const release = await g.acquire();
    release();
    assert.deepEqual(clock.sleeps.slice(0, 1), [2_000]);
    assert.ok(clock.monotonic() >= 2_000);
    assert.equal(waits.at(-1)?.cause, 'backoff');
    for (let i = 0; i < 10; i++) g.answered();
    assert.equal(g.tenant().rate, 100); // +5 a time, never above the configured rate
    g.throttled(undefined); // no Retry-After: one second
    const before = clock.monotonic();
    (await g.acquire())();
    assert.ok(clock.monotonic() - before >= 1_000);
  });

  it('backs a tenant off only after three failures in a row, doubling, until an answer', async () => {
    const { gate: g, clock } = gate();
    g.failed();
    g.failed();
    (await g.acquire())();
    assert.deepEqual(clock.sleeps, []);
    g.failed();
    (await g.acquire())();
    g.failed();
    (await g.acquire())();
    assert.deepEqual(clock.sleeps, [100, 200]);
    g.answered();
    g.failed();
    (await g.acquire())();
    assert.deepEqual(clock.sleeps, [100, 200]);
  });

  it('drops a waiter whose signal aborts, with its reason, and serves the others', async () => {
    const { gate: g } = gate({ maxInFlight: 1 });
    const first = await g.acquire();
    const controller = new AbortController();
    const aborted = g.acquire(controller.signal);
    const next = g.acquire();
    await settle();
    controller.abort(new Error('deadline'));
    await assert.rejects(aborted, /deadline/);
    assert.equal(g.queued, 1);
    first();
    (await next)();
    await assert.rejects(g.acquire(controller.signal), /deadline/);
  });

  it('reports every admission with its wait and cause', async () => {
    const waits: GateWait[] = [];
    const { gate: g } = gate({ maxInFlight: 1 }, waits);
    const first = await g.acquire();
    const second = g.acquire();
    await settle();
    first();
    (await second)();
    assert.deepEqual(waits.map((w) => w.cause), [undefined, 'in_flight']);
  });
});

describe('vault/rate-limit AddressGate: fair between tenants (issue 19, classes 8 and 9)', () => {
  it("caps one tenant's requests in flight below the node's, so another tenant still gets slots", async () => {
    const waits: GateWait[] = [];
    const { gate: g } = gate({ maxInFlight: 4, maxInFlightPerTenant: 2 }, waits);
    const order: string[] = [];
    const releases: Array<() => void> = [];
    // The slow tenant asks first and for more than the node has.
    for (let i = 0; i < 5; i++) void take(g, 'slow', order, releases);
    await settle();
    for (let i = 0; i < 2; i++) void take(g, 'other', order, releases);
    await settle();
    assert.deepEqual(order, ['slow', 'slow', 'other', 'other']);
    assert.deepEqual([g.tenant('slow').inFlight, g.tenant('slow').queued, g.tenant('other').inFlight], [2, 3, 2]);
    assert.equal(g.inFlight, 4);
    // A slot the other tenant frees goes to the slow one's next request only when it is below its cap again.
    releases[2]!();
    await settle();
    assert.equal(order.length, 4, 'the slow tenant is at its cap');
    releases[0]!();
    await settle();
    assert.deepEqual(order, ['slow', 'slow', 'other', 'other', 'slow']);
    // A wait for the tenant's cap alone is reported as such.
    const { gate: one } = gate({ maxInFlight: 4, maxInFlightPerTenant: 1 }, waits);
    const first = await one.acquire(undefined, 'slow');
    const second = one.acquire(undefined, 'slow');
    await settle();
    first();
    (await second)();
    assert.equal(waits.at(-1)?.cause, 'tenant_in_flight');
  });

  it('grants waiting requests round robin across tenants, first come first served within one', async () => {
    const { gate: g } = gate({ maxInFlight: 1 });
    const order: string[] = [];
    const releases: Array<() => void> = [];
    void take(g, 'x', order, releases);
    await settle();
    for (let i = 0; i < 3; i++) void take(g, 'a', order, releases);
    for (let i = 0; i < 3; i++) void take(g, 'b', order, releases);
    void take(g, 'c', order, releases);
    await settle();
    for (let i = 1; i <= 7; i++) {
      releases[i - 1]!();
      await settle();
    }
    assert.deepEqual(order, ['x', 'a', 'b', 'c', 'a', 'b', 'a', 'b']);
  });

  it("a 429 on one tenant (no Retry-After) pauses and slows that tenant only: another's requests go at once", async () => {
    const { gate: g, clock } = manual();
    (await g.acquire(undefined, 'a'))();
    g.throttled(undefined, 'a');
    assert.deepEqual([g.tenant('a').rate, g.tenant('a').pausedUntil], [500, 1_000]);
    const order: string[] = [];
    const releases: Array<() => void> = [];
    void take(g, 'a', order, releases);
    void take(g, 'b', order, releases);
    void take(g, 'b', order, releases);
    await settle();
    // No time has passed: tenant a is still paused, tenant b went twice, at the node's full rate.
    assert.deepEqual(order, ['b', 'b']);
    assert.deepEqual([g.tenant('b').rate, g.tenant('b').pausedUntil, g.rate], [1000, 0, 1000]);
    clock.advance(1_000);
    await settle();
    assert.deepEqual(order, ['b', 'b', 'a']);
  });

  it('a 429 with Retry-After on one tenant leaves every other tenant unpaused', async () => {
    const { gate: g } = manual();
    g.throttled(30, 'a');
    assert.equal(g.tenant('a').pausedUntil, 30_000);
    const order: string[] = [];
    const releases: Array<() => void> = [];
    void take(g, 'a', order, releases);
    for (const t of ['b', 'c', 'd']) void take(g, t, order, releases);
    await settle();
    assert.deepEqual(order, ['b', 'c', 'd']);
  });

  it(`backs the whole node off when ${NODE_BACKOFF_TENANTS} distinct tenants are throttled within ${NODE_THROTTLE_WINDOW_MS} ms (a global quota)`, async () => {
    const backoffs: string[] = [];
    const { gate: g, clock } = manual({}, backoffs);
    // One tenant throttled again and again is that tenant's business.
    for (let i = 0; i < 5; i++) g.throttled(1, 'a');
    g.throttled(1, 'b');
    assert.deepEqual(backoffs, []);
    const order: string[] = [];
    const releases: Array<() => void> = [];
    void take(g, 'd', order, releases);
    await settle();
    assert.deepEqual(order, ['d'], 'two tenants throttled: the others still go');
    g.throttled(2, 'c');
    assert.deepEqual(backoffs, ['throttled']);
    assert.equal(g.rate, 500, "the node's rate halves");
    void take(g, 'd', order, releases);
    await settle();
    assert.deepEqual(order, ['d'], 'the node waits the longest Retry-After among them');
    clock.advance(1_999);
    await settle();
    assert.deepEqual(order, ['d']);
    clock.advance(1);
    await settle();
    assert.deepEqual(order, ['d', 'd']);
  });

  it('does not count 429s of tenants further apart than the window toward a node backoff', () => {
    const backoffs: string[] = [];
    const { gate: g, clock } = manual({}, backoffs);
    g.throttled(1, 'a');
    g.throttled(1, 'b');
    clock.advance(NODE_THROTTLE_WINDOW_MS);
    g.throttled(1, 'c');
    assert.deepEqual(backoffs, []);
    g.throttled(1, 'd');
    assert.deepEqual(backoffs, [], 'c and d are two');
    g.throttled(1, 'e');
    assert.deepEqual(backoffs, ['throttled']);
  });

  it("one tenant's failures back off that tenant only; failures of several with no answer between back off the node", async () => {
    const backoffs: string[] = [];
    const { gate: g } = manual({}, backoffs);
    for (let i = 0; i < 6; i++) g.failed('a');
    assert.ok(g.tenant('a').pausedUntil > 0);
    const order: string[] = [];
    const releases: Array<() => void> = [];
    void take(g, 'b', order, releases);
    await settle();
    assert.deepEqual(order, ['b']);
    assert.deepEqual(backoffs, []);
    // Another tenant's answer in between: the address works.
    g.answered('b');
    g.failed('b');
    g.failed('c');
    assert.deepEqual(backoffs, []);
    g.answered('d');
    g.failed('a');
    g.failed('b');
    g.failed('c');
    assert.deepEqual(backoffs, ['failing']);
    g.failed('d');
    assert.deepEqual(backoffs, ['failing'], 'a pause extended is counted once');
    void take(g, 'd', order, releases);
    await settle();
    assert.deepEqual(order, ['b'], 'the node waits');
  });

  it('keeps state for a bounded number of tenants, and none for a tenant with nothing owed', async () => {
    const { gate: g } = manual();
    for (let i = 0; i < 10; i++) {
      const release = await g.acquire(undefined, `ns-${i}`);
      g.answered(`ns-${i}`);
      release();
    }
    assert.equal(g.tenants, 0, 'idle tenants with nothing owed are forgotten');
    for (let i = 0; i < MAX_TENANTS + 50; i++) g.throttled(1, `ns-${i}`);
    assert.ok(g.tenants <= MAX_TENANTS + 1, String(g.tenants));
    // Past the bound, with every tenant busy, newcomers share one state and are still served.
    const { gate: busy } = manual({ maxInFlight: 10_000, maxInFlightPerTenant: 10_000, burst: 10_000 });
    for (let i = 0; i < MAX_TENANTS; i++) void busy.acquire(undefined, `ns-${i}`);
    await settle();
    const extra = [busy.acquire(undefined, 'late-1'), busy.acquire(undefined, 'late-2')];
    await Promise.all(extra);
    assert.ok(busy.tenants <= MAX_TENANTS + 1, String(busy.tenants));
    assert.equal(busy.inFlight, MAX_TENANTS + 2);
  });
});

describe('vault/rate-limit AddressGates', () => {
  it('has one gate per origin, and drops idle ones past its bound', () => {
    const gates = new AddressGates(undefined, new RecordingGateClock());
    assert.equal(gates.for('http://a:1'), gates.for('http://a:1'));
    assert.notEqual(gates.for('http://a:1'), gates.for('http://b:1'));
    for (let i = 0; i < MAX_GATES + 5; i++) gates.for(`http://n${i}:1`);
    assert.equal(gates.peek('http://a:1'), undefined);
  });
});
