import assert from 'node:assert/strict';
import { parseObjects } from '../../src/config/objects.js';
import { DEFAULT_INPUT_LIMITS } from '../../src/config/input-limits.js';
import { heapBytes, ObjectsMemo } from '../../src/config/objects.js';

const list = (n: number) => `- objectName: "o${n}"\n  secretPath: "secret/data/app-${n}"\n  secretKey: "password"\n`;

describe('config/objects: the memo (objectsMemo)', () => {
  it('parses a text once and hands back the same result, equal to a fresh parse', () => {
    const memo = new ObjectsMemo();
    const first = memo.parse(list(1));
    assert.equal(memo.parse(list(1)), first);
    assert.notEqual(parseObjects(list(1)), first, 'a plain parse builds a new result');
    assert.deepEqual(parseObjects(list(1)), first);
    assert.notEqual(memo.parse(list(2)), first);
  });

  it('keeps no failure: a broken list is reported every time', () => {
    const memo = new ObjectsMemo();
    assert.throws(() => memo.parse('- objectName: [unclosed'), /objects/);
    assert.throws(() => memo.parse('- objectName: [unclosed'), /objects/);
    assert.equal(memo.size, 0);
  });

  it('is bounded in entries and bytes', () => {
    const byCount = new ObjectsMemo({ maxEntries: 2 });
    for (const n of [1, 2, 3]) byCount.parse(list(n));
    assert.equal(byCount.size, 2);
    const byBytes = new ObjectsMemo({ maxBytes: 300 });
    const big = list(1) + `  filePermission: 0600\n${'# padding\n'.repeat(50)}`;
    assert.equal(byBytes.parse(big).objects.length, 1);
    assert.equal(byBytes.size, 0, 'a text over the byte bound is parsed but not kept');
  });

  it('takes new bounds from the daemon\'s flags, and counts its bytes', () => {
    const memo = new ObjectsMemo();
    memo.parse(list(1));
    // The text (the key, and a copy the parsed strings may hold on to) and the parsed form, as V8 holds them.
    assert.equal(memo.bytes, 2 * heapBytes(list(1)) + heapBytes(parseObjects(list(1))));
    memo.configure({ maxBytes: 1 });
    assert.equal(memo.size, 0);
    memo.parse(list(1));
    assert.equal(memo.size, 0, 'over the bound: parsed, not kept');
  });

  it('hands back a kept result only under the caps it was parsed with', () => {
    const memo = new ObjectsMemo();
    const text = list(1) + list(2);
    assert.equal(memo.parse(text).objects.length, 2);
    assert.throws(() => memo.parse(text, { ...DEFAULT_INPUT_LIMITS, objectsPerMount: 1 }), /lists 2 objects, more than 1 per mount \(--max-objects-per-mount=1\)/);
    assert.equal(memo.parse(text, { ...DEFAULT_INPUT_LIMITS }).objects.length, 2);
  });
});
