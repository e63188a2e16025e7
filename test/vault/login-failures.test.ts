/**
 * A login's credentials in Vault's answer, at any status (issue 19, class 11): classifyFailure with the request's
 * redactor quotes none of them, whole, re-spaced, JSON-escaped or cut.
 */
import assert from 'node:assert/strict';
import { classifyFailure, WITHHELD } from '../../src/vault/failures.js';
import { VaultHttpError } from '../../src/vault/transport.js';
import { CredentialRedactor, TRACE_CHARS } from '../../src/shared/credential-redactor.js';

// No word of Vault's messages in it: a credential sharing TRACE_CHARS characters in a row with Vault's text withholds the text.
const PASSWORD = 'lf-pw-5e1c9-Qx7Tz-b0d';
const TARGET = { address: 'https://vault.example:8200', path: '/v1/auth/userpass/login/alice', method: 'POST' };

/** Every run of TRACE_CHARS characters of `secret`: none may be in the text. */
function assertNoTrace(text: string, secret: string): void {
  for (let i = 0; i + TRACE_CHARS <= secret.length; i++) {
    const run = secret.slice(i, i + TRACE_CHARS);
    assert.ok(!text.includes(run), `${JSON.stringify(run)} of the credential is in ${JSON.stringify(text)}`);
  }
}

function classified(status: number, errors: unknown[], extra: Record<string, unknown> = {}, secrets: readonly string[] = [PASSWORD]) {
  const err = new VaultHttpError(status, { errors, ...extra }, {});
  return classifyFailure(err, TARGET, undefined, new CredentialRedactor(secrets)).error;
}

describe('vault/failures: a login failure never quotes the login\'s credentials', () => {
  it('cuts an echoed password out of the answer, whatever the status', () => {
    for (const status of [400, 401, 403, 404, 405, 412, 429, 500, 502, 503, 504]) {
      const error = classified(status, [`upstream said: {"password":"${PASSWORD}"}`], { warnings: [`echo ${PASSWORD}`] });
      assertNoTrace(error.message, PASSWORD);
      assertNoTrace(JSON.stringify(error.context), PASSWORD);
      if (status !== 404) assert.match(error.message, /\[redacted\]/, `${status}: ${error.message}`);
    }
  });

  it('cuts it before Vault\'s text is cut short, so no half of it is left', () => {
    // The text is cut to a bounded length after the removal: the password straddles where the cut falls.
    const error = classified(502, [`${'x'.repeat(190)}${PASSWORD} and more`]);
    assertNoTrace(error.message, PASSWORD);
    assert.ok(!error.message.includes(PASSWORD.slice(0, 10)), error.message);
  });

  it('withholds a text that still holds part of one: re-spaced by Vault, or escaped in a way the removal does not know', () => {
    const spaced = 'correct horse battery staple';
    const respaced = classified(502, ['bad password: correct\thorse\n battery   staple'], {}, [spaced]);
    assert.ok(respaced.message.endsWith(WITHHELD), respaced.message);
    assert.equal(respaced.context.detail, WITHHELD);
    const percent = classified(500, [`login/${encodeURIComponent('pa ss/word-9f2e')}`], {}, ['pa ss/word-9f2e']);
    assert.ok(!percent.message.includes('word-9f2e'), percent.message);
    // A JSON-escaped echo of a credential with quotes in it is removed whole.
    const quoted = 'pw-with-"quotes"-and-\\';
    const escaped = classified(502, [`body: ${JSON.stringify({ password: quoted })}`], {}, [quoted]);
    assert.match(escaped.message, /body: \{"password":"\[redacted\]"\}/);
  });

  it('keeps Vault\'s own text when it quotes no credential', () => {
    const error = classified(400, ['invalid username or password']);
    assert.equal(error.code, 'VAULT_REQUEST_REJECTED');
    assert.match(error.message, /\(400\): invalid username or password$/);
    assert.equal(classified(502, ['bad gateway']).context.detail, 'bad gateway');
    // The price of failing safe: a credential sharing TRACE_CHARS characters in a row with Vault's text withholds it.
    assert.equal(classified(400, ['invalid username or password'], {}, ['mypassword1']).context.detail, WITHHELD);
  });
});
