/**
 * One Vault request per distinct thing asked: objects that ask the same (method, path, query, arguments, namespace)
 * share a request whatever their names and keys, and anything that changes the answer makes another.
 */
import assert from 'node:assert/strict';
import { groupByRequest, requestKey } from '../../src/mount/assemble.js';
import { canonicalJson } from '../../src/mount/assemble.js';
import { objectConfig } from '../helpers/objects.js';

describe('mount/assemble: request keys and canonical JSON', () => {
  it('canonicalJson ignores the order of object keys, at any depth, and keeps the order of arrays', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 }));
    assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  });

  it('keys on what is asked of Vault, not on the object that asks', () => {
    const a = objectConfig({ objectName: 'a', secretKey: 'user' });
    const b = objectConfig({ objectName: 'b', secretKey: 'pass', encoding: 'base64' });
    assert.equal(requestKey(a), requestKey(b));
    for (const other of [
      objectConfig({ objectName: 'c', secretPath: 'secret/data/other' }),
      objectConfig({ objectName: 'c', method: 'PUT' }),
      objectConfig({ objectName: 'c', secretPath: 'secret/data/app?version=2' }),
      objectConfig({ objectName: 'c', secretArgs: { common_name: 'x' } }),
      objectConfig({ objectName: 'c', secretNamespace: 'team-a' }),
    ]) {
      assert.notEqual(requestKey(other), requestKey(a), other.objectName + ' ' + JSON.stringify(other));
    }
    assert.equal(requestKey(objectConfig({ objectName: 'x', secretArgs: { a: 1, b: 2 } })), requestKey(objectConfig({ objectName: 'y', secretArgs: { b: 2, a: 1 } })));
  });

  it('groups objects by request, led by a required object, and skips objects that read nothing from Vault', () => {
    const objects = [
      objectConfig({ objectName: 'opt', optional: true }),
      objectConfig({ objectName: 'req' }),
      objectConfig({ objectName: 'cert', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'a' }, secretNamespace: 'ns1' }),
      objectConfig({ objectName: 'rendered', secretPath: '', requestPath: '' }),
    ];
    const groups = groupByRequest(objects);
    assert.equal(groups.length, 2);
    const [kv, pki] = groups;
    assert.deepEqual(kv!.objects.map((o) => o.objectName), ['opt', 'req']);
    assert.equal(kv!.lead.objectName, 'req');
    assert.deepEqual(kv!.request, { method: 'GET', requestPath: '/v1/secret/data/app', query: '', body: undefined });
    assert.deepEqual(pki!.request, { method: 'PUT', requestPath: '/v1/pki/issue/web', query: '', body: { common_name: 'a' }, namespace: 'ns1' });
    assert.equal(groupByRequest(objects), groups, 'computed once per objects list');
  });

  it('shares a minted credential across pods (workload scope) only when every object reading it says so', () => {
    const db = (name: string, scope?: 'workload' | 'pod') =>
      objectConfig({ objectName: name, secretPath: 'database/creds/web', ...(scope === undefined ? {} : { credentialScope: scope }) });
    assert.equal(groupByRequest([db('u', 'workload'), db('p', 'workload')])[0]!.credentialScope, 'workload');
    assert.equal(groupByRequest([db('u', 'workload'), db('p')])[0]!.credentialScope, 'pod');
  });
});
