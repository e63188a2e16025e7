import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Sensitive } from '../../src/config/sensitive.js';

describe('config/sensitive', () => {
  const secret = new Sensitive('s3cr3t-value');

  it('gives its value only to reveal()', () => {
    assert.equal(secret.reveal(), 's3cr3t-value');
  });

  it('prints as [redacted] however it is turned into text: JSON, String, a template, inspect, a log object', () => {
    assert.equal(JSON.stringify({ password: secret }), '{"password":"[redacted]"}');
    assert.equal(String(secret), '[redacted]');
    assert.equal(`${secret.toString()}`, '[redacted]');
    assert.equal(inspect(secret), '[redacted]');
    assert.ok(!inspect({ nested: { secret } }, { depth: 5 }).includes('s3cr3t'));
  });
});
