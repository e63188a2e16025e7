/**
 * Go's encoding/json output: the same bytes as the former implementation, with its escapes done natively; and its
 * size counted without building it (issue 19: charged before built).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { goMarshal, goMarshalBytes, goMarshalStruct, goStringBytes } from '../../src/mount/go-json.js';
import { countWork } from '../helpers/work-spy.js';
import { ProviderError } from '../../src/errors.js';

// The former implementation, kept as the oracle.
const ESCAPES: Readonly<Record<string, string>> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };
const oldString = (value: string): string => JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => ESCAPES[c] ?? c);
function oldMarshal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return oldString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map((v) => oldMarshal(v)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${oldString(k)}:${oldMarshal(v)}`).join(',')}}`;
  }
  return 'null';
}

describe('mount/go-json', () => {
  it('writes what it always wrote, for any JSON value', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'Z', '<', '>', '&', '\u2028', '\u2029', '"', '\\', '\n', 'é', '😀', '\u0000', '10', '9') });
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, text, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
      array: fc.array(tie('value'), { maxLength: 5 }),
      object: fc.dictionary(text, tie('value'), { maxKeys: 6 }),
    }));
    fc.assert(fc.property(json.value, (value) => assert.equal(goMarshal(value), oldMarshal(value))), { numRuns: 3000 });
    assert.equal(goMarshal({ b: '<&>', a: [1, '\u2028'], '10': true, '9': null }), '{"10":true,"9":null,"a":[1,"\\u2028"],"b":"\\u003c\\u0026\\u003e"}');
    assert.equal(goMarshalStruct([['z', 1], ['a', '&']]), '{"z":1,"a":"\\u0026"}');
  });

  it('runs no escaping pass over a string with nothing to escape', () => {
    const work = countWork(() => goMarshal({ key: 'x'.repeat(1_000_000), list: ['a', 'b'] }));
    assert.deepEqual(work.regexInputs, []);
  });

  it('refuses, before building it, JSON larger than the driver\'s 4 MiB limit: a value dense in <&> grows sixfold', () => {
    const dense = '<&>'.repeat(1_000_000);
    const work = countWork(() => {
      try {
        return goMarshal({ v: dense });
      } catch (err: unknown) {
        return err;
      }
    });
    assert.ok(work.result instanceof ProviderError && work.result.code === 'MOUNT_TOO_LARGE', String(work.result));
    assert.match(work.result.message, /larger than 4\.0 MiB, the driver's limit for a whole mount/);
    // Counted, not escaped: no replace ran, and the count stopped at the limit.
    assert.deepEqual(work.regexInputs, []);
    assert.ok(work.looks <= (4 * 1024 * 1024) / 5 + 10, `${work.looks} looks`);
    assert.throws(() => goMarshal('x'.repeat(5 * 1024 * 1024)), /MOUNT_TOO_LARGE|larger than 4\.0 MiB/);
    assert.throws(() => goMarshal(Array.from({ length: 5_000 }, () => 'y'.repeat(1_000))), /larger than 4\.0 MiB/);
    assert.equal(goMarshal('<'.repeat(1_000)), `"${'\\u003c'.repeat(1_000)}"`);
    // Past 4096 escapes in one string the bytes are escaped in one pass: the same text.
    const mixed = Array.from({ length: 3_000 }, (_, i) => ['<', 'é', '&', '\u2028', '😀', '>', '\u2029', '"', 'a'][i % 9]!).join('').repeat(4);
    assert.equal(goMarshal({ mixed }), oldMarshal({ mixed }));
  });
});

const GO: Readonly<Record<string, string>> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };
/** encoding/json's escaping of a string, stated independently. */
const goReference = (s: string): string => JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => GO[c]!);

const awkward = fc.string({ unit: fc.constantFrom('<', '>', '&', '\u2028', '\u2029', 'a', 'é', '"', '\\', '\n', '\u0001', '\ud800', '\udc00', '😀', '€') });

describe('mount/go-json sizes', () => {
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
