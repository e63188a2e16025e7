import assert from 'node:assert/strict';
import { Lru } from '../../src/shared/lru.js';

describe('shared/lru', () => {
  it('evicts the least recently used entry at the entry bound', () => {
    const evicted: string[] = [];
    const lru = new Lru<number>({ maxEntries: 2, onEvict: (k, _v, reason) => evicted.push(`${k}:${reason}`) });
    lru.set('a', 1);
    lru.set('b', 2);
    assert.equal(lru.get('a'), 1);
    lru.set('c', 3);
    assert.equal(lru.get('b'), undefined);
    assert.deepEqual(evicted, ['b:capacity']);
    assert.equal(lru.size, 2);
  });

  it('bounds bytes and refuses a single value above the bound', () => {
    const lru = new Lru<string>({ maxEntries: 10, maxBytes: 10, sizeOf: (v) => v.length });
    lru.set('a', '12345');
    lru.set('b', '12345');
    lru.set('c', '1');
    assert.equal(lru.get('a'), undefined);
    assert.ok(lru.bytes <= 10);
    lru.set('big', '12345678901');
    assert.equal(lru.get('big'), undefined);
  });

  it('drops expired entries by the injected clock', () => {
    let now = 1_000;
    const lru = new Lru<string>({ maxEntries: 10, now: () => now });
    lru.set('a', 'x', 100);
    assert.equal(lru.get('a'), 'x');
    now += 100;
    assert.equal(lru.get('a'), undefined);
    assert.equal(lru.size, 0);
  });

  it('sweeps expired entries out on insert, at most once a second', () => {
    let now = 1_000;
    const lru = new Lru<string>({ maxEntries: 10, now: () => now });
    lru.set('a', 'x', 100); // sweeps (nothing to drop) and schedules the next sweep for 2 000
    now = 1_100;
    lru.set('b', 'y');
    assert.equal(lru.size, 2, 'no second sweep within the second');
    now = 2_000;
    lru.set('c', 'z');
    assert.equal(lru.size, 2, 'the expired entry is swept out');
    lru.set('d', 'w', 10);
    now = 2_010;
    assert.equal(lru.get('d'), undefined, 'an expired entry is never handed out, swept or not');
  });

  it('rejects a zero bound', () => {
    assert.throws(() => new Lru({ maxEntries: 0 }), RangeError);
  });
});
