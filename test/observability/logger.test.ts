import assert from 'node:assert/strict';
import { createLogger, flushLogNow } from '../../src/observability/logger.js';

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
});
