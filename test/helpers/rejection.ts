/** Catching a ProviderError for further assertions: from a promise that must reject, or a call that must throw. */
import assert from 'node:assert/strict';
import { ProviderError } from '../../src/errors.js';

export async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (err: unknown) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

export function thrown(fn: () => unknown): ProviderError {
  try {
    fn();
  } catch (err: unknown) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ProviderError to be thrown');
}
