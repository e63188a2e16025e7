import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describeApiFailure, KubeRequestTimeoutError, withRequestTimeout } from '../../src/kubernetes/api.js';
import { ManualClock } from '../helpers/clocks.js';
import { abortReason } from '../../src/errors.js';

/** Work that ends only when its signal aborts, with the signal's reason. */
const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true }));

describe('kubernetes/api: withRequestTimeout', () => {
  it('aborts the work when the timer fires, under a caller signal too, as a timeout naming its bound', async () => {
    const t = new ManualClock();
    const caller = new AbortController();
    const running = withRequestTimeout(caller.signal, 10_000, untilAborted, (ms, fn) => t.after(ms, fn));
    assert.equal(t.pending, 1);
    t.advance(10_000);
    const err = await running.catch((e: unknown) => e);
    assert.ok(err instanceof KubeRequestTimeoutError);
    assert.equal(describeApiFailure(err, 10_000).detail, 'the Kubernetes API did not answer within 10 s (request timeout)');
    assert.equal(describeApiFailure(err, 10_000).aborted, true);
  });

  it("aborts with the caller's reason when the caller aborts first, and clears its timer", async () => {
    const t = new ManualClock();
    const caller = new AbortController();
    const running = withRequestTimeout(caller.signal, 10_000, untilAborted, (ms, fn) => t.after(ms, fn));
    caller.abort(new Error('caller gave up'));
    assert.match(String(await running.catch((e: unknown) => e)), /caller gave up/);
    assert.equal(t.pending, 0);
  });

  it('clears its timer when the work ends', async () => {
    const t = new ManualClock();
    assert.equal(await withRequestTimeout(undefined, 10_000, () => Promise.resolve(7), (ms, fn) => t.after(ms, fn)), 7);
    assert.equal(t.pending, 0);
  });

  it('still times out under a caller signal after a garbage collection (AbortSignal.any + AbortSignal.timeout did not)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const caller = new AbortController();
    const running = withRequestTimeout(caller.signal, 100, (signal) => {
      // A collection once the call is under way, as the daemon's small young generation makes happen all the time.
      setTimeout(gc, 10);
      return untilAborted(signal);
    });
    const outcome = await Promise.race([running.catch((e: unknown) => e), new Promise((resolve) => setTimeout(() => resolve('no timeout'), 2_000))]);
    assert.ok(outcome instanceof KubeRequestTimeoutError, String(outcome));
  });
});
