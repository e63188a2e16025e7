import assert from 'node:assert/strict';
import { tokenMismatch } from '../../src/auth/jwt-claims.js';

const pod = { name: 'web-1', namespace: 'prod', uid: 'uid-1', serviceAccountName: 'web' };

function jwt(claims: Record<string, unknown>): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'RS256' })}.${enc(claims)}.c2ln`;
}

describe('auth/jwt-claims', () => {
  it("accepts a token for the pod's own ServiceAccount and pod", () => {
    const token = jwt({ sub: 'system:serviceaccount:prod:web', 'kubernetes.io': { pod: { uid: 'uid-1' } } });
    assert.equal(tokenMismatch(token, pod), undefined);
  });

  it('refuses a token for another ServiceAccount or namespace, without quoting it', () => {
    for (const sub of ['system:serviceaccount:prod:admin', 'system:serviceaccount:kube-system:web']) {
      const reason = tokenMismatch(jwt({ sub }), pod);
      assert.match(reason ?? '', /not the pod's ServiceAccount prod\/web/);
      assert.ok(!(reason ?? '').includes(sub));
    }
  });

  it('refuses a token bound to another pod', () => {
    assert.match(tokenMismatch(jwt({ sub: 'system:serviceaccount:prod:web', 'kubernetes.io': { pod: { uid: 'uid-2' } } }), pod) ?? '', /another pod/);
  });

  it('leaves tokens without Kubernetes claims, or unreadable ones, to Vault', () => {
    assert.equal(tokenMismatch(jwt({ sub: 'user@example.com' }), pod), undefined);
    assert.equal(tokenMismatch('not-a-jwt', pod), undefined);
    assert.equal(tokenMismatch('a.%%%.c', pod), undefined);
  });
});
