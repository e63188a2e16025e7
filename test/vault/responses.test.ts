/** The shapes Vault's answers must have before anything reads them, and what they let through. */
import assert from 'node:assert/strict';
import { loginResponseSchema, secretResponseSchema } from '../../src/vault/responses.js';

describe('vault/responses', () => {
  it('a secret answer: nulls where Vault sends them, unknown fields kept, a data that is no object refused', () => {
    const ok = secretResponseSchema.parse({ request_id: 'r', lease_id: '', lease_duration: 0, renewable: false, data: { a: 1 }, warnings: null, mount_type: '', extra: true });
    assert.deepEqual(ok.data, { a: 1 });
    assert.equal((ok as Record<string, unknown>)['extra'], true);
    assert.ok(secretResponseSchema.safeParse({ data: null, lease_id: null }).success);
    assert.ok(!secretResponseSchema.safeParse({ data: 'text' }).success);
    assert.ok(!secretResponseSchema.safeParse({ lease_duration: '60' }).success);
  });

  it('a login answer needs a client token and a lease duration; real Vault may send an empty mount_type', () => {
    assert.ok(loginResponseSchema.safeParse({ auth: { client_token: 'hvs.x', lease_duration: 3600 }, mount_type: '' }).success);
    assert.ok(!loginResponseSchema.safeParse({ auth: { client_token: '', lease_duration: 3600 } }).success);
    assert.ok(!loginResponseSchema.safeParse({ auth: { client_token: 'hvs.x', lease_duration: -1 } }).success);
    assert.ok(!loginResponseSchema.safeParse({ auth: null }).success);
  });
});
