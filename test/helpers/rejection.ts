/** Awaits a promise that must reject with a ProviderError, and returns that error for further assertions. */
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
