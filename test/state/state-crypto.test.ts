import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { deriveStateKeys, ENVELOPE_BYTES, openState, sealState, StateUnreadable } from '../../src/state/state-crypto.js';

const HMAC_KEY = Buffer.alloc(32, 7);

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err: unknown) {
    assert.ok(err instanceof StateUnreadable, String(err));
    return err.reason;
  }
  assert.fail('opened');
}

describe('state/state-crypto', () => {
  it('derives keys of their own from the HMAC key: stable, distinct, and different for another HMAC key', () => {
    const a = deriveStateKeys(HMAC_KEY);
    assert.equal(a.encryption.length, 32);
    assert.deepEqual(deriveStateKeys(Buffer.from(HMAC_KEY)), a);
    assert.ok(!a.encryption.equals(a.credentialDigest));
    assert.ok(!a.encryption.equals(HMAC_KEY));
    assert.ok(!deriveStateKeys(Buffer.alloc(32, 8)).encryption.equals(a.encryption));
  });

  it('seals and opens; the sealed bytes hold no plaintext and differ every time (random nonce)', () => {
    const key = deriveStateKeys(HMAC_KEY).encryption;
    const plain = Buffer.from('{"tokens":[{"token":"hvs.SECRET-TOKEN-VALUE"}]}');
    const one = sealState(plain, key, 'vault.sock');
    const two = sealState(plain, key, 'vault.sock');
    assert.equal(one.length, plain.length + ENVELOPE_BYTES);
    assert.ok(!one.equals(two));
    assert.ok(!one.includes(Buffer.from('hvs.')) && !one.includes(Buffer.from('SECRET')));
    assert.deepEqual(openState(one, key, 'vault.sock'), plain);
    assert.deepEqual(openState(two, key, 'vault.sock'), plain);
  });

  it('refuses a file under another key, of another endpoint, not a state file, of another version, or truncated', () => {
    const key = deriveStateKeys(HMAC_KEY).encryption;
    const sealed = sealState(Buffer.from('{"v":1}'), key, 'vault.sock');
    assert.equal(reason(() => openState(sealed, deriveStateKeys(Buffer.alloc(32, 9)).encryption, 'vault.sock')), 'authentication-failed');
    assert.equal(reason(() => openState(sealed, key, 'openbao.sock')), 'authentication-failed');
    assert.equal(reason(() => openState(Buffer.from('{"v":1}'), key, 'vault.sock')), 'not-a-state-file');
    assert.equal(reason(() => openState(Buffer.alloc(0), key, 'vault.sock')), 'not-a-state-file');
    const other = Buffer.from(sealed);
    other[8] = 2;
    assert.equal(reason(() => openState(other, key, 'vault.sock')), 'unsupported-version');
    for (const length of [ENVELOPE_BYTES - 1, ENVELOPE_BYTES, sealed.length - 1]) {
      assert.match(reason(() => openState(sealed.subarray(0, length), key, 'vault.sock')), /not-a-state-file|authentication-failed/);
    }
  });

  it('refuses the file after any one byte is flipped, wherever it is', () => {
    const key = deriveStateKeys(HMAC_KEY).encryption;
    const plain = randomBytes(200);
    const sealed = sealState(plain, key, 'vault.sock');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: sealed.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bad = Buffer.from(sealed);
        bad[at] = bad[at]! ^ mask;
        assert.notEqual(reason(() => openState(bad, key, 'vault.sock')), undefined);
      }),
      { numRuns: 300 },
    );
  });
});
