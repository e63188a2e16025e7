import assert from 'node:assert/strict';
import { SingleFlight } from '../../src/shared/single-flight.js';

/** A call the test settles by hand, counting how often it was started. */
function gate<T>() {
  let calls = 0;
  const signals: AbortSignal[] = [];
  let settle: { resolve: (v: T) => void; reject: (e: Error) => void } | undefined;
  const fn = (signal: AbortSignal): Promise<T> => {
    calls += 1;
    signals.push(signal);
    return new Promise<T>((resolve, reject) => {
      settle = { resolve, reject };
    });
  };
  return {
    fn,
    get calls() {
      return calls;
    },
    signals,
    resolve: (v: T) => settle!.resolve(v),
    reject: (e: Error) => settle!.reject(e),
  };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('shared/single-flight', () => {
  it('shares one call among concurrent callers of the same key, and starts a new one once it settled', async () => {
    const shared: string[] = [];
    const sf = new SingleFlight<number>({ onShared: (k) => shared.push(k) });
    const g = gate<number>();
    const a = sf.run('k', g.fn);
    const b = sf.run('k', g.fn);
    const c = sf.run('k', g.fn);
    await tick();
    assert.equal(g.calls, 1);
    assert.equal(sf.size, 1);
    g.resolve(7);
    assert.deepEqual(await Promise.all([a, b, c]), [7, 7, 7]);
    assert.deepEqual(shared, ['k', 'k']);
    assert.equal(sf.size, 0);
    const d = sf.run('k', g.fn);
    await tick();
    assert.equal(g.calls, 2);
    g.resolve(8);
    assert.equal(await d, 8);
  });

  it('keeps different keys apart', async () => {
    const sf = new SingleFlight<string>();
    let calls = 0;
    const fn = (v: string) => () => {
      calls += 1;
      return Promise.resolve(v);
    };
    assert.deepEqual(await Promise.all([sf.run('a', fn('A')), sf.run('b', fn('B'))]), ['A', 'B']);
    assert.equal(calls, 2);
  });

  it('hands a failure to every waiter and forgets the key', async () => {
    const sf = new SingleFlight<number>();
    const g = gate<number>();
    const a = sf.run('k', g.fn);
    const b = sf.run('k', g.fn);
    await tick();
    g.reject(new Error('boom'));
    await assert.rejects(a, /boom/);
    await assert.rejects(b, /boom/);
    assert.equal(sf.size, 0);
  });

  it('forgets the key when fn throws synchronously', async () => {
    const sf = new SingleFlight<number>();
    await assert.rejects(
      sf.run('k', () => {
        throw new Error('sync');
      }),
      /sync/,
    );
    assert.equal(sf.size, 0);
    assert.equal(await sf.run('k', () => Promise.resolve(1)), 1);
  });

  it('lets one caller give up without cancelling the call for the others', async () => {
    const sf = new SingleFlight<number>();
    const g = gate<number>();
    const impatient = new AbortController();
    const patient = new AbortController();
    const a = sf.run('k', g.fn, impatient.signal);
    const b = sf.run('k', g.fn, patient.signal);
    await tick();
    impatient.abort(new Error('pod went away'));
    await assert.rejects(a, /pod went away/);
    assert.equal(g.signals[0]!.aborted, false);
    g.resolve(3);
    assert.equal(await b, 3);
  });

  it('cancels the call once every waiter has given up', async () => {
    const sf = new SingleFlight<number>();
    const g = gate<number>();
    const x = new AbortController();
    const y = new AbortController();
    const a = sf.run('k', g.fn, x.signal);
    const b = sf.run('k', g.fn, y.signal);
    await tick();
    x.abort(new Error('x'));
    y.abort(new Error('y'));
    await assert.rejects(a, /x/);
    await assert.rejects(b, /y/);
    assert.equal(g.signals[0]!.aborted, true);
    g.reject(new Error('aborted'));
    await tick();
    assert.equal(sf.size, 0);
  });

  it('never cancels a call that a caller without a signal waits on', async () => {
    const sf = new SingleFlight<number>();
    const g = gate<number>();
    const x = new AbortController();
    const a = sf.run('k', g.fn);
    const b = sf.run('k', g.fn, x.signal);
    await tick();
    x.abort();
    await assert.rejects(b, /aborted/);
    assert.equal(g.signals[0]!.aborted, false);
    g.resolve(5);
    assert.equal(await a, 5);
  });

  it('watches one signal for many keys with one listener: no leak warning, every waiter released on abort', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      const sf = new SingleFlight<number>();
      const mount = new AbortController();
      const waits = Array.from({ length: 20 }, (_, i) => sf.run(`k${i}`, () => new Promise<number>(() => undefined), mount.signal));
      await tick();
      mount.abort(new Error('deadline'));
      const outcomes = await Promise.allSettled(waits);
      assert.ok(outcomes.every((o) => o.status === 'rejected'));
      await tick();
      assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('refuses a caller whose signal is already aborted without calling fn', async () => {
    const sf = new SingleFlight<number>();
    let called = false;
    const x = new AbortController();
    x.abort(new Error('late'));
    await assert.rejects(
      sf.run('k', () => {
        called = true;
        return Promise.resolve(1);
      }, x.signal),
      /late/,
    );
    assert.equal(called, false);
    assert.equal(sf.size, 0);
  });
});
