/**
 * A denial is not a revocation. A 403 on a read with a cached token is either the policy's answer or a token Vault
 * no longer knows; the provider asks Vault which (`auth/token/lookup-self` with the token). A live token: that mount
 * fails with PERMISSION_DENIED naming the object and path, and nothing else changes — no login, no lease or
 * certificate dropped, for this pod or any other. A dead token: what it obtained is dropped, one login, one retry.
 * Counted in the test Vault's request log.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startHarness, POD, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';

const DB = [
  { objectName: 'db/username', secretPath: 'database/creds/web', secretKey: 'username' },
  { objectName: 'db/password', secretPath: 'database/creds/web', secretKey: 'password' },
];
const TLS = [{ objectName: 'tls.key', secretPath: 'pki/issue/web', secretKey: 'private_key', method: 'PUT', secretArgs: { common_name: 'a.prod.svc' } }];
const STATIC = [{ objectName: 'app', secretPath: 'secret/data/app', secretKey: 'password' }];
const DENIED = [{ objectName: 'forbidden', secretPath: 'private/data/x', secretKey: 'k' }];

function text(res: MountResponse__Output, path: string): string {
  return Buffer.from(res.files.find((f) => f.path === path)!.contents).toString();
}

function pod(n: number, serviceAccountName = 'web'): PodIdentity {
  return { ...POD, name: `web-${n}`, uid: `uid-denials-${n}`, serviceAccountName };
}

describe('e2e: a denial is not a revocation', function () {
  this.timeout(30_000);
  let h: Harness;
  const errors: string[] = [];

  const mount = (objects: ReadonlyArray<Record<string, unknown>>, who: PodIdentity) => h.client.mount(h.request({ objects, pod: who }));
  const lookups = () => h.vault.countRequests({ routePrefix: 'auth/token/lookup-self' });

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'app-pw' });
    // A mount the role's policy does not cover: every read there is 403 for a live token.
    h.vault.enableKv('private', 2);
    h.vault.putKv('private', 'x', { k: 'private-value' });
    await h.startProvider();
  });

  after(async () => {
    assertNoLeaks('log line', h.logs);
    assertNoLeaks('error message', errors);
    await h.close();
  });

  it("fails a denied object's mount alone, every republish, with no login and without touching other pods' leases", async () => {
    const a = await mount([...DB, ...TLS, ...STATIC], pod(1));
    const kept = h.provider.leases.size;
    assert.equal(kept, 2, "pod 1's credential and certificate are kept");
    h.vault.clearRequests();
    // A second volume of pod 1 (so the same cached token) names a path its policy denies; the driver republishes
    // it every minute.
    for (let i = 0; i < 3; i++) {
      const err = await h.client.mountError(h.request({ objects: [...STATIC, ...DENIED], pod: pod(1) }));
      errors.push(err.details);
      assert.equal(err.code, status.PERMISSION_DENIED);
      assert.match(err.details, /^PERMISSION_DENIED: object "forbidden" \(Vault path private\/data\/x\): Vault denied GET .*\/v1\/private\/data\/x \(403\)/);
    }
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0, 'a denial costs no login');
    assert.equal(lookups(), 3, 'one lookup-self per denied mount');
    assert.equal(h.vault.countRequests({ kind: 'read', status: 403 }), 3);
    // Pod 1 republishes: its credential and certificate are still kept, and its token still used.
    h.vault.clearRequests();
    const again = await mount([...DB, ...TLS, ...STATIC], pod(1));
    assert.equal(text(again, 'db/username'), text(a, 'db/username'));
    assert.equal(text(again, 'tls.key'), text(a, 'tls.key'));
    assert.equal(h.provider.leases.size, kept);
    assert.deepEqual(
      { login: h.vault.countRequests({ kind: 'login' }), dynamic: h.vault.countRequests({ kind: 'dynamic' }), issue: h.vault.countRequests({ kind: 'issue' }) },
      { login: 0, dynamic: 0, issue: 0 },
    );
  });

  it("concurrent denied mounts of one token ask Vault once", async () => {
    await mount(STATIC, pod(3));
    h.vault.clearRequests();
    h.vault.injectFault({ pathPrefix: 'auth/token/lookup-self', delayMs: 200, times: 1 });
    // Three volumes of pod 3, one token between them.
    const errs = await Promise.all([1, 2, 3].map(() => h.client.mountError(h.request({ objects: DENIED, pod: pod(3) }))));
    errors.push(...errs.map((e) => e.details));
    assert.ok(errs.every((e) => e.code === status.PERMISSION_DENIED));
    assert.equal(lookups(), 1);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
  });

  it('after a revocation: one login, one retry, and what the dead token obtained is fetched anew', async () => {
    // Another identity's token and lease: alive, and left alone.
    h.vault.addKubernetesRole('kubernetes', 'api', { boundServiceAccountNames: ['api'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] });
    const other = await h.client.mount(h.request({ objects: DB, pod: pod(9, 'api'), params: { roleName: 'api' } }));
    const before = await mount([...DB, ...STATIC], pod(1));
    // Vault forgets the web ServiceAccount's token (an operator revoked it, or it expired early): its leases go too.
    const revoked = h.vault.revokedLeases().length;
    assert.ok(h.vault.revokeTokensWithMeta('service_account_name', 'web') >= 1, 'a token per pod of web: all of them');
    assert.ok(h.vault.revokedLeases().length > revoked);
    const keptBefore = h.provider.leases.size;
    h.vault.clearRequests();
    const after = await mount([...DB, ...STATIC], pod(1));
    assert.equal(text(after, 'app'), 'app-pw');
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1, 'one login');
    assert.equal(lookups(), 1, 'asked once whether the token lives');
    assert.equal(h.vault.countRequests({ kind: 'read', status: 403 }), 1);
    assert.equal(h.vault.countRequests({ kind: 'read', status: 200 }), 1, 'one retry');
    // The kept credential died with the token: the pod gets a live one in this very mount, not on the next.
    assert.equal(h.vault.countRequests({ kind: 'dynamic', status: 200 }), 1);
    assert.notEqual(text(after, 'db/username'), text(before, 'db/username'));
    assert.ok(h.vault.activeLeases().some((l) => l.username === text(after, 'db/username')));
    // Every pod's entry obtained with the dead token went (pod 1's certificate from the first test too); the new
    // credential is kept; the api identity's lease, obtained with a live token, stays.
    assert.ok(h.provider.leases.size < keptBefore);
    h.vault.clearRequests();
    const otherAgain = await h.client.mount(h.request({ objects: DB, pod: pod(9, 'api'), params: { roleName: 'api' } }));
    assert.equal(text(otherAgain, 'db/username'), text(other, 'db/username'));
    assert.equal(h.vault.countRequests(), 0);
  });

  it('a 403 right after a fresh login is the policy, with no lookup and no second login', async () => {
    h.vault.addKubernetesRole('kubernetes', 'fresh', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] });
    h.vault.clearRequests();
    const err = await h.client.mountError(h.request({ objects: DENIED, pod: pod(7), params: { roleName: 'fresh' } }));
    errors.push(err.details);
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1);
    assert.equal(lookups(), 0);
  });

  it('keeps the token and its leases when Vault cannot say whether the token lives', async () => {
    await mount([...DB, ...STATIC], pod(1));
    const kept = h.provider.leases.size;
    h.vault.clearRequests();
    h.vault.injectFault({ pathPrefix: 'auth/token/lookup-self', status: 503, times: 10 });
    const err = await h.client.mountError(h.request({ objects: DENIED, pod: pod(1) }));
    errors.push(err.details);
    h.vault.clearFaults();
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /object "forbidden" \(Vault path private\/data\/x\)/);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
    assert.equal(h.provider.leases.size, kept);
  });
});
