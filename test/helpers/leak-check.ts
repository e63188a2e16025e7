/**
 * The no-leak assertion shared by the end-to-end suites: no secret value, Vault token or JWT in any text the
 * provider produced (log lines, gRPC error details, object versions, metrics). Secret values are given by the test;
 * tokens and JWTs are recognised by shape, so a leak of one we never saw is caught too.
 */
import assert from 'node:assert/strict';

/** Vault service/batch/recovery tokens as Vault (and the test server) mint them. */
export const VAULT_TOKEN_SHAPE = /\bhv[sbr]\.[A-Za-z0-9_-]{8,}/;
/** A compact JWS: header and payload are base64url JSON, so both start with `eyJ`. */
export const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/;

export function assertNoLeaks(where: string, texts: Iterable<string>, secretValues: readonly string[] = []): number {
  let count = 0;
  for (const text of texts) {
    count += 1;
    for (const secret of secretValues) {
      assert.ok(!text.includes(secret), `${where} contains the secret value ${JSON.stringify(secret.slice(0, 12))}…: ${text.slice(0, 300)}`);
    }
    assert.ok(!VAULT_TOKEN_SHAPE.test(text), `${where} contains a Vault token: ${text.slice(0, 300)}`);
    assert.ok(!JWT_SHAPE.test(text), `${where} contains a JWT: ${text.slice(0, 300)}`);
  }
  return count;
}
