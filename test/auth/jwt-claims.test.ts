import assert from 'node:assert/strict';
import { checkOwnToken } from '../../src/auth/jwt-claims.js';

const pod = { name: 'web-1', namespace: 'prod', uid: 'uid-1', serviceAccountName: 'web' };

function jwt(claims: Record<string, unknown>): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'RS256' })}.${enc(claims)}.c2ln`;
}

function reason(token: string, who = pod): string {
  const check = checkOwnToken(token, who);
  assert.equal(check.ok, false, 'refused');
  return check.ok ? '' : check.reason;
}

describe('auth/jwt-claims', () => {
  it("accepts a token for the pod's own ServiceAccount and pod, and says which pod it is bound to", () => {
    const token = jwt({ sub: 'system:serviceaccount:prod:web', 'kubernetes.io': { pod: { name: 'web-1', uid: 'uid-1' } } });
    assert.deepEqual(checkOwnToken(token, pod), { ok: true, token: { boundPodUid: 'uid-1' } });
  });

  it("accepts an unbound token of the pod's own ServiceAccount (the secrets-store-sync-controller sends those)", () => {
    assert.deepEqual(checkOwnToken(jwt({ sub: 'system:serviceaccount:prod:web', 'kubernetes.io': { namespace: 'prod' } }), pod), { ok: true, token: { boundPodUid: undefined } });
  });

  it('refuses a token for another ServiceAccount or namespace, without quoting it', () => {
    for (const sub of ['system:serviceaccount:prod:admin', 'system:serviceaccount:kube-system:web', 'system:serviceaccount:prod:web:extra']) {
      const why = reason(jwt({ sub }));
      assert.match(why, /not the pod's ServiceAccount prod\/web/);
      assert.ok(!why.includes(sub));
    }
  });

  it('refuses a token bound to another pod, or naming a bound pod without a UID', () => {
    assert.match(reason(jwt({ sub: 'system:serviceaccount:prod:web', 'kubernetes.io': { pod: { uid: 'uid-2' } } })), /another pod/);
    assert.match(reason(jwt({ sub: 'system:serviceaccount:prod:web', 'kubernetes.io': { pod: { name: 'web-1' } } })), /without a UID/);
  });

  it('refuses JWTs that are no ServiceAccount token, and tokens that are no JWT', () => {
    for (const claims of [{ sub: 'user@example.com' }, { sub: 'system:serviceaccounts:prod' }, { iss: 'x' }, { sub: 42 }]) {
      assert.match(reason(jwt(claims)), /not a Kubernetes ServiceAccount token/);
    }
    for (const token of ['not-a-jwt', 'a.%%%.c', 'a.bnVsbA.c', `${'x'.repeat(10)}.${Buffer.from('[1]').toString('base64url')}.c`]) {
      assert.match(reason(token), /not a JWT/);
    }
  });

  it('refuses a token when the request names no ServiceAccount to compare it with', () => {
    assert.match(reason(jwt({ sub: 'system:serviceaccount::' }), { ...pod, namespace: '', serviceAccountName: '' }), /not the pod's ServiceAccount/);
  });
});
