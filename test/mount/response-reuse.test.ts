import assert from 'node:assert/strict';
import { ResponseReuse } from '../../src/mount/response-reuse.js';
import { LeaseCache, type ReuseScope } from '../../src/vault/lease-cache.js';
import type { VaultToken } from '../../src/auth/authenticator.js';
import type { SecretResponse } from '../../src/vault/responses.js';

const T0 = 1_700_000_000_000;

function token(identityKey: string, expiresAt = Number.POSITIVE_INFINITY): VaultToken {
  return { token: `t-${identityKey}`, identityKey, obtainedAt: T0, expiresAt, refreshAt: expiresAt };
}

const scope = (podUid: string, identityKey: string, requestKey = 'GET database/creds/web'): ReuseScope => ({ podUid, identityKey, requestKey });

describe('mount/response-reuse', () => {
  let t = T0;
  const now = () => t;
  let minted = 0;
  let pending: Array<() => void> = [];
  /** A database read that mints a new credential each time it reaches "Vault", answered when the test says. */
  const send = (): Promise<SecretResponse> =>
    new Promise((resolve) => {
      minted += 1;
      const n = minted;
      pending.push(() => resolve({ lease_id: `database/creds/web/${n}`, lease_duration: 600, renewable: true, data: { username: `u${n}` } }));
    });
  const answerAll = async (): Promise<void> => {
    await new Promise<void>((r) => setImmediate(r));
    for (const p of pending.splice(0)) p();
  };

  beforeEach(() => {
    t = T0;
    minted = 0;
    pending = [];
  });

  it('shares one request among concurrent mounts of one identity and keeps the lease for each pod', async () => {
    const events: string[] = [];
    const leases = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    const reuse = new ResponseReuse({ leases, now, onEvent: (e) => events.push(e) });
    const tok = token('sa-web');
    const all = Promise.all(['a', 'b', 'c'].map((pod) => reuse.fetch(scope(pod, 'sa-web'), tok, 'GET', send)));
    assert.equal(reuse.inflight, 1);
    await answerAll();
    const got = await all;
    assert.equal(minted, 1);
    assert.deepEqual(got.map((r) => r.data?.['username']), ['u1', 'u1', 'u1']);
    assert.equal(reuse.reused(scope('b', 'sa-web'))?.data?.['username'], 'u1');
    assert.equal(leases.size, 3);
    assert.deepEqual(events.filter((e) => e === 'shared').length, 2);
    assert.deepEqual(events.filter((e) => e === 'kept').length, 3);
  });

  it('never shares a request across identities', async () => {
    const reuse = new ResponseReuse({ leases: new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now }), now });
    const both = Promise.all([
      reuse.fetch(scope('a', 'sa-web'), token('sa-web'), 'GET', send),
      reuse.fetch(scope('b', 'sa-api'), token('sa-api'), 'GET', send),
    ]);
    await answerAll();
    const [a, b] = await both;
    assert.equal(minted, 2);
    assert.notEqual(a.data?.['username'], b.data?.['username']);
    assert.equal(reuse.reused(scope('a', 'sa-api')), undefined);
  });

  it('bounds a kept lease by the expiry of the token that obtained it', async () => {
    const leases = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, fraction: 0.5, now });
    const reuse = new ResponseReuse({ leases, now });
    const p = reuse.fetch(scope('a', 'sa-web'), token('sa-web', T0 + 120_000), 'GET', send);
    await answerAll();
    await p;
    t = T0 + 59_000;
    assert.ok(reuse.reused(scope('a', 'sa-web')));
    t = T0 + 60_000;
    assert.equal(reuse.reused(scope('a', 'sa-web')), undefined);
  });

  it('does not let a mount holding a new token join a request made with the token it replaces', async () => {
    const reuse = new ResponseReuse({ now });
    const old = token('sa-web');
    const fresh = token('sa-web');
    const both = Promise.all([reuse.fetch(scope('a', 'sa-web'), old, 'GET', send), reuse.fetch(scope('b', 'sa-web'), fresh, 'GET', send)]);
    await answerAll();
    await both;
    assert.equal(minted, 2);
  });

  it('shares but keeps nothing without a lease cache', async () => {
    const reuse = new ResponseReuse();
    const tok = token('x');
    const both = Promise.all([reuse.fetch(scope('a', 'x'), tok, 'GET', send), reuse.fetch(scope('b', 'x'), tok, 'GET', send)]);
    await answerAll();
    await both;
    assert.equal(minted, 1);
    assert.equal(reuse.reused(scope('a', 'x')), undefined);
  });
});
