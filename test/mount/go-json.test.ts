/** Go's JSON as the files hold it, and its size counted without building it (issue 19: charged before built). */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { goMarshal, goMarshalBytes, goStringBytes } from '../../src/mount/go-json.js';

const GO: Readonly<Record<string, string>> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };
/** encoding/json's escaping of a string, stated independently. */
const goReference = (s: string): string => JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => GO[c]!);

const awkward = fc.string({ unit: fc.constantFrom('<', '>', '&', '\u2028', '\u2029', 'a', 'é', '"', '\\', '\n', '\u0001', '\ud800', '\udc00', '😀', '€') });

describe('mount/go-json', () => {
  it('escapes <, >, &, U+2028 and U+2029 as Go does, on top of JSON\'s own escapes', () => {
    assert.equal(goMarshal('<a & b>\u2028'), '"\\u003ca \\u0026 b\\u003e\\u2028"');
    fc.assert(fc.property(awkward, (s) => goMarshal(s) === goReference(s)), { numRuns: 3000 });
  });

  it('counts the bytes of any value exactly, without marshalling it', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => goMarshalBytes(v) === Buffer.byteLength(goMarshal(v))), { numRuns: 2000 });
    fc.assert(fc.property(awkward, (s) => goStringBytes(s) === Buffer.byteLength(goMarshal(s))), { numRuns: 3000 });
    // After a trip through UTF-8, a lone surrogate is U+FFFD (3 bytes), not an escape (6).
    fc.assert(fc.property(awkward, (s) => goStringBytes(s, true) === Buffer.byteLength(goMarshal(Buffer.from(s).toString()))), { numRuns: 3000 });
  });

  it('counts a collection named many times once', () => {
    let reads = 0;
    const inner: Record<string, string> = {};
    Object.defineProperty(inner, 'k', { enumerable: true, get: () => ((reads += 1), 'v') });
    const outer = Array(1000).fill(inner) as unknown[];
    const size = goMarshalBytes(outer);
    assert.equal(reads, 1, 'marshalling would read it 1,000 times');
    assert.equal(size, Buffer.byteLength(goMarshal(outer)));
  });
});
