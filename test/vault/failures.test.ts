/** What Vault's error answers become: messages that quote Vault's text only cut, cleaned and bounded. */
import assert from 'node:assert/strict';
import { classifyFailure, MAX_QUOTED_VAULT_ERRORS } from '../../src/vault/failures.js';
import { VaultHttpError } from '../../src/vault/transport.js';
import { VAULT_MESSAGE_QUOTE_CHARS, VAULT_MESSAGE_SCAN_CHARS } from '../../src/errors.js';
import { countWork } from '../helpers/work-spy.js';

const target = { address: 'https://vault:8200', path: '/v1/pki/issue/web', method: 'PUT' };

describe('vault/failures: Vault\'s error text', () => {
  it('quotes Vault\'s errors, cleaned, joined', () => {
    const { error } = classifyFailure(new VaultHttpError(400, { errors: ['common name evil.org not allowed by this role', 'second'] }, {}), target, undefined);
    assert.equal(error.code, 'VAULT_REQUEST_REJECTED');
    assert.equal(error.message, 'Vault rejected PUT https://vault:8200/v1/pki/issue/web (400): common name evil.org not allowed by this role; second');
    assert.equal(error.context.detail, 'common name evil.org not allowed by this role; second');
  });

  it('reads a bounded part of an echoed error (issue 19, class 4): no regex over more than the scan limit', () => {
    const echo = 'eyJ'.repeat(Math.floor((128 * 1024) / 3));
    const work = countWork(() => classifyFailure(new VaultHttpError(400, { errors: [`common name ${echo} not allowed by this role`] }, {}), target, undefined));
    const { error } = work.result;
    assert.equal(error.code, 'VAULT_REQUEST_REJECTED');
    assert.ok(Math.max(...work.regexInputs) <= VAULT_MESSAGE_SCAN_CHARS + 1, `a regex ran over ${Math.max(...work.regexInputs)} characters`);
    assert.ok((error.context.detail ?? '').length <= VAULT_MESSAGE_QUOTE_CHARS + 1);
    assert.ok(!error.message.includes('eyJeyJ'));
  });

  it('quotes at most a few of many errors and counts the rest', () => {
    const errors = Array.from({ length: 100_000 }, (_, i) => `role "r${i}" not found`);
    const work = countWork(() => classifyFailure(new VaultHttpError(400, { errors }, {}), target, undefined));
    const detail = work.result.error.context.detail ?? '';
    assert.equal(detail, `${errors.slice(0, MAX_QUOTED_VAULT_ERRORS).join('; ')}; and ${100_000 - MAX_QUOTED_VAULT_ERRORS} more`);
    // The whitespace fold of each quoted error (a run per blank), and nothing for the others.
    assert.ok(work.regexInputs.length <= MAX_QUOTED_VAULT_ERRORS * 5, `${work.regexInputs.length} regex runs`);
  });

  it('reads warnings the same way', () => {
    const warning = `Invalid path for a versioned K/V secrets engine. ${'x'.repeat(100_000)}`;
    const { error } = classifyFailure(new VaultHttpError(404, { errors: [], warnings: [warning] }, {}), { ...target, method: 'GET', path: '/v1/secret/app' }, undefined);
    assert.equal(error.code, 'INVALID_CONFIG');
    assert.ok(error.message.length < 600, `${error.message.length}`);
  });
});
