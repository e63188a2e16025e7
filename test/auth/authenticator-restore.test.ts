/**
 * The token cache's snapshot and restore (the kept state, src/state/) against the test Vault: a restored token
 * serves the same identity's next mount with no login, only until its refresh point; a token Vault said is dead
 * is never taken back; what a process holds wins over an older snapshot.
 */
import assert from 'node:assert/strict';
import { Authenticator } from '../../src/auth/authenticator.js';
import { parseMountRequest } from '../../src/config/mount-request.js';
import { resolveConnection } from '../../src/config/connection.js';
import type { MountConfig } from '../../src/config/types.js';
import { VaultClientPool } from '../../src/vault/client-pool.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';

describe('auth/authenticator snapshot and restore', function () {
  this.timeout(20_000);
  let h: Harness;
  let pool: VaultClientPool;
  let client: VaultClient;
  let t: number;
  const now = () => t;

  const config = (uid: string = POD.uid): MountConfig => {
    const raw = h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }], pod: { ...POD, uid } });
    return parseMountRequest({ attributes: raw.attributes!, secrets: raw.secrets!, targetPath: raw.target_path!, permission: raw.permission! });
  };

  beforeEach(async () => {
    t = Date.now();
    h = await startHarness({ now });
    pool = new VaultClientPool({ requestTimeoutMs: 5_000 });
    const defaults = { vaultAddress: h.vault.address, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: {} };
    client = await pool.get(resolveConnection(config(), defaults));
  });

  afterEach(async () => {
    await pool.close();
    await h.close();
  });

  it('a restored token serves the next mount of its pod with no login, until 80% of its TTL', async () => {
    const first = new Authenticator({ cacheSize: 10, now });
    const login = await first.token(client, config());
    const second = new Authenticator({ cacheSize: 10, now });
    const restored = second.restore(first.snapshot());
    assert.equal(restored.taken, 1);
    assert.equal(restored.serials.get(login.token.serial) !== undefined, true);
    h.vault.clearRequests();
    const again = await second.token(client, config());
    assert.equal(again.cached, true);
    assert.equal(again.token.token, login.token.token);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
    // Another pod's mount never gets it.
    assert.equal((await second.token(client, config('0c0c0c0c-0000-4000-8000-000000000000'))).cached, false);
    // Past 80% of the hour: neither written nor taken back.
    t += 49 * 60_000;
    assert.deepEqual(first.snapshot(), []);
    assert.equal(new Authenticator({ cacheSize: 10, now }).restore(second.snapshot()).taken, 0);
  });

  it('never takes back a token Vault said is dead; a fresher cached token wins over a snapshot\'s', async () => {
    const first = new Authenticator({ cacheSize: 10, now });
    const snapshotOf = await first.token(client, config()).then(() => first.snapshot());
    const second = new Authenticator({ cacheSize: 10, now });
    second.restore(snapshotOf);
    const token = (await second.token(client, config())).token;
    h.vault.revokeToken(token.token);
    assert.equal(await second.verify(client, token), 'dead');
    const again = second.restore(snapshotOf);
    assert.equal(again.taken, 0);
    assert.deepEqual([...again.refused], [snapshotOf[0]!.serial]);
    // A new login holds the key now; an older snapshot's token for it is not taken.
    const fresh = (await second.token(client, config())).token;
    assert.notEqual(fresh.token, token.token);
    const third = new Authenticator({ cacheSize: 10, now });
    third.restore(second.snapshot());
    assert.equal(third.restore(snapshotOf).taken, 0);
    assert.equal(third.snapshot()[0]!.token, fresh.token);
  });
});
