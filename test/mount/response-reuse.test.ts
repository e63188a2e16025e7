import assert from 'node:assert/strict';
import { ResponseReuse } from '../../src/mount/response-reuse.js';
import { LeaseCache, type ReuseScope } from '../../src/vault/lease-cache.js';
import type { VaultToken } from '../../src/auth/authenticator.js';
import type { SecretResponse } from '../../src/vault/responses.js';

const T0 = 1_700_000_000_000;

let serials = 0;
function token(identityKey: string, expiresAt = Number.POSITIVE_INFINITY): VaultToken {
  return { token: `t-${identityKey}`, identityKey, workloadKey: `workload-${identityKey}`, serial: ++serials, obtainedAt: T0, expiresAt, refreshAt: expiresAt };
}

const scope = (podUid: string, identityKey: string, requestKey = 'GET database/creds/web'): ReuseScope => ({ podUid, identityKey, requestKey });
const workload = (podUid: string, identityKey: string): ReuseScope => ({ ...scope(podUid, identityKey), credentialScope: 'workload' });

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

  /** A static read: no lease, the same answer for everyone who may read it. */
  const sendStatic = (): Promise<SecretResponse> =>
    new Promise((resolve) => {
      minted += 1;
      pending.push(() => resolve({ data: { data: { password: 'static' } } }));
    });

  it('shares one static read among concurrent mounts of one identity, whatever the pod', async () => {
    const reuse = new ResponseReuse({ leases: new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now }), now });
    const tok = token('sa-web');
    const all = Promise.all(['a', 'b', 'c'].map((pod) => reuse.fetch(scope(pod, 'sa-web', 'GET secret/data/app'), tok, 'GET', sendStatic)));
    assert.equal(reuse.inflight, 1);
    await answerAll();
    await all;
    assert.equal(minted, 1);
  });

  it("gives every pod its own credential when concurrent new pods read one, and shares it only within a pod", async () => {
    const events: string[] = [];
    const leases = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    const reuse = new ResponseReuse({ leases, now, onEvent: (e) => events.push(e) });
    const tok = token('sa-web');
    // Pod "a" twice (two volumes of one pod), then "b" and "c": all arrive while the first read is out.
    const all = Promise.all(['a', 'a', 'b', 'c'].map((pod) => reuse.fetch(scope(pod, 'sa-web'), tok, 'GET', send)));
    await answerAll(); // the first read comes back with a lease: b and c send their own
    await answerAll();
    const got = (await all).map((r) => r.data?.['username']);
    assert.equal(minted, 3);
    assert.equal(got[0], got[1], "pod a's two mounts share one");
    assert.equal(new Set(got).size, 3, 'b and c each have their own');
    for (const [i, pod] of ['a', 'b', 'c'].entries()) assert.equal(reuse.reused(scope(pod, 'sa-web'))?.data?.['username'], got[i === 0 ? 0 : i + 1]);
    assert.equal(leases.size, 3);
  });

  it('sends a write for each pod from the start (a PKI issue mints by nature)', async () => {
    const reuse = new ResponseReuse({ now });
    const tok = token('sa-web');
    const both = Promise.all(['a', 'b'].map((pod) => reuse.fetch(scope(pod, 'sa-web', 'PUT pki/issue/web'), tok, 'PUT', send)));
    assert.equal(reuse.inflight, 2);
    await answerAll();
    await both;
    assert.equal(minted, 2);
  });

  it('with credentialScope workload, gives the pods of one identity one credential and keeps it for all of them', async () => {
    const leases = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    const reuse = new ResponseReuse({ leases, now });
    const tok = token('sa-web');
    const all = Promise.all(['a', 'b', 'c'].map((pod) => reuse.fetch(workload(pod, 'sa-web'), tok, 'GET', send)));
    await answerAll();
    const got = (await all).map((r) => r.data?.['username']);
    assert.equal(minted, 1);
    assert.deepEqual(got, ['u1', 'u1', 'u1']);
    assert.equal(reuse.reused(workload('d', 'sa-web'))?.data?.['username'], 'u1', 'a later pod of the identity too');
    assert.equal(reuse.reused(scope('a', 'sa-web')), undefined, 'not as a pod-scoped entry');
    assert.equal(leases.size, 1);
    // A pod-scoped mount of the same request never takes the workload's credential, nor the other way round.
    const mixed = Promise.all([reuse.fetch(scope('e', 'sa-web'), tok, 'GET', send), reuse.fetch(workload('f', 'sa-api'), token('sa-api'), 'GET', send)]);
    await answerAll();
    const [e] = await mixed;
    assert.notEqual(e.data?.['username'], 'u1');
  });

  it('drops what a dead token obtained, and only that', async () => {
    const leases = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    const reuse = new ResponseReuse({ leases, now });
    const dead = token('sa-web');
    const alive = token('sa-api');
    const all = Promise.all([reuse.fetch(scope('a', 'sa-web'), dead, 'GET', send), reuse.fetch(scope('b', 'sa-api'), alive, 'GET', send)]);
    await answerAll();
    await all;
    reuse.forgetToken(dead);
    assert.equal(reuse.reused(scope('a', 'sa-web')), undefined);
    assert.ok(reuse.reused(scope('b', 'sa-api')));
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
    const both = Promise.all([reuse.fetch(scope('a', 'x'), tok, 'GET', send), reuse.fetch(scope('a', 'x'), tok, 'GET', send)]);
    await answerAll();
    await both;
    assert.equal(minted, 1);
    assert.equal(reuse.reused(scope('a', 'x')), undefined);
  });
});
