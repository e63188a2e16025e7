import assert from 'node:assert/strict';
import { BatchedDestination, createLogger, flushLogNow } from '../../src/observability/logger.js';
import { ManualClock } from '../helpers/clocks.js';

describe('observability/logger', () => {
  it('flushLogNow flushes the destination, then once more after a write in progress has drained', () => {
    const calls: string[] = [];
    let pending: (() => void) | undefined;
    const destination = {
      write: (_line: string) => undefined,
      flush: (cb?: () => void) => {
        calls.push(cb === undefined ? 'flush' : 'flush(cb)');
        pending = cb;
      },
    };
    const logger = createLogger('info', destination);
    flushLogNow(logger);
    assert.deepEqual(calls, ['flush(cb)']);
    pending?.();
    assert.deepEqual(calls, ['flush(cb)', 'flush']);
  });

  it('flushLogNow leaves a destination without flush, or one already destroyed, alone', () => {
    assert.doesNotThrow(() => flushLogNow(createLogger('info', { write: () => undefined })));
    const destroyed = { write: () => undefined, flush: () => { throw new Error('SonicBoom destroyed'); } };
    assert.doesNotThrow(() => flushLogNow(createLogger('info', destroyed)));
  });

  it('schedules a flush after a write, only while lines wait: nothing is scheduled at rest', () => {
    const written: string[] = [];
    let flushes = 0;
    const clock = new ManualClock();
    const batched = new BatchedDestination({ write: (line: string) => void written.push(line), flush: () => void flushes++ }, 5, (ms, fn) => clock.after(ms, fn));
    const logger = createLogger('info', batched);
    assert.equal(batched.flushPending, false, 'nothing written yet: no timer');
    logger.info('one');
    logger.info('two');
    assert.equal(batched.flushPending, true);
    assert.equal(clock.pending, 1, 'one timer for both lines');
    assert.equal(written.length, 2);
    clock.advance(4);
    assert.equal(flushes, 0, 'not before the interval');
    clock.advance(1);
    assert.equal(flushes, 1, 'one flush for the two lines');
    assert.equal(batched.flushPending, false, 'at rest again: no timer');
    assert.equal(clock.pending, 0);
    logger.info('three');
    assert.equal(batched.flushPending, true, 'the next line schedules the next flush');
    clock.advance(5);
    assert.equal(flushes, 2);
  });
});
