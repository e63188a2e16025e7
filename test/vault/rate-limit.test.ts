/**
 * The per-address gate, on a virtual clock: every wait is recorded and passes at once, so the tests count what was
 * admitted and how long the gate asked to wait, never how long anything took.
 */
import assert from 'node:assert/strict';
import { AddressGate, AddressGates, MAX_GATES, type GateWait } from '../../src/vault/rate-limit.js';
import { RecordingGateClock } from '../helpers/gate-clock.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function gate(limits: Partial<ConstructorParameters<typeof AddressGate>[0]> = {}, waits: GateWait[] = []): { gate: AddressGate; clock: RecordingGateClock } {
  const clock = new RecordingGateClock();
  return { gate: new AddressGate({ maxInFlight: 100, ratePerSecond: 1000, burst: 1000, ...limits }, clock, { onWait: (w) => waits.push(w) }), clock };
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
    assert.equal(clock.now(), 300);
    assert.ok(clock.sleeps.every((ms) => ms <= 100), clock.sleeps.join(','));
  });

  it('stops everyone for Retry-After after a 429, halves the rate, and earns it back with answers', async () => {
    const waits: GateWait[] = [];
    const { gate: g, clock } = gate({ ratePerSecond: 100, burst: 100 }, waits);
    (await g.acquire())();
    g.throttled(2);
    assert.equal(g.rate, 50);
    const release = await g.acquire();
    release();
    assert.deepEqual(clock.sleeps.slice(0, 1), [2_000]);
    assert.ok(clock.now() >= 2_000);
    assert.equal(waits.at(-1)?.cause, 'backoff');
    for (let i = 0; i < 10; i++) g.answered();
    assert.equal(g.rate, 100); // +5 a time, never above the configured rate
    g.throttled(undefined); // no Retry-After: one second
    const before = clock.now();
    (await g.acquire())();
    assert.ok(clock.now() - before >= 1_000);
  });

  it('backs off for everyone only after three failures in a row, doubling, until an answer', async () => {
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

describe('vault/rate-limit AddressGates', () => {
  it('has one gate per origin, and drops idle ones past its bound', () => {
    const gates = new AddressGates(undefined, new RecordingGateClock());
    assert.equal(gates.for('http://a:1'), gates.for('http://a:1'));
    assert.notEqual(gates.for('http://a:1'), gates.for('http://b:1'));
    for (let i = 0; i < MAX_GATES + 5; i++) gates.for(`http://n${i}:1`);
    assert.equal(gates.peek('http://a:1'), undefined);
  });
});
