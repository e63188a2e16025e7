import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeJsonPointerToken, evaluateJsonPointer, JsonPointerSyntaxError, parseJsonPointer } from '../../src/shared/json-pointer.js';

describe('shared/json-pointer (RFC 6901)', () => {
  // The examples of RFC 6901 section 5.
  const doc = { foo: ['bar', 'baz'], '': 0, 'a/b': 1, 'c%d': 2, 'e^f': 3, 'g|h': 4, 'i\\j': 5, 'k"l': 6, ' ': 7, 'm~n': 8 };
  const rfc: ReadonlyArray<readonly [string, unknown]> = [
    ['', doc],
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/c%d', 2],
    ['/e^f', 3],
    ['/g|h', 4],
    ['/i\\j', 5],
    ['/k"l', 6],
    ['/ ', 7],
    ['/m~0n', 8],
  ];
  for (const [pointer, expected] of rfc) {
    it(`resolves ${JSON.stringify(pointer)} as the RFC says`, () => {
      assert.deepEqual(evaluateJsonPointer(doc, parseJsonPointer(pointer)), { found: true, value: expected });
    });
  }

  it('unescapes ~01 to "~1", not "/" (order matters)', () => {
    assert.deepEqual(parseJsonPointer('/~01'), ['~1']);
  });

  it('treats dots as part of a key', () => {
    assert.deepEqual(evaluateJsonPointer({ 'a.b': { c: 1 } }, parseJsonPointer('/a.b/c')), { found: true, value: 1 });
  });

  it('refuses pointers that do not start with "/" and bad escapes', () => {
    for (const bad of ['foo', '#/foo', '/a~2', '/a~']) {
      assert.throws(() => parseJsonPointer(bad), JsonPointerSyntaxError, bad);
    }
  });

  it('says where and why a pointer does not resolve, never quoting values', () => {
    const data = { nested: { a: ['secret-1'] }, s: 'secret-2' };
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      ['/missing', /no key "missing" in the object at the top level/],
      ['/nested/b', /no key "b" in the object at "\/nested"/],
      ['/nested/a/1', /the list at "\/nested\/a" has 1 elements, no index 1/],
      ['/nested/a/-', /"-" is not an index/],
      ['/nested/a/01', /"01" is not an index/],
      ['/s/x', /the value at "\/s" is a string/],
      ['/__proto__', /no key "__proto__"/],
      ['/constructor', /no key "constructor"/],
    ];
    for (const [pointer, why] of cases) {
      const result = evaluateJsonPointer(data, parseJsonPointer(pointer));
      assert.equal(result.found, false, pointer);
      if (!result.found) {
        assert.match(result.reason, why);
        assert.ok(!result.reason.includes('secret-'), pointer);
      }
    }
  });

  it('finds every key back through its escaped token', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.jsonValue(), (k1, k2, value) => {
        const data = { [k1]: { [k2]: value } };
        const pointer = `/${escapeJsonPointerToken(k1)}/${escapeJsonPointerToken(k2)}`;
        assert.deepEqual(evaluateJsonPointer(data, parseJsonPointer(pointer)), { found: true, value });
      }),
    );
  });
});
