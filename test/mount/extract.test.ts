import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countWork } from '../helpers/work-spy.js';
import { decodeValue, extractContent, isHex, isStrictBase64, keyMap, wholeResponseJson } from '../../src/mount/extract.js';
import { goMarshal } from '../../src/mount/go-json.js';
import { ProviderError } from '../../src/errors.js';
import { objectConfig } from '../helpers/objects.js';

const kv2 = {
  request_id: 'r-1',
  lease_id: '',
  lease_duration: 0,
  renewable: false,
  data: { data: { password: 's3cr3t', port: 5432, nested: { b: 1, a: [true, null] } }, metadata: { version: 3 } },
  warnings: null,
  mount_type: 'kv',
};

describe('mount/extract', () => {
  it('reads a key from data.data for KV v2 and from data for KV v1', () => {
    assert.equal(extractContent(objectConfig({ objectName: 'p', secretKey: 'password' }), kv2).toString(), 's3cr3t');
    const kv1 = { data: { password: 'v1pass' }, lease_duration: 2764800 };
    assert.equal(extractContent(objectConfig({ objectName: 'p', secretKey: 'password' }), kv1).toString(), 'v1pass');
  });

  it('uses data itself when data.data is not a map', () => {
    assert.deepEqual(keyMap({ data: 'plain', other: 1 }), { data: 'plain', other: 1 });
    assert.equal(extractContent(objectConfig({ objectName: 'd', secretKey: 'data' }), { data: { data: 'plain' } }).toString(), 'plain');
  });

  it('serialises non-string values as Go JSON (sorted keys, no spaces)', () => {
    assert.equal(extractContent(objectConfig({ objectName: 'n', secretKey: 'port' }), kv2).toString(), '5432');
    assert.equal(extractContent(objectConfig({ objectName: 'n', secretKey: 'nested' }), kv2).toString(), '{"a":[true,null],"b":1}');
  });

  it('writes the whole response as the Go client marshals api.Secret, less request_id, when there is no secretKey', () => {
    const text = extractContent(objectConfig({ objectName: 'all' }), kv2).toString();
    assert.equal(
      text,
      '{"lease_id":"","lease_duration":0,"renewable":false,"data":{"data":{"nested":{"a":[true,null],"b":1},"password":"s3cr3t","port":5432},"metadata":{"version":3}},"warnings":null,"mount_type":"kv"}',
    );
    assert.equal(wholeResponseJson({ data: {} }), '{"lease_id":"","lease_duration":0,"renewable":false,"data":{},"warnings":null}');
  });

  it('gives the same whole-response file for two reads of an unchanged secret whose request_id differs', () => {
    const first = extractContent(objectConfig({ objectName: 'all' }), { ...kv2, request_id: 'a0f1c2d3-0000-4000-8000-000000000001' });
    const second = extractContent(objectConfig({ objectName: 'all' }), { ...kv2, request_id: 'b9e8d7c6-0000-4000-8000-000000000002' });
    assert.deepEqual(first, second);
    assert.ok(!first.toString().includes('request_id'));
    // What does change is still there: the lease of a dynamic secret, its wrapping, Vault's warnings.
    const leased = extractContent(objectConfig({ objectName: 'all' }), { ...kv2, lease_id: 'database/creds/web/abc', warnings: ['w'], wrap_info: { token: 'x' } }).toString();
    assert.match(leased, /"lease_id":"database\/creds\/web\/abc"/);
    assert.match(leased, /"warnings":\["w"\]/);
    assert.match(leased, /"wrap_info":\{"token":"x"\}/);
  });

  it('escapes HTML characters like Go does', () => {
    assert.equal(goMarshal({ x: '<a&b>' }), '{"x":"\\u003ca\\u0026b\\u003e"}');
  });

  it('fails with KEY_NOT_FOUND for a missing key and SECRET_NOT_FOUND for a response without data', () => {
    assert.throws(
      () => extractContent(objectConfig({ objectName: 'x', secretKey: 'nope' }), kv2),
      (err: unknown) => err instanceof ProviderError && err.code === 'KEY_NOT_FOUND' && err.message.includes('"nope"'),
    );
    assert.throws(
      () => extractContent(objectConfig({ objectName: 'x', secretKey: 'a' }), { data: null }),
      (err: unknown) => err instanceof ProviderError && err.code === 'SECRET_NOT_FOUND',
    );
  });

  it('decodes base64 and hex values, and refuses malformed ones without quoting them', () => {
    const b64 = objectConfig({ objectName: 'b', secretKey: 'k', encoding: 'base64' });
    assert.deepEqual(decodeValue(Buffer.from('AAEC/w=='), b64), Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(decodeValue(Buffer.from('AAEC\n/w=='), b64), Buffer.from([0, 1, 2, 255]));
    const hex = objectConfig({ objectName: 'h', secretKey: 'k', encoding: 'hex' });
    assert.deepEqual(decodeValue(Buffer.from('00ff10'), hex), Buffer.from([0, 255, 16]));
    for (const [obj, bad] of [
      [b64, 'not base64!'],
      [b64, 'AAE'],
      [hex, 'abc'],
      [hex, 'zz'],
    ] as const) {
      assert.throws(
        () => decodeValue(Buffer.from(bad), obj),
        (err: unknown) => err instanceof ProviderError && err.code === 'DECODE_FAILED' && !err.message.includes(bad),
      );
    }
  });

  it('checks base64 and hex as the former regexes did, by hand', () => {
    const OLD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
    const OLD_HEX = /^(?:[0-9a-fA-F]{2})*$/;
    const piece = fc.constantFrom('A', 'z', '0', '+', '/', '=', '-', '_', 'f', 'G', ' ');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }).map((p) => p.join('')), (text) => {
        assert.equal(isStrictBase64(text), OLD_BASE64.test(text), text);
        assert.equal(isHex(text), OLD_HEX.test(text), text);
      }),
      { numRuns: 5000 },
    );
  });

  it('decodes a base64 or hex value of several MiB from Vault (the regexes overflowed V8\'s backtrack stack)', () => {
    const bytes = Buffer.alloc(6 * 1024 * 1024, 7);
    const b64 = objectConfig({ objectName: 'b', secretKey: 'k', encoding: 'base64' });
    const hex = objectConfig({ objectName: 'h', secretKey: 'k', encoding: 'hex' });
    const work = countWork(() => [decodeValue(Buffer.from(bytes.toString('base64')), b64), decodeValue(Buffer.from(bytes.subarray(0, 3 * 1024 * 1024).toString('hex')), hex)]);
    assert.ok(work.result[0]!.equals(bytes));
    assert.equal(work.result[1]!.length, 3 * 1024 * 1024);
    // One pass each: the CR/LF strip and the alphabet check of base64, the alphabet check of hex.
    assert.equal(work.regexInputs.length, 3);
  });
});
