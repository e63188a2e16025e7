/**
 * A Vault response body as it arrives: decoded whole (UTF-8 split across chunks included), refused while it arrives
 * when a success nests too deep or holds too many values, dropped unparsed when an error answer does, and charged to
 * the mount's ledger as it comes, all given back at the end but the parsed form the mount keeps.
 */
import assert from 'node:assert/strict';
import { isSuccess, JsonBody, type JsonBodyOptions } from '../../src/vault/transport.js';
import type { ByteLedger } from '../../src/admission/mount-admission.js';

class CountingLedger implements ByteLedger {
  received = 0;
  held = 0;
  receive(bytes: number): void {
    this.received += bytes;
    this.held += bytes;
  }
  charge(bytes: number): void {
    this.held += bytes;
  }
  release(bytes: number): void {
    this.held -= bytes;
  }
}

function body(over: Partial<JsonBodyOptions> = {}): { sink: JsonBody; ledger: CountingLedger } {
  const ledger = new CountingLedger();
  const sink = new JsonBody({ memory: ledger, maxDepth: 8, tooDeep: () => new Error('too deep'), maxValues: 100, tooMany: () => new Error('too many'), ...over });
  return { sink, ledger };
}

describe('vault/transport: the JSON body', () => {
  it('takes any 2xx as an answer, nothing else', () => {
    assert.deepEqual([199, 200, 202, 299, 300, 404].map(isSuccess), [false, true, true, true, false, false]);
  });

  it('decodes a body that arrives in pieces, a character split between two of them included', () => {
    const { sink } = body();
    const text = JSON.stringify({ data: { v: 'grüße ✓' } });
    const bytes = Buffer.from(text);
    const cut = bytes.indexOf(Buffer.from('✓')) + 1;
    sink.start(200, bytes.length);
    sink.write(bytes.subarray(0, cut));
    sink.write(bytes.subarray(cut));
    const read = sink.finish();
    assert.equal(read.text, text);
    assert.equal(read.tooDeep, false);
  });

  it('refuses a success nesting past the limit, or holding more values, while it arrives', () => {
    const deep = body();
    deep.sink.start(200, undefined);
    assert.throws(() => deep.sink.write(Buffer.from('['.repeat(9))), /too deep/);
    const many = body();
    many.sink.start(200, undefined);
    assert.throws(() => many.sink.write(Buffer.from(JSON.stringify(Array.from({ length: 101 }, (_, i) => i)))), /too many/);
  });

  it('drops an error answer too deep to parse instead of failing on it', () => {
    const { sink } = body();
    sink.start(500, undefined);
    sink.write(Buffer.from('{"errors":' + '['.repeat(20)));
    sink.write(Buffer.from(']'.repeat(20) + '}'));
    assert.deepEqual([sink.finish().text, sink.finish().tooDeep], ['', true]);
  });

  it('charges the declared length before the first byte, and gives back all but the parsed form it keeps', () => {
    const { sink, ledger } = body();
    const bytes = Buffer.from(JSON.stringify({ data: { a: 'x'.repeat(1000) } }));
    sink.start(200, bytes.length);
    assert.equal(ledger.received, bytes.length);
    sink.write(bytes.subarray(0, 500));
    sink.write(bytes.subarray(500));
    sink.finish();
    assert.ok(ledger.held >= bytes.length, `${ledger.held} held while the text is read`);
    sink.settle(true);
    const kept = ledger.held;
    assert.ok(kept > 0 && kept < bytes.length * 2, `${kept} kept for the parsed form`);
    const dropped = body();
    dropped.sink.start(404, bytes.length);
    dropped.sink.write(bytes);
    dropped.sink.finish();
    dropped.sink.settle(false);
    assert.equal(dropped.ledger.held, 0);
  });
});
