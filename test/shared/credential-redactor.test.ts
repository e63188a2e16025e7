import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CredentialRedactor, REDACTED, TRACE_CHARS } from '../../src/shared/credential-redactor.js';
import { createTlsMaterial } from '../vault-server/index.js';

describe('shared/credential-redactor: a request\'s credentials out of what Vault says about it', () => {
  const password = 'correct horse battery staple';
  const secretId = '6f1e0c2a-4b5d-4e8f-9a0b-1c2d3e4f5a6b';
  const redactor = new CredentialRedactor([password, secretId, 'p"w\\x-quoted']);

  it('removes every whole credential, as sent and as JSON escapes it (an echoed body), longest first', () => {
    assert.equal(redactor.remove(`bad password ${password}, again ${password}`), `bad password ${REDACTED}, again ${REDACTED}`);
    assert.equal(redactor.remove(`body {"secret_id":"${secretId}"}`), `body {"secret_id":"${REDACTED}"}`);
    assert.equal(redactor.remove('echo {"password":"p\\"w\\\\x-quoted"}'), `echo {"password":"${REDACTED}"}`);
    // One credential inside another: the longer goes first, so no piece of it is left.
    const nested = new CredentialRedactor(['abcd', 'xxabcdxx']);
    assert.equal(nested.remove('xxabcdxx abcd'), `${REDACTED} ${REDACTED}`);
    assert.equal(redactor.remove('permission denied'), 'permission denied');
  });

  it('finds what is left of one after Vault re-spaced it or a cut took part of it', () => {
    assert.equal(redactor.traces('correct  horse\tbattery'), true, 're-spaced');
    assert.equal(redactor.traces(`…${secretId.slice(0, TRACE_CHARS)}`), true, 'the first characters before a cut');
    assert.equal(redactor.traces(`${secretId.slice(-TRACE_CHARS)} at the end`), true, 'the last characters after one');
    assert.equal(redactor.traces(secretId.slice(3, 3 + TRACE_CHARS - 1)), false, 'fewer than TRACE_CHARS in a row');
    assert.equal(redactor.traces('invalid role or secret ID'), false);
    assert.equal(redactor.traces(''), false);
    // A credential shorter than TRACE_CHARS is looked for whole; one shorter than MIN_CHARS not at all.
    const short = new CredentialRedactor(['pw12345', 'abc']);
    assert.equal(short.traces('x pw 12345 y'), true);
    assert.equal(short.traces('pw1234'), false);
    assert.equal(short.traces('abc'), false);
    assert.equal(short.remove('abc'), 'abc');
    assert.equal(new CredentialRedactor(['abc']).empty, true);
  });

  it('does not take PEM armour for a client key, but finds a line of one', async () => {
    const tls = await createTlsMaterial();
    const key = new CredentialRedactor([tls.clientKeyPem]);
    assert.equal(key.traces(tls.clientCertPem), false, 'a certificate shares the armour, not the key');
    assert.equal(key.traces(`bad key ${tls.clientKeyPem.split('\n')[1]!.slice(10, 30)}`), true);
    assert.equal(key.remove(`echo ${JSON.stringify(tls.clientKeyPem)}`), `echo "${REDACTED}"`);
  });

  it('finds any run of a credential anywhere in any text (rolling hash against a naive search)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4, maxLength: 40 }), fc.string({ maxLength: 60 }), fc.nat(), fc.string({ maxLength: 60 }), (secret, before, start, after) => {
        const bare = secret.replace(/\s+/g, '');
        fc.pre(bare.length >= 4);
        const length = Math.min(TRACE_CHARS, bare.length);
        const at = start % (bare.length - length + 1);
        const r = new CredentialRedactor([secret]);
        assert.equal(r.traces(`${before}${bare.slice(at, at + length)}${after}`), true);
        const text = `${before}${after}`.replace(/\s+/g, '');
        let naive = false;
        for (let i = 0; i + length <= bare.length; i++) if (text.includes(bare.slice(i, i + length))) naive = true;
        assert.equal(r.traces(`${before}${after}`), naive);
      }),
      { numRuns: 500 },
    );
  });
});
