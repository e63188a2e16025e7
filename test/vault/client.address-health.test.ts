import assert from 'node:assert/strict';
import { AddressHealth, ADDRESS_FAILURE_MEMORY_MS, movesOn } from '../../src/vault/client.js';
import { ProviderError, type ErrorCode } from '../../src/errors.js';
import type { ClassifiedFailure } from '../../src/vault/failures.js';

function failure(code: ErrorCode, httpStatus?: number, transient = false): ClassifiedFailure {
  return { error: new ProviderError(code, 'x', httpStatus === undefined ? {} : { httpStatus }), reach: 'answered', transient, retryAfterSeconds: undefined };
}

describe('vault/client: address health', () => {
  it('puts recently failed addresses last, oldest failure first, for the memory window only', () => {
    let now = 0;
    const health = new AddressHealth({ now: () => now });
    const list = ['a', 'b', 'c'];
    assert.deepEqual(health.order(list), list);
    health.failed('a');
    now = 10;
    health.failed('b');
    assert.deepEqual(health.order(list), ['c', 'a', 'b']);
    health.failed('c');
    assert.deepEqual(health.order(list), ['a', 'b', 'c']); // all failed: still all tried
    health.succeeded('b');
    assert.deepEqual(health.order(list), ['b', 'a', 'c']);
    now = ADDRESS_FAILURE_MEMORY_MS;
    // a's failure has passed out of memory, c's (at 10) has not.
    assert.deepEqual(health.order(list), ['a', 'b', 'c']);
    assert.equal(health.recentlyFailed('c'), true);
    assert.equal(health.recentlyFailed('a'), false);
    now = ADDRESS_FAILURE_MEMORY_MS + 10;
    assert.deepEqual(health.order(list), list);
  });

  it('moves on after failures of the node, not after answers about the request', () => {
    assert.equal(movesOn(failure('VAULT_UNAVAILABLE', 503)), true);
    assert.equal(movesOn(failure('VAULT_UNAVAILABLE')), true);
    assert.equal(movesOn(failure('VAULT_REDIRECT_REFUSED')), true);
    assert.equal(movesOn(failure('VAULT_REQUEST_REJECTED', 473)), true);
    assert.equal(movesOn(failure('VAULT_REQUEST_REJECTED', 400)), false);
    assert.equal(movesOn(failure('BAD_VAULT_RESPONSE', 502, true)), true);
    assert.equal(movesOn(failure('BAD_VAULT_RESPONSE')), false);
    for (const code of ['PERMISSION_DENIED', 'SECRET_NOT_FOUND', 'AUTH_FAILED', 'DEADLINE_EXCEEDED'] as const) assert.equal(movesOn(failure(code, 403)), false);
  });
});
