import assert from 'node:assert/strict';
import { mapLimit } from '../../src/mount/map-limit.js';

describe('mount/map-limit', () => {
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('runs every item, never more than `limit` at once', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      done.push(n);
      running--;
    });
    assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(peak, 3);
  });

  it('runs one at a time with a limit below 1, and nothing for no items', async () => {
    let peak = 0;
    let running = 0;
    await mapLimit([1, 2], 0, async () => {
      peak = Math.max(peak, ++running);
      await tick();
      running--;
    });
    assert.equal(peak, 1);
    await mapLimit([], 4, () => Promise.reject(new Error('never called')));
  });

  it('rejects with the first failure and starts no item after it', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapLimit([1, 2, 3, 4, 5], 2, async (n) => {
        started.push(n);
        await tick();
        if (n === 2) throw new Error('item 2 failed');
      }),
      /item 2 failed/,
    );
    assert.ok(!started.includes(5), `started ${started.join(',')}`);
  });
});
