import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { heapBytes } from '../../src/config/objects.js';
import { parseObjects } from '../../src/config/objects.js';

/** Heap bytes `make()`'s results hold, `count` of them kept at once, measured after full collections. */
function measured(make: (i: number) => unknown, count: number): { held: number; estimated: number } {
  // A full collection on demand, for this measurement only (no flag on the mocha command line).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const kept: unknown[] = new Array(count);
  gc();
  const before = getHeapStatistics().used_heap_size;
  let estimated = 0;
  for (let i = 0; i < count; i++) {
    kept[i] = make(i);
    estimated += heapBytes(kept[i]);
  }
  gc();
  const held = getHeapStatistics().used_heap_size - before;
  assert.equal(kept.length, count);
  return { held, estimated };
}

describe('config/objects: heapBytes', () => {
  it('counts strings by V8\'s width: one byte a character up to U+00FF, two beyond', () => {
    assert.equal(heapBytes('é'.repeat(100)) - heapBytes(''), 100);
    assert.equal(heapBytes('€'.repeat(100)) - heapBytes(''), 200);
  });

  it('counts every container, slot, key and Map or Set entry, and a shared value each time it is reached', () => {
    const leaf = { a: 'x' };
    assert.ok(heapBytes({ l: leaf, r: leaf }) > heapBytes({ l: leaf, r: 1 }));
    assert.ok(heapBytes(new Map([['k', 'v']])) > heapBytes(new Map()));
    assert.ok(heapBytes(new Set(['v'])) > heapBytes(new Set()));
    assert.ok(heapBytes([1, 2, 3]) > heapBytes([1, 2]));
  });

  it('errs high against V8 for parsed objects lists and nested data', () => {
    const text = (i: number) =>
      Array.from({ length: 20 }, (_, k) => `- objectName: "object-${i}-${k}"\n  secretPath: "secret/data/team/app-${i}/${k}"\n  secretKey: password\n  secretArgs: {a: [1, 2, {b: c}]}\n- objectName: "file-${i}-${k}"\n  template: "{{ @object-${i}-${k} }} and {{ @object-${i}-0 }}"\n`).join('');
    const parsed = measured((i) => parseObjects(text(i)), 200);
    assert.ok(parsed.held > 0 && parsed.held <= parsed.estimated, `held ${parsed.held}, estimated ${parsed.estimated}`);
    const nested = measured((i) => ({ id: `n${i}`, list: Array.from({ length: 50 }, (_, k) => ({ k, v: `value-${i}-${k}`, deep: { x: [k, k + 1] } })) }), 500);
    assert.ok(nested.held > 0 && nested.held <= nested.estimated, `held ${nested.held}, estimated ${nested.estimated}`);
  });
});
