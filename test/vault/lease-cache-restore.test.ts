import assert from 'node:assert/strict';
import { LeaseCache, type ReuseScope } from '../../src/vault/lease-cache.js';
import type { SecretResponse } from '../../src/vault/responses.js';

const MIN = 60_000;
const T0 = 1_800_000_000_000;
const scope = (pod: string): ReuseScope => ({ podUid: pod, identityKey: 'id', requestKey: 'GET database/creds/web' });
const credential = (n: number): SecretResponse => ({ lease_id: `database/creds/web/${n}`, lease_duration: 3600, data: { username: `u-${n}` } });

describe('vault/lease-cache snapshot and restore (the kept state)', () => {
  let t: number;
  const now = () => t;
  beforeEach(() => {
    t = T0;
  });

  it('gives back what it kept with its window, owner and last use; a restored entry is served and counted like any other', () => {
    const a = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    a.offer(scope('p1'), credential(1), 'GET', T0, T0 + 60 * MIN, 7);
    t += 5 * MIN;
    a.get(scope('p1'));
    const [kept] = a.snapshot();
    assert.deepEqual({ ...kept, response: undefined }, { key: kept!.key, requestKey: 'GET database/creds/web', response: undefined, reason: 'lease', obtainedAt: T0, expiresAt: T0 + 60 * MIN, owner: 7, lastUsed: T0 + 5 * MIN });
    const b = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    const generation = b.generation;
    assert.equal(b.restore(a.snapshot()), 1);
    assert.ok(b.generation > generation);
    assert.deepEqual(b.get(scope('p1')), credential(1));
    assert.equal(b.get(scope('p2')), undefined);
    b.forgetToken(7);
    assert.equal(b.get(scope('p1')), undefined);
  });

  it('recomputes the window with its own fraction, keeps what it already holds, and takes nothing with reuse off', () => {
    const a = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    a.offer(scope('p1'), credential(1), 'GET', T0, T0 + 60 * MIN, 1);
    t = T0 + 35 * MIN;
    const snapshot = a.snapshot();
    // At 35 minutes: inside 2/3 of the hour (40 min), past a half (30 min).
    assert.equal(new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now, fraction: 0.5 }).restore(snapshot), 0);
    assert.equal(new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now, fraction: 0 }).restore(snapshot), 0);
    const holder = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    holder.offer(scope('p1'), credential(2), 'GET', t, t + 60 * MIN, 2);
    assert.equal(holder.restore(snapshot), 0);
    assert.deepEqual(holder.get(scope('p1')), credential(2), 'what it holds is newer');
    // Past the window it never reaches the snapshot at all.
    t = T0 + 41 * MIN;
    assert.deepEqual(a.snapshot(), []);
  });
});
