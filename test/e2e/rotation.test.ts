/**
 * Rotation end to end: republishes (the driver's Mount about once a minute per volume) against the test Vault's
 * request log, on an injected clock shared by Vault and the provider. Counts logins, dynamic reads and PKI issues
 * within and after the reuse window; checks that a kept credential never reaches another pod or identity, that
 * static secrets are read on every republish, and that the lease cache evicts at its bounds.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { startHarness, POD, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import type { ProviderSettings } from '../../src/cli/flags.js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';

const MIN = 60_000;

const DB = [
  { objectName: 'db/username', secretPath: 'database/creds/web', secretKey: 'username' },
  { objectName: 'db/password', secretPath: 'database/creds/web', secretKey: 'password' },
];
// Certificates valid for 2 hours: reused for 80 minutes at the default 2/3.
const PKI = [
  { objectName: 'tls/tls.crt', secretPath: 'pki/issue/web', secretKey: 'certificate', method: 'PUT', secretArgs: { common_name: 'web.prod.svc', ttl: '2h' } },
  { objectName: 'tls/tls.key', secretPath: 'pki/issue/web', secretKey: 'private_key', method: 'PUT', secretArgs: { common_name: 'web.prod.svc', ttl: '2h' } },
];
const STATIC = [
  { objectName: 'static', secretPath: 'secret/data/static', secretKey: 'value' },
  // KV v1 answers carry lease_duration 2764800 with an empty lease_id: not a lease.
  { objectName: 'legacy', secretPath: 'kv/legacy', secretKey: 'value' },
];

function text(res: MountResponse__Output, path: string): string {
  const file = res.files.find((f) => f.path === path);
  assert.ok(file, `file ${path} in the response`);
  return Buffer.from(file.contents).toString('utf8');
}

function version(res: MountResponse__Output, id: string): string {
  const v = res.object_version.find((o) => o.id === id);
  assert.ok(v, `object version ${id}`);
  return v.version;
}

function pod(n: number, serviceAccountName = POD.serviceAccountName): PodIdentity {
  return { ...POD, name: `web-${n}`, uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, serviceAccountName };
}

describe('e2e: rotation (lease and token reuse, single-flight)', function () {
  this.timeout(30_000);
  let h: Harness;
  let t0: number;
  let t: number;
  const now = () => t;
  /** Sets the shared clock to `minutes` after the provider started. */
  const at = (minutes: number): void => {
    t = t0 + minutes * MIN;
  };

  /** Vault's traffic since the last clear, by kind. */
  const counts = () => ({
    login: h.vault.countRequests({ kind: 'login' }),
    read: h.vault.countRequests({ kind: 'read' }),
    dynamic: h.vault.countRequests({ kind: 'dynamic' }),
    issue: h.vault.countRequests({ kind: 'issue' }),
    renew: h.vault.countRequests({ kind: 'renew' }),
  });

  async function start(settings: Partial<ProviderSettings> = {}): Promise<void> {
    t0 = Date.now();
    t = t0;
    h = await startHarness({ now });
    h.vault.putKv('secret', 'static', { value: 'static-1' });
    h.vault.putKv('kv', 'legacy', { value: 'legacy-1' });
    await h.startProvider(settings, { now });
  }

  const mount = (objects: ReadonlyArray<Record<string, unknown>>, who: PodIdentity = pod(1), params?: Record<string, string>) =>
    h.client.mount(h.request({ objects, pod: who, ...(params === undefined ? {} : { params }) }));

  afterEach(async () => {
    await h.close();
  });

  it('reads static secrets on every republish (KV v1 lease_duration included) and logs in once', async () => {
    await start();
    const first = await mount(STATIC);
    assert.deepEqual(counts(), { login: 1, read: 2, dynamic: 0, issue: 0, renew: 0 });
    h.vault.clearRequests();
    for (let i = 0; i < 3; i++) {
      t += MIN;
      await mount(STATIC);
    }
    assert.deepEqual(counts(), { login: 0, read: 6, dynamic: 0, issue: 0, renew: 0 });
    h.vault.putKv('kv', 'legacy', { value: 'legacy-2' });
    t += MIN;
    const changed = await mount(STATIC);
    assert.equal(text(changed, 'legacy'), 'legacy-2');
    assert.notEqual(version(changed, 'legacy'), version(first, 'legacy'));
    assert.equal(version(changed, 'static'), version(first, 'static'));
    assert.equal(h.provider.leases.size, 0, 'nothing static is kept');
  });

  it('keeps the file and version of an unchanged whole-response object across republishes (request_id left out)', async () => {
    await start();
    const WHOLE = [
      { objectName: 'whole.json', secretPath: 'secret/data/static' },
      { objectName: 'legacy.json', secretPath: 'kv/legacy' },
    ];
    const first = await mount(WHOLE);
    h.vault.clearRequests();
    t += MIN;
    const second = await mount(WHOLE);
    // Both were read from Vault again, and Vault gave each answer a new request_id.
    assert.equal(counts().read, 2);
    for (const name of ['whole.json', 'legacy.json']) {
      assert.equal(text(second, name), text(first, name));
      assert.equal(version(second, name), version(first, name));
      assert.ok(!text(first, name).includes('request_id'));
    }
    h.vault.putKv('secret', 'static', { value: 'static-2' });
    t += MIN;
    const changed = await mount(WHOLE);
    assert.notEqual(version(changed, 'whole.json'), version(first, 'whole.json'));
    assert.equal(version(changed, 'legacy.json'), version(first, 'legacy.json'));
  });

  it('hands a pod the same database credential and certificate on every republish inside the window', async () => {
    await start();
    const objects = [...DB, ...PKI, STATIC[0]!];
    const first = await mount(objects);
    assert.deepEqual(counts(), { login: 1, read: 1, dynamic: 1, issue: 1, renew: 0 });
    h.vault.clearRequests();
    for (const minutes of [1, 10, 20, 39.9]) {
      at(minutes);
      const again = await mount(objects);
      assert.deepEqual(again.object_version, first.object_version, `same versions at +${minutes} min`);
      assert.equal(text(again, 'db/password'), text(first, 'db/password'));
      assert.equal(text(again, 'tls/tls.crt'), text(first, 'tls/tls.crt'));
    }
    // The static secret was read each time; nothing else reached Vault.
    assert.deepEqual(counts(), { login: 0, read: 4, dynamic: 0, issue: 0, renew: 0 });
    assert.equal(h.vault.activeLeases().length, 1, 'one database user for the pod, not one per republish');
  });

  it('fetches anew once 2/3 of the lifetime has passed, bounded by the token that made the lease', async () => {
    // Token, database lease: 60 min. Certificate: 120 min.
    await start();
    const objects = [...DB, ...PKI];
    const first = await mount(objects);
    const firstUser = text(first, 'db/username');
    h.vault.clearRequests();

    at(40.1); // past 2/3 of the database lease: a new user, under new versions; the certificate stays
    const second = await mount(objects);
    assert.deepEqual(counts(), { login: 0, read: 0, dynamic: 1, issue: 0, renew: 0 });
    assert.notEqual(text(second, 'db/username'), firstUser);
    assert.notEqual(version(second, 'db/username'), version(first, 'db/username'));
    assert.notEqual(version(second, 'db/password'), version(first, 'db/password'));
    assert.equal(version(second, 'tls/tls.crt'), version(first, 'tls/tls.crt'));
    // The old user is left to run out on its own, so the app has the rest of its life to move over.
    assert.ok(h.vault.activeLeases().some((l) => l.username === firstUser));
    assert.equal(h.vault.revokedLeases().length, 0);

    h.vault.clearRequests();
    at(50); // the token is past 80% of its 60 minutes: replaced before the read; the lease from +40.1 still holds
    await mount(objects);
    assert.deepEqual(counts(), { login: 1, read: 0, dynamic: 0, issue: 0, renew: 0 });

    h.vault.clearRequests();
    // The lease from +40.1 was made with the first token, which Vault revokes at +60 with its leases: it was
    // kept for 2/3 of the 19.9 minutes it had, until about +53.4.
    at(53.5);
    const third = await mount(objects);
    assert.deepEqual(counts(), { login: 0, read: 0, dynamic: 1, issue: 0, renew: 0 });
    assert.notEqual(text(third, 'db/username'), text(second, 'db/username'));

    h.vault.clearRequests();
    at(80.1); // past 2/3 of the certificate's 2 hours: a new certificate and key
    const fourth = await mount(objects);
    assert.deepEqual(counts(), { login: 0, read: 0, dynamic: 0, issue: 1, renew: 0 });
    const oldCert = new X509Certificate(text(first, 'tls/tls.crt'));
    const newCert = new X509Certificate(text(fourth, 'tls/tls.crt'));
    assert.notEqual(newCert.serialNumber, oldCert.serialNumber);
    assert.notEqual(version(fourth, 'tls/tls.key'), version(first, 'tls/tls.key'));
    assert.equal(text(fourth, 'db/username'), text(third, 'db/username'));
  });

  it('never hands a kept credential to another pod of the same ServiceAccount, nor to another identity', async () => {
    await start();
    h.vault.addKubernetesRole('kubernetes', 'web-other', {
      boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'], ttlSeconds: 3600,
    });
    const a = await mount(DB, pod(1));
    h.vault.clearRequests();
    const b = await mount(DB, pod(2));
    assert.equal(counts().dynamic, 1, 'a second pod gets its own credential');
    assert.notEqual(text(b, 'db/username'), text(a, 'db/username'));
    // Same pod UID, another Vault identity (role): not the kept response either.
    const otherRole = await mount(DB, pod(1), { roleName: 'web-other' });
    assert.equal(counts().dynamic, 2);
    assert.equal(counts().login, 2, 'pod 2 logged in for itself, and pod 1 under the other role');
    assert.notEqual(text(otherRole, 'db/username'), text(a, 'db/username'));
    h.vault.clearRequests();
    t += MIN;
    assert.equal(text(await mount(DB, pod(1)), 'db/username'), text(a, 'db/username'));
    assert.equal(text(await mount(DB, pod(2)), 'db/username'), text(b, 'db/username'));
    assert.equal(text(await mount(DB, pod(1), { roleName: 'web-other' }), 'db/username'), text(otherRole, 'db/username'));
    assert.equal(counts().dynamic, 0);
  });

  it('never reuses for a pod without a UID', async () => {
    await start();
    const anonymous = { ...pod(1), uid: '' };
    await mount(DB, anonymous);
    await mount(DB, anonymous);
    assert.equal(counts().dynamic, 2);
    assert.equal(h.provider.leases.size, 0);
  });

  it('gives concurrent new pods of one ServiceAccount a login each, and each its own credential and certificate', async () => {
    await start();
    // Slow Vault down so the mounts surely overlap: on timing alone they would all join the first pod's requests.
    h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', delayMs: 150 });
    h.vault.injectFault({ pathPrefix: 'database/creds/', delayMs: 150 });
    h.vault.injectFault({ pathPrefix: 'pki/issue/', delayMs: 150 });
    const pods = [1, 2, 3, 4, 5].map((n) => pod(n));
    // Pod 1 mounts twice (two volumes): the same pod shares its own requests.
    const results = await Promise.all([pod(1), ...pods].map((p) => mount([...DB, ...PKI], p)));
    assert.deepEqual(counts(), { login: 5, read: 0, dynamic: 5, issue: 5, renew: 0 });
    assert.equal(new Set(results.map((r) => text(r, 'db/username'))).size, 5);
    assert.equal(new Set(results.map((r) => text(r, 'tls/tls.key'))).size, 5);
    assert.equal(text(results[0]!, 'db/username'), text(results[1]!, 'db/username'), "pod 1's two mounts share one");
    // Each pod keeps its own under its own key: their republishes cost Vault nothing.
    h.vault.clearRequests();
    t += MIN;
    const again = await Promise.all(pods.map((p) => mount([...DB, ...PKI], p)));
    assert.deepEqual(counts(), { login: 0, read: 0, dynamic: 0, issue: 0, renew: 0 });
    assert.deepEqual(again.map((r) => text(r, 'db/username')), results.slice(1).map((r) => text(r, 'db/username')));
  });

  it('with credentialScope workload, gives the pods of one identity one credential and one certificate for the window', async () => {
    await start();
    const shared = [...DB, ...PKI].map((o) => ({ ...o, credentialScope: 'workload' }));
    h.vault.injectFault({ pathPrefix: 'database/creds/', delayMs: 150 });
    h.vault.injectFault({ pathPrefix: 'pki/issue/', delayMs: 150 });
    const first = await Promise.all([1, 2, 3].map((n) => mount(shared, pod(n))));
    // A login per pod (tokens are per pod), one credential and one certificate between them.
    assert.deepEqual(counts(), { login: 3, read: 0, dynamic: 1, issue: 1, renew: 0 });
    assert.equal(new Set(first.map((r) => text(r, 'db/username'))).size, 1);
    assert.equal(new Set(first.map((r) => text(r, 'tls/tls.key'))).size, 1);
    // A pod that starts later in the window gets the same; so do republishes.
    h.vault.clearRequests();
    t += 10 * MIN;
    const later = await mount(shared, pod(4));
    assert.equal(text(later, 'db/username'), text(first[0]!, 'db/username'));
    assert.equal(version(later, 'db/username'), version(first[0]!, 'db/username'));
    assert.deepEqual(counts(), { login: 1, read: 0, dynamic: 0, issue: 0, renew: 0 }, 'its own login, the workload\'s credential');
    // A pod whose objects do not ask to share still gets its own; another identity never sees the workload's.
    assert.notEqual(text(await mount(DB, pod(5)), 'db/username'), text(first[0]!, 'db/username'));
    h.vault.addKubernetesRole('kubernetes', 'web-other', {
      boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'], ttlSeconds: 3600,
    });
    assert.notEqual(text(await mount(shared, pod(6), { roleName: 'web-other' }), 'db/username'), text(first[0]!, 'db/username'));
    // After the window (2/3 of the hour's lease), the next mount fetches one new credential for everyone.
    h.vault.clearRequests();
    t += 31 * MIN;
    const renewed = await Promise.all([1, 2, 3].map((n) => mount(shared, pod(n))));
    assert.equal(counts().dynamic, 1);
    assert.equal(new Set(renewed.map((r) => text(r, 'db/username'))).size, 1);
    assert.notEqual(text(renewed[0]!, 'db/username'), text(first[0]!, 'db/username'));
  });

  it('with credentialScope workload under JWT auth, gives each pod its own credential and certificate (the pod is the identity there)', async () => {
    await start();
    h.vault.enableJwtAuth('jwt', { publicKeysPem: [h.issuer.publicKeyPem] });
    h.vault.addJwtRole('jwt', 'web', { boundAudiences: ['vault'], userClaim: 'sub', policies: ['web'], ttlSeconds: 3600 });
    const shared = [...DB, ...PKI].map((o) => ({ ...o, credentialScope: 'workload' }));
    const dbLeases = (): number => h.vault.activeLeases().filter((l) => l.leaseId.startsWith('database/creds/')).length;
    // Said to be JWT, or left at the default while the mount is a JWT auth method: Vault's answer decides.
    for (const [n, params] of [[1, { vaultAuthMethod: 'jwt', vaultAuthMountPath: 'jwt' }], [3, { vaultAuthMountPath: 'jwt' }]] as const) {
      h.vault.clearRequests();
      const leases = dbLeases();
      const [a, b] = [await mount(shared, pod(n), params), await mount(shared, pod(n + 1), params)];
      assert.deepEqual(counts(), { login: 2, read: 0, dynamic: 2, issue: 2, renew: 0 }, JSON.stringify(params));
      assert.equal(dbLeases() - leases, 2, 'two database users');
      assert.notEqual(text(a, 'db/username'), text(b, 'db/username'));
      assert.notEqual(text(a, 'tls/tls.key'), text(b, 'tls/tls.key'));
      // Each pod's republish keeps its own.
      h.vault.clearRequests();
      t += MIN;
      assert.equal(text(await mount(shared, pod(n + 1), params), 'db/username'), text(b, 'db/username'));
      assert.deepEqual(counts(), { login: 0, read: 0, dynamic: 0, issue: 0, renew: 0 });
    }
    // Kubernetes auth on the same provider still shares one between the pods of the ServiceAccount.
    h.vault.clearRequests();
    const [x, y] = [await mount(shared, pod(1)), await mount(shared, pod(2))];
    assert.equal(text(x, 'db/username'), text(y, 'db/username'));
    assert.equal(counts().dynamic, 1);
  });

  it('shares a request among objects of one mount only as all of them allow', async () => {
    await start();
    // One object says workload, the other (same request) does not: the credential is the pod's own.
    const mixed = [{ ...DB[0]!, credentialScope: 'workload' }, DB[1]!];
    const a = await mount(mixed, pod(1));
    const b = await mount(mixed, pod(2));
    assert.notEqual(text(a, 'db/username'), text(b, 'db/username'));
    assert.equal(counts().dynamic, 2);
  });

  it('never shares an in-flight request across identities', async () => {
    await start();
    h.vault.addKubernetesRole('kubernetes', 'web-other', {
      boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'], ttlSeconds: 3600,
    });
    h.vault.injectFault({ pathPrefix: 'database/creds/', delayMs: 150 });
    const [x, y] = await Promise.all([mount(DB, pod(1)), mount(DB, pod(2), { roleName: 'web-other' })]);
    assert.equal(counts().login, 2);
    assert.equal(counts().dynamic, 2);
    assert.notEqual(text(x, 'db/username'), text(y, 'db/username'));
  });

  it('logs in only when the token nears its end, before the read that needs it', async () => {
    await start();
    await mount(STATIC);
    h.vault.clearRequests();
    for (const minutes of [1, 20, 47.9]) {
      at(minutes);
      await mount(STATIC);
    }
    assert.equal(counts().login, 0);
    at(48.1); // 80% of the token's 60 minutes
    await mount(STATIC);
    assert.equal(counts().login, 1);
    const kinds = h.vault.requests.map((r) => r.kind);
    assert.ok(kinds.lastIndexOf('login') < kinds.lastIndexOf('read'), 'the login came before the read');
    at(61); // the first token is gone by now; the new one was already in use
    await mount(STATIC);
    assert.equal(counts().login, 1);
    assert.equal(h.vault.countRequests({ status: 403 }), 0);
  });

  it('keeps at most --lease-cache-size responses and fetches anew what it evicted', async () => {
    await start({ leaseCacheSize: 2 });
    for (const n of [1, 2, 3]) await mount(DB, pod(n));
    assert.equal(h.provider.leases.size, 2);
    h.vault.clearRequests();
    t += MIN;
    await mount(DB, pod(3));
    await mount(DB, pod(2));
    assert.equal(counts().dynamic, 0);
    await mount(DB, pod(1)); // the least recently used, evicted
    assert.equal(counts().dynamic, 1);
    assert.equal(h.provider.leases.size, 2);
  });

  it('keeps at most --lease-cache-max-bytes of responses: a certificate over the bound is issued each time', async () => {
    await start({ leaseCacheMaxBytes: 1500 });
    await mount([...DB, ...PKI]);
    assert.equal(h.provider.leases.size, 1, 'the small database answer is kept, the certificate bundle is not');
    assert.ok(h.provider.leases.bytes <= 1500);
    h.vault.clearRequests();
    t += MIN;
    await mount([...DB, ...PKI]);
    assert.deepEqual(counts(), { login: 0, read: 0, dynamic: 0, issue: 1, renew: 0 });
  });

  it('mints on every mount with --lease-reuse-fraction 0, as the reference does', async () => {
    await start({ leaseReuseFraction: 0 });
    await mount([...DB, ...PKI]);
    t += MIN;
    await mount([...DB, ...PKI]);
    assert.deepEqual(counts(), { login: 1, read: 0, dynamic: 2, issue: 2, renew: 0 });
  });

  it('reuses for a shorter window with a smaller --lease-reuse-fraction', async () => {
    await start({ leaseReuseFraction: 0.25 });
    await mount(DB);
    at(14.9);
    await mount(DB);
    assert.equal(counts().dynamic, 1);
    at(15.1);
    await mount(DB);
    assert.equal(counts().dynamic, 2);
  });
});
