import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, objectVersion } from '../../src/mount/assemble.js';
import { groupByRequest, requestKey } from '../../src/mount/assemble.js';
import { objectConfig } from '../helpers/objects.js';

const key = Buffer.alloc(32, 7);

describe('mount/assemble: object versions', () => {
  it('is stable for the same key, config and content, and changes with any of them', () => {
    const obj = objectConfig({ objectName: 'a', secretKey: 'k' });
    const v = objectVersion(key, obj, Buffer.from('one'));
    assert.equal(v, objectVersion(key, obj, Buffer.from('one')));
    assert.notEqual(v, objectVersion(key, obj, Buffer.from('two')));
    assert.notEqual(v, objectVersion(Buffer.alloc(32, 8), obj, Buffer.from('one')));
    assert.notEqual(v, objectVersion(key, objectConfig({ objectName: 'b', secretKey: 'k' }), Buffer.from('one')));
    assert.match(v, /^[A-Za-z0-9_-]{43}$/);
  });

  it('never contains the content', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4 }), (content) => {
        const v = objectVersion(key, objectConfig({ objectName: 'a' }), Buffer.from(content));
        return !v.includes(content);
      }),
    );
  });
});

describe('mount/assemble: request keys', () => {
  it('groups objects by method, path, query and secretArgs', () => {
    const a = objectConfig({ objectName: 'crt', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'x', ttl: '1h' } });
    const b = objectConfig({ objectName: 'key', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { ttl: '1h', common_name: 'x' } });
    const c = objectConfig({ objectName: 'other', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'y' } });
    const d = objectConfig({ objectName: 'q', secretPath: 'pki/issue/web?ttl=2h', method: 'PUT', secretArgs: { common_name: 'x', ttl: '1h' } });
    assert.equal(requestKey(a), requestKey(b));
    const groups = groupByRequest([a, b, c, d]);
    assert.equal(groups.length, 3);
    assert.deepEqual(groups[0]!.objects.map((o) => o.objectName), ['crt', 'key']);
    assert.equal(groups[0]!.lead.objectName, 'crt');
  });

  it('canonical JSON sorts keys at every depth', () => {
    assert.equal(canonicalJson({ b: { d: 1, c: 2 }, a: [{ z: 1, y: 2 }] }), '{"a":[{"y":2,"z":1}],"b":{"c":2,"d":1}}');
  });
});
