import assert from 'node:assert/strict';
import { BatchedDestination, createLogger, flushLogNow } from '../../src/observability/logger.js';

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

  it('schedules a flush after a write, only while lines wait: nothing is scheduled at rest', async () => {
    const written: string[] = [];
    let flushes = 0;
    const batched = new BatchedDestination({ write: (line: string) => void written.push(line), flush: () => void flushes++ }, 5);
    const logger = createLogger('info', batched);
    assert.equal(batched.flushPending, false, 'nothing written yet: no timer');
    logger.info('one');
    logger.info('two');
    assert.equal(batched.flushPending, true);
    assert.equal(written.length, 2);
    for (let i = 0; i < 200 && flushes === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(flushes, 1, 'one flush for the two lines');
    assert.equal(batched.flushPending, false, 'at rest again: no timer');
    logger.info('three');
    assert.equal(batched.flushPending, true, 'the next line schedules the next flush');
    for (let i = 0; i < 200 && flushes === 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(flushes, 2);
  });
});
