import assert from 'node:assert/strict';
import { parseGoDurationMs } from '../../src/config/go-syntax.js';
import { countWork } from '../helpers/work-spy.js';

describe('config/go-syntax: parseGoDurationMs', () => {
  it('reads Go durations, signs and compound ones included', () => {
    const cases: Array<[string, number | undefined]> = [
      ['0', 0], ['-0', 0], ['1s', 1000], ['+1.5s', 1500], ['-1m30s', -90_000], ['1h2m3s4ms', 3_723_004],
      ['1.5µs', 0.0015], ['2μs', 0.002], ['3us', 0.003], ['10ns', 0.00001], ['.5s', 500], ['1.s', 1000],
      ['', undefined], ['1', undefined], ['1x', undefined], ['s', undefined], ['1s-1s', undefined], ['+-1s', undefined],
      ['9223372036854775808ns', undefined], ['9223372036s', 9_223_372_036_000],
    ];
    for (const [raw, ms] of cases) assert.equal(parseGoDurationMs(raw), ms, raw);
  });

  it('reads a long compound duration part by part', () => {
    const raw = '1s'.repeat(20_000);
    const work = countWork(() => parseGoDurationMs(raw));
    assert.equal(work.result, 20_000_000);
    // One run for the whole-string check, then one per part and the last that ends the iteration.
    assert.equal(work.regexInputs.length, 1 + 20_000 + 1);
  });
});
