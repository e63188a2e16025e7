/** The catalog's sanitiser of Vault's error text: bounded before any scan, linear, and at least as strict as before. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { redactTokens, sanitizeVaultMessage, VAULT_MESSAGE_QUOTE_CHARS, VAULT_MESSAGE_SCAN_CHARS } from '../src/errors.js';
import { countWork } from './helpers/work-spy.js';

// The shapes the redaction has always used (the regexes it used before, kept as the oracle on short inputs).
const OLD_JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g;
const OLD_VAULT_TOKEN_LIKE = /\b(?:hvs|hvb|hvr|s|b|r)\.[A-Za-z0-9_-]{8,}/g;

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDp3ZWIifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
const TOKEN = 'hvs.CAESIJ1234567890abcdefghijklmnopQRSTUV';

/** Every stretch of `secret` of `len` characters. */
function pieces(secret: string, len: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + len <= secret.length; i++) out.push(secret.slice(i, i + len));
  return out;
}

describe('errors: sanitizeVaultMessage', () => {
  it('redacts JWTs and Vault tokens and keeps the rest of an ordinary message', () => {
    assert.equal(sanitizeVaultMessage(`could not validate ${JWT}`), 'could not validate <redacted-jwt>');
    assert.equal(sanitizeVaultMessage(`token ${TOKEN} is not allowed`), 'token <redacted-token> is not allowed');
    assert.equal(sanitizeVaultMessage('role "web" could not be found'), 'role "web" could not be found');
    assert.equal(sanitizeVaultMessage('1 error occurred:\n\t* permission denied\n\n'), '1 error occurred: * permission denied');
    for (const prefix of ['hvb', 'hvr', 's', 'b', 'r']) {
      assert.equal(sanitizeVaultMessage(`x ${prefix}.abcdefgh1234 y`), 'x <redacted-token> y', prefix);
    }
    // Not tokens: a prefix inside a word, too short a tail.
    assert.equal(sanitizeVaultMessage('kids.abcdefgh1234 s.abc'), 'kids.abcdefgh1234 s.abc');
  });

  it('redacts everything the former regexes redacted, and the rest of the word it is in', () => {
    const alphabet = fc.constantFrom('eyJ', 'hvs', 's', 'b', 'r', '.', '-', '_', 'a', 'Z', '9', ' ', '"', ':', 'x'.repeat(8));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }).map((parts) => parts.join('')), (text) => {
        const out = redactTokens(text);
        assert.doesNotMatch(out, OLD_JWT_LIKE, `${text} → ${out}`);
        OLD_JWT_LIKE.lastIndex = 0;
        assert.doesNotMatch(out, OLD_VAULT_TOKEN_LIKE, `${text} → ${out}`);
        OLD_VAULT_TOKEN_LIKE.lastIndex = 0;
        // Nothing the old redaction would have removed survives.
        const oldOut = text.replace(OLD_JWT_LIKE, '<redacted-jwt>').replace(OLD_VAULT_TOKEN_LIKE, '<redacted-token>');
        if (oldOut === text) assert.equal(out, text);
      }),
      { numRuns: 3000 },
    );
  });

  it('never shows a usable part of a JWT or a token, wherever the cut falls', () => {
    for (const secret of [JWT, TOKEN]) {
      for (let before = VAULT_MESSAGE_SCAN_CHARS - secret.length - 2; before <= VAULT_MESSAGE_SCAN_CHARS + 2; before++) {
        for (const filler of ['x', ' ', 'a.b ']) {
          const text = `${filler.repeat(Math.ceil(before / filler.length)).slice(0, before)}${secret} tail`;
          const out = sanitizeVaultMessage(text);
          for (const piece of pieces(secret, 8)) assert.ok(!out.includes(piece), `${JSON.stringify(out.slice(-40))} shows ${piece} (secret at ${before})`);
        }
      }
    }
    // A secret that starts in the quoted part and runs past the cut.
    const long = `token ${'hvs.'}${'A'.repeat(VAULT_MESSAGE_SCAN_CHARS * 2)}`;
    assert.equal(sanitizeVaultMessage(long), 'token …');
  });

  it('reads no further than VAULT_MESSAGE_SCAN_CHARS, and runs no regex over more', () => {
    const head = 'common name x not allowed: '.padEnd(VAULT_MESSAGE_SCAN_CHARS, 'q');
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), (a, b) => {
        assert.equal(sanitizeVaultMessage(`${head} ${a}`), sanitizeVaultMessage(`${head} ${b}`));
      }),
    );
    // The attack of issue 19: 128 KiB of `eyJ` echoed into an error took the former regexes ~10 s.
    const echo = `common name ${'eyJ'.repeat(Math.floor((128 * 1024) / 3))} not allowed by this role`;
    const work = countWork(() => sanitizeVaultMessage(echo));
    assert.ok(work.regexInputs.length > 0, 'the whitespace fold is a regex run');
    assert.ok(Math.max(...work.regexInputs) <= VAULT_MESSAGE_SCAN_CHARS + 1, `a regex ran over ${Math.max(...work.regexInputs)} characters`);
    assert.ok(work.result.length <= VAULT_MESSAGE_QUOTE_CHARS + 1);
    assert.ok(!work.result.includes('eyJeyJ'), work.result);
  });

  it('redacts in time linear in the text: a bounded number of looks per character, and no regex', () => {
    const attacks: Array<(n: number) => string> = [
      (n) => 'eyJ'.repeat(n / 3),
      (n) => 's.'.repeat(n / 2),
      (n) => `${'a-'.repeat(n / 4)}.${'b'.repeat(n / 2)}`,
      (n) => 'eyJabcd.'.repeat(n / 8),
      (n) => `${'eyJ'.repeat(n / 6)}${'.x'.repeat(n / 4)}`,
    ];
    for (const attack of attacks) {
      const small = countWork(() => redactTokens(attack(12_000)));
      const large = countWork(() => redactTokens(attack(48_000)));
      assert.deepEqual([...small.regexInputs, ...large.regexInputs], []);
      assert.ok(large.looks <= 8 * 48_000, `${large.looks} looks for 48,000 characters`);
      // Four times the text, about four times the looks (a quadratic scan would take sixteen).
      assert.ok(large.looks <= 4.5 * small.looks, `${small.looks} → ${large.looks}`);
    }
  });
});
