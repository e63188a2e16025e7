import assert from 'node:assert/strict';
import { isPlainObject } from '../../src/shared/plain-object.js';

describe('shared/plain-object', () => {
  it('accepts JSON objects, the empty one and one parsed with a __proto__ key included', () => {
    assert.equal(isPlainObject({}), true);
    assert.equal(isPlainObject({ a: 1 }), true);
    assert.equal(isPlainObject(JSON.parse('{"__proto__": 1}')), true);
  });

  it('refuses null, arrays and every scalar', () => {
    for (const value of [null, undefined, [], [1], 'x', 0, true]) assert.equal(isPlainObject(value), false, String(value));
  });
});
