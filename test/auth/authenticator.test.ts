/**
 * The token cache against the test Vault: reuse, refresh before expiry by the injected clock, single-flight, and
 * its bounds in entries and bytes, counted with the server's request log; and its snapshot and restore.
 */
import assert from 'node:assert/strict';
import { Authenticator, servesWorkload } from '../../src/auth/authenticator.js';
import { parseMountRequest } from '../../src/config/mount-request.js';
import { resolveConnection } from '../../src/config/connection.js';
import type { MountConfig } from '../../src/config/types.js';
import { VaultClientPool } from '../../src/vault/client-pool.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';

describe('auth/authenticator', function () {
  this.timeout(20_000);
  let h: Harness;
  let pool: VaultClientPool;
  let client: VaultClient;
  let t: number;
  const now = () => t;

  const config = (serviceAccountName = 'web', roleName = 'shared', uid: string = POD.uid): MountConfig => {
    const raw = h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }], pod: { ...POD, serviceAccountName, uid }, params: { roleName } });
    return parseMountRequest({ attributes: raw.attributes!, secrets: raw.secrets!, targetPath: raw.target_path!, permission: raw.permission! });
  };

  beforeEach(async () => {
    t = Date.now();
    h = await startHarness({ now });
    h.vault.addKubernetesRole('kubernetes', 'shared', {
      boundServiceAccountNames: ['*'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'], ttlSeconds: 600,
    });
    pool = new VaultClientPool({ requestTimeoutMs: 5_000 });
    const defaults = { vaultAddress: h.vault.address, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: {} };
    client = await pool.get(resolveConnection(config(), defaults));
  });

  afterEach(async () => {
    await pool.close();
    await h.close();
  });

  it('reuses a token until 80% of its TTL, then logs in before handing one out', async () => {
    const auth = new Authenticator({ cacheSize: 10, now });
    const first = await auth.token(client, config());
    assert.equal(first.cached, false);
    t += 479_000;
    const again = await auth.token(client, config());
    assert.equal(again.cached, true);
    assert.equal(again.token.token, first.token.token);
    t += 2_000; // past 480 s of 600
    const renewed = await auth.token(client, config());
    assert.equal(renewed.cached, false);
    assert.notEqual(renewed.token.token, first.token.token);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 2);
  });

  it('makes one login for concurrent mounts of one identity', async () => {
    const auth = new Authenticator({ cacheSize: 10, now });
    h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', delayMs: 100 });
    const tokens = await Promise.all([1, 2, 3, 4].map(() => auth.token(client, config())));
    assert.equal(new Set(tokens.map((l) => l.token.token)).size, 1);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1);
  });

  it('evicts at its entry bound', async () => {
    const evictions: string[] = [];
    const auth = new Authenticator({ cacheSize: 2, now, onCache: (e) => e === 'eviction' && evictions.push(e) });
    for (const sa of ['a', 'b', 'c']) await auth.token(client, config(sa));
    assert.equal(auth.cachedTokens, 2);
    assert.equal(evictions.length, 1);
    await auth.token(client, config('a')); // the least recently used went first
    assert.equal(h.vault.countRequests({ kind: 'login' }), 4);
  });

  it('evicts at its byte bound', async () => {
    const auth = new Authenticator({ cacheSize: 100, cacheBytes: 1_000, now });
    for (const sa of ['a', 'b', 'c', 'd', 'e', 'f']) await auth.token(client, config(sa));
    assert.ok(auth.cachedTokens >= 1 && auth.cachedTokens < 6, `${auth.cachedTokens} tokens kept under 1000 bytes`);
    h.vault.clearRequests();
    await auth.token(client, config('f'));
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0, 'the most recent one is still there');
    await auth.token(client, config('a'));
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1, 'the oldest one was dropped');
  });

  it('asks Vault whether a token lives: alive, or dead and dropped from the cache', async () => {
    const auth = new Authenticator({ cacheSize: 10, now });
    const lease = await auth.token(client, config());
    assert.equal(await auth.verify(client, lease.token), 'alive');
    assert.equal((await auth.token(client, config())).token.serial, lease.token.serial);
    h.vault.revokeAllTokens();
    h.vault.clearRequests();
    // Concurrent questions about one token share one lookup.
    assert.deepEqual(await Promise.all([auth.verify(client, lease.token), auth.verify(client, lease.token)]), ['dead', 'dead']);
    assert.equal(h.vault.countRequests({ routePrefix: 'auth/token/lookup-self' }), 1);
    const next = await auth.token(client, config());
    assert.equal(next.cached, false);
    assert.notEqual(next.token.serial, lease.token.serial);
  });

  it('never serves one pod with another pod\'s token, whichever the auth method (Vault does not say which it is)', async () => {
    const auth = new Authenticator({ cacheSize: 10, now });
    const podConfig = (uid: string): MountConfig => {
      const pod = { ...POD, uid, name: `web-${uid}` };
      const raw = h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }], pod, params: { roleName: 'shared' } });
      return parseMountRequest({ attributes: raw.attributes!, secrets: raw.secrets!, targetPath: raw.target_path!, permission: raw.permission! });
    };
    const a = await auth.token(client, podConfig('uid-a'));
    const b = await auth.token(client, podConfig('uid-b'));
    assert.equal(b.cached, false);
    assert.notEqual(b.token.serial, a.token.serial);
    assert.equal((await auth.token(client, podConfig('uid-b'))).token.serial, b.token.serial, 'each pod reuses its own');
    // The same role through a JWT auth mount: one token per pod too.
    h.vault.enableJwtAuth('jwt', { publicKeysPem: [h.issuer.publicKeyPem] });
    h.vault.addJwtRole('jwt', 'shared', { boundAudiences: ['vault'], userClaim: 'sub', policies: ['web'] });
    const defaults = { vaultAddress: h.vault.address, vaultMount: 'jwt', vaultNamespace: undefined, tls: {} };
    const jwtClient = await pool.get(resolveConnection(config(), defaults));
    const first = await auth.token(jwtClient, podConfig('uid-a'));
    const second = await auth.token(jwtClient, podConfig('uid-b'));
    assert.equal(second.cached, false);
    assert.notEqual(second.token.identityKey, first.token.identityKey);
    assert.equal((await auth.token(jwtClient, podConfig('uid-a'))).token.serial, first.token.serial);
    assert.equal(h.vault.countRequests({ kind: 'login', routePrefix: 'auth/jwt/login' }), 2);
  });

  it('lets credentialScope workload share by ServiceAccount only where Vault established the ServiceAccount through Kubernetes auth', async () => {
    const auth = new Authenticator({ cacheSize: 10, now });
    const podConfig = (uid: string, params: Record<string, string> = {}): MountConfig => {
      const raw = h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }], pod: { ...POD, uid, name: `web-${uid}` }, params: { roleName: 'shared', ...params } });
      return parseMountRequest({ attributes: raw.attributes!, secrets: raw.secrets!, targetPath: raw.target_path!, permission: raw.permission! });
    };
    // Kubernetes auth: two pods, two tokens, one workload.
    const a = await auth.token(client, podConfig('uid-a'));
    const b = await auth.token(client, podConfig('uid-b'));
    assert.notEqual(a.token.identityKey, b.token.identityKey);
    assert.equal(a.token.workloadKey, b.token.workloadKey);
    // JWT auth, said so or not (the mount's own vaultAuthMethod may be the default kubernetes): each pod its own.
    h.vault.enableJwtAuth('jwt', { publicKeysPem: [h.issuer.publicKeyPem] });
    h.vault.addJwtRole('jwt', 'shared', { boundAudiences: ['vault'], userClaim: 'sub', policies: ['web'], claimMappings: { sub: 'service_account_name' } });
    const defaults = { vaultAddress: h.vault.address, vaultMount: 'jwt', vaultNamespace: undefined, tls: {} };
    const jwtClient = await pool.get(resolveConnection(config(), defaults));
    for (const params of [{ vaultAuthMethod: 'jwt' }, {}] as Array<Record<string, string>>) {
      const x = await auth.token(jwtClient, podConfig('uid-a', params));
      const y = await auth.token(jwtClient, podConfig('uid-b', params));
      assert.equal(x.token.workloadKey, x.token.identityKey, JSON.stringify(params));
      assert.notEqual(x.token.workloadKey, y.token.workloadKey, JSON.stringify(params));
    }
    // Kubernetes auth with the mount saying jwt: the author asked for what JWT auth gets.
    const said = await auth.token(client, podConfig('uid-c', { vaultAuthMethod: 'jwt' }));
    assert.equal(said.token.workloadKey, said.token.identityKey);
  });

  it('takes a login as the pod\'s ServiceAccount only when Vault\'s answer names that ServiceAccount as Kubernetes auth does', () => {
    const mount = config();
    const k8s = { role: 'shared', service_account_name: 'web', service_account_namespace: 'prod', service_account_uid: 'sa-uid', service_account_secret_name: '' };
    assert.equal(servesWorkload(mount, k8s), true);
    assert.equal(servesWorkload(mount, { ...k8s, service_account_name: 'other' }), false);
    assert.equal(servesWorkload(mount, { ...k8s, service_account_namespace: 'dev' }), false);
    assert.equal(servesWorkload(mount, { ...k8s, service_account_uid: '' }), false);
    assert.equal(servesWorkload(mount, { role: 'shared' }), false, 'what a JWT role reports');
    assert.equal(servesWorkload(mount, {}), false);
  });

  // The token cache's snapshot and restore (the kept state, src/state/): a restored token serves the same identity's
  // next mount with no login, only until its refresh point; a token Vault said is dead is never taken back; what a
  // process holds wins over an older snapshot.
  describe('snapshot and restore', () => {
    const podConfig = (uid: string = POD.uid): MountConfig => config('web', 'web', uid);

    it('a restored token serves the next mount of its pod with no login, until 80% of its TTL', async () => {
      const first = new Authenticator({ cacheSize: 10, now });
      const login = await first.token(client, podConfig());
      const second = new Authenticator({ cacheSize: 10, now });
      const restored = second.restore(first.snapshot());
      assert.equal(restored.taken, 1);
      assert.equal(restored.serials.get(login.token.serial) !== undefined, true);
      h.vault.clearRequests();
      const again = await second.token(client, podConfig());
      assert.equal(again.cached, true);
      assert.equal(again.token.token, login.token.token);
      assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
      // Another pod's mount never gets it.
      assert.equal((await second.token(client, podConfig('0c0c0c0c-0000-4000-8000-000000000000'))).cached, false);
      // Past 80% of the hour: neither written nor taken back.
      t += 49 * 60_000;
      assert.deepEqual(first.snapshot(), []);
      assert.equal(new Authenticator({ cacheSize: 10, now }).restore(second.snapshot()).taken, 0);
    });

    it('never takes back a token Vault said is dead; a fresher cached token wins over a snapshot\'s', async () => {
      const first = new Authenticator({ cacheSize: 10, now });
      const snapshotOf = await first.token(client, podConfig()).then(() => first.snapshot());
      const second = new Authenticator({ cacheSize: 10, now });
      second.restore(snapshotOf);
      const token = (await second.token(client, podConfig())).token;
      h.vault.revokeToken(token.token);
      assert.equal(await second.verify(client, token), 'dead');
      const again = second.restore(snapshotOf);
      assert.equal(again.taken, 0);
      assert.deepEqual([...again.refused], [snapshotOf[0]!.serial]);
      // A new login holds the key now; an older snapshot's token for it is not taken.
      const fresh = (await second.token(client, podConfig())).token;
      assert.notEqual(fresh.token, token.token);
      const third = new Authenticator({ cacheSize: 10, now });
      third.restore(second.snapshot());
      assert.equal(third.restore(snapshotOf).taken, 0);
      assert.equal(third.snapshot()[0]!.token, fresh.token);
    });
  });
});
