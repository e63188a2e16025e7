/** The scan before the parse: depth and an upper estimate of the parsed size, the same however the body is cut. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonScanner, PER_VALUE_BYTES, scanJson } from '../../src/vault/transport.js';

function chunked(text: string, cuts: readonly number[]): ReturnType<typeof scanJson> {
  const bytes = Buffer.from(text);
  const scanner = new JsonScanner();
  let at = 0;
  for (const cut of [...cuts].map((c) => c % (bytes.length + 1)).sort((a, b) => a - b)) {
    scanner.push(bytes.subarray(at, Math.max(at, cut)));
    at = Math.max(at, cut);
  }
  scanner.push(bytes.subarray(at));
  return scanner.shape;
}

describe('vault/transport: the JSON scan', () => {
  it('estimates an ordinary Vault response at about its own size', () => {
    const body = JSON.stringify({ request_id: 'r', lease_id: '', data: { data: { blob: 'x'.repeat(1_000_000) }, metadata: { version: 1 } } });
    const shape = scanJson(Buffer.from(body));
    assert.equal(shape.depth, 3);
    assert.ok(shape.parsedBytes >= 1_000_000 && shape.parsedBytes < 1_002_000, String(shape.parsedBytes));
    assert.equal(shape.wide, false);
  });

  it('charges every value, so bodies that parse into many objects are estimated far above their size', () => {
    const objects = `[${Array.from({ length: 10_000 }, () => '{}').join(',')}]`;
    // 10,000 objects and the list: at least a value slot each, whatever few bytes they take.
    assert.ok(scanJson(Buffer.from(objects)).parsedBytes >= 20_000 * PER_VALUE_BYTES);
    const numbers = `[${Array.from({ length: 10_000 }, () => '1').join(',')}]`;
    assert.ok(scanJson(Buffer.from(numbers)).parsedBytes >= 10_000 * PER_VALUE_BYTES);
  });

  it('counts non-ASCII string contents twice (V8 may keep them as two-byte strings)', () => {
    const ascii = scanJson(Buffer.from(JSON.stringify({ a: 'x'.repeat(1000) })));
    const wide = scanJson(Buffer.from(JSON.stringify({ a: `é${'x'.repeat(998)}` })));
    assert.equal(wide.wide, true);
    assert.ok(wide.parsedBytes >= ascii.parsedBytes + 990);
  });

  it('ignores brackets inside strings, escaped quotes and backslashes included', () => {
    assert.equal(scanJson(Buffer.from(JSON.stringify({ a: '[[[{{{"\\[[[', b: ['\\'] }))).depth, 2);
    assert.equal(scanJson(Buffer.from('"\\\\"')).depth, 0);
  });

  it('gives the same shape however the body is split into chunks', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (value, cuts) => {
        const text = JSON.stringify(value);
        assert.deepEqual(chunked(text, cuts), scanJson(Buffer.from(text)));
      }),
      { numRuns: 300 },
    );
  });

  it('finds the real depth of any JSON value', () => {
    const depthOf = (v: unknown): number => (typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        assert.equal(scanJson(Buffer.from(JSON.stringify(value))).depth, depthOf(value));
      }),
      { numRuns: 300 },
    );
  });
});
