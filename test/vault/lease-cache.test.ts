import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_REUSE_FRACTION, LeaseCache, reuseWindow, type ReuseScope } from '../../src/vault/lease-cache.js';
import type { SecretResponse } from '../../src/vault/responses.js';

const T0 = 1_700_000_000_000;
const NEVER = Number.POSITIVE_INFINITY;

function dbCreds(leaseSeconds = 3600, id = 'database/creds/web/abc'): SecretResponse {
  return { request_id: 'r', lease_id: id, lease_duration: leaseSeconds, renewable: true, data: { username: 'u', password: 'p' } };
}

function pkiIssue(expiresAtMs: number, extra: Partial<SecretResponse> = {}): SecretResponse {
  return {
    request_id: 'r', lease_id: '', lease_duration: 0, renewable: false,
    data: { certificate: '-----BEGIN CERTIFICATE-----', private_key: 'k', expiration: Math.floor(expiresAtMs / 1000), serial_number: '01' },
    ...extra,
  };
}

const kvV1: SecretResponse = { request_id: 'r', lease_id: '', lease_duration: 2764800, renewable: false, data: { token: 'v' } };
const kvV2: SecretResponse = { request_id: 'r', lease_id: '', lease_duration: 0, renewable: false, data: { data: { k: 'v' }, metadata: { version: 1 } } };

const scope = (podUid = 'pod-a', identityKey = 'id-1', requestKey = 'GET db'): ReuseScope => ({ podUid, identityKey, requestKey });

describe('vault/lease-cache reuseWindow', () => {
  it('reuses a lease for the given share of its duration', () => {
    const w = reuseWindow(dbCreds(3600), 'GET', T0, NEVER, 2 / 3);
    assert.equal(w?.reason, 'lease');
    assert.equal(w?.expiresAt, T0 + 3_600_000);
    assert.equal(w?.reuseUntil, T0 + 2_400_000);
  });

  it('ends a lease no later than the token that created it', () => {
    const w = reuseWindow(dbCreds(3600), 'GET', T0, T0 + 600_000, 0.5);
    assert.equal(w?.expiresAt, T0 + 600_000);
    assert.equal(w?.reuseUntil, T0 + 300_000);
  });

  it('does not take KV v1 lease_duration without a lease_id for a lease, nor KV v2, nor a zero duration', () => {
    assert.equal(reuseWindow(kvV1, 'GET', T0, NEVER, 2 / 3), undefined);
    assert.equal(reuseWindow(kvV2, 'GET', T0, NEVER, 2 / 3), undefined);
    assert.equal(reuseWindow(dbCreds(0), 'GET', T0, NEVER, 2 / 3), undefined);
    assert.equal(reuseWindow({ ...dbCreds(60), lease_id: null }, 'GET', T0, NEVER, 2 / 3), undefined);
  });

  it('reuses an issued certificate until the share of its validity has passed', () => {
    const w = reuseWindow(pkiIssue(T0 + 3 * 3_600_000), 'PUT', T0, NEVER, 2 / 3);
    assert.equal(w?.reason, 'certificate');
    assert.equal(w?.reuseUntil, T0 + 2 * 3_600_000);
    assert.equal(reuseWindow(pkiIssue(T0 + 3_600_000), 'POST', T0, NEVER, 0.5)?.reuseUntil, T0 + 1_800_000);
  });

  it('never freezes a read that merely holds certificate-like keys (a KV v1 secret)', () => {
    assert.equal(reuseWindow(pkiIssue(T0 + 3_600_000), 'GET', T0, NEVER, 2 / 3), undefined);
  });

  it('refuses an expired certificate and one without a numeric expiration', () => {
    assert.equal(reuseWindow(pkiIssue(T0 - 1000), 'PUT', T0, NEVER, 2 / 3), undefined);
    const noExpiry = pkiIssue(T0 + 3_600_000);
    assert.equal(reuseWindow({ ...noExpiry, data: { ...noExpiry.data, expiration: '1999' } }, 'PUT', T0, NEVER, 2 / 3), undefined);
  });

  it('takes the earlier end when a certificate also carries a lease (generate_lease)', () => {
    const w = reuseWindow(pkiIssue(T0 + 7_200_000, { lease_id: 'pki/issue/web/x', lease_duration: 3600 }), 'PUT', T0, NEVER, 0.5);
    assert.equal(w?.reason, 'lease');
    assert.equal(w?.expiresAt, T0 + 3_600_000);
  });

  it('reuses nothing with a fraction of 0', () => {
    assert.equal(reuseWindow(dbCreds(), 'GET', T0, NEVER, 0), undefined);
  });

  it('always closes the window between the fetch and the expiry', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 * 365 * 86400 }),
        fc.integer({ min: 0, max: 86_400_000 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (leaseSeconds, tokenLeftMs, fraction) => {
          const w = reuseWindow(dbCreds(leaseSeconds), 'GET', T0, T0 + tokenLeftMs, fraction);
          if (tokenLeftMs === 0) return w === undefined;
          return w !== undefined && w.reuseUntil > T0 && w.reuseUntil < w.expiresAt && w.expiresAt <= T0 + tokenLeftMs;
        },
      ),
    );
  });
});

describe('vault/lease-cache LeaseCache', () => {
  let t = T0;
  const now = () => t;
  beforeEach(() => {
    t = T0;
  });

  it('hands a leased response back to the same pod, identity and request until the window closes', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    assert.equal(cache.fraction, DEFAULT_REUSE_FRACTION);
    const creds = dbCreds(3600);
    assert.ok(cache.offer(scope(), creds, 'GET', t, NEVER));
    t += 2_399_000;
    assert.equal(cache.get(scope()), creds);
    t += 1_000;
    assert.equal(cache.get(scope()), undefined);
    assert.equal(cache.size, 0);
  });

  it('never hands one pod or identity the response kept for another', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    cache.offer(scope('pod-a', 'id-1'), dbCreds(), 'GET', t, NEVER);
    assert.equal(cache.get(scope('pod-b', 'id-1')), undefined);
    assert.equal(cache.get(scope('pod-a', 'id-2')), undefined);
    assert.equal(cache.get(scope('pod-a', 'id-1', 'GET other')), undefined);
    assert.ok(cache.get(scope('pod-a', 'id-1')));
  });

  it("forgets every pod's responses obtained with a dead token, and only those", () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    cache.offer(scope('pod-a', 'id-1'), dbCreds(), 'GET', t, NEVER, 7);
    cache.offer(scope('pod-b', 'id-1'), dbCreds(), 'GET', t, NEVER, 7);
    // The same identity's earlier token, still alive: what it obtained stays.
    cache.offer(scope('pod-c', 'id-1'), dbCreds(), 'GET', t, NEVER, 6);
    cache.offer(scope('pod-a', 'id-2'), dbCreds(), 'GET', t, NEVER, 8);
    cache.forgetToken(7);
    assert.equal(cache.get(scope('pod-a', 'id-1')), undefined);
    assert.equal(cache.get(scope('pod-b', 'id-1')), undefined);
    assert.ok(cache.get(scope('pod-c', 'id-1')));
    assert.ok(cache.get(scope('pod-a', 'id-2')));
  });

  it('keeps a workload entry for every pod of the identity, apart from any pod entry', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    const workload = (pod: string, id = 'id-1'): ReuseScope => ({ ...scope(pod, id), credentialScope: 'workload' });
    const shared = dbCreds();
    assert.ok(cache.offer(workload('pod-a'), shared, 'GET', t, NEVER));
    assert.equal(cache.get(workload('pod-b')), shared);
    assert.equal(cache.get(workload('')), shared, 'a workload entry needs no pod UID');
    assert.equal(cache.get(scope('pod-a')), undefined, "not the pod's own entry");
    assert.equal(cache.get(workload('pod-a', 'id-2')), undefined, 'nor another identity');
  });

  it('keeps key parts apart even when they contain separators', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    cache.offer(scope('a","b', 'c'), dbCreds(), 'GET', t, NEVER);
    assert.equal(cache.get(scope('a', 'b","c')), undefined);
  });

  it('keeps nothing for a static secret or without a pod UID', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    assert.equal(cache.offer(scope(), kvV1, 'GET', t, NEVER), undefined);
    assert.equal(cache.offer(scope(''), dbCreds(), 'GET', t, NEVER), undefined);
    assert.equal(cache.get(scope('')), undefined);
    assert.equal(cache.size, 0);
  });

  it('keeps nothing whose window already closed', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    assert.equal(cache.offer(scope(), dbCreds(60), 'GET', t - 50_000, NEVER), undefined);
  });

  it('evicts the least recently used entry at its entry bound', () => {
    const evicted: string[] = [];
    const cache = new LeaseCache({ maxEntries: 2, maxBytes: 1 << 20, now, onEvict: (r) => evicted.push(r) });
    cache.offer(scope('a'), dbCreds(), 'GET', t, NEVER);
    cache.offer(scope('b'), dbCreds(), 'GET', t, NEVER);
    assert.ok(cache.get(scope('a')));
    cache.offer(scope('c'), dbCreds(), 'GET', t, NEVER);
    assert.equal(cache.size, 2);
    assert.ok(cache.get(scope('a')));
    assert.equal(cache.get(scope('b')), undefined);
    assert.deepEqual(evicted, ['capacity']);
  });

  it('evicts at its byte bound and refuses an entry larger than the bound', () => {
    const one = Buffer.byteLength(JSON.stringify(dbCreds())) + 256 + 40;
    const cache = new LeaseCache({ maxEntries: 100, maxBytes: one * 2, now });
    for (const pod of ['a', 'b', 'c', 'd']) cache.offer(scope(pod), dbCreds(), 'GET', t, NEVER);
    assert.ok(cache.bytes <= one * 2);
    assert.equal(cache.size, 2);
    assert.ok(cache.get(scope('d')));
    const big = pkiIssue(t + 3_600_000);
    const huge = { ...big, data: { ...big.data, certificate: 'x'.repeat(one * 3) } };
    assert.equal(cache.offer(scope('e', 'id-1', 'PUT pki'), huge, 'PUT', t, NEVER), undefined);
    assert.equal(cache.get(scope('e', 'id-1', 'PUT pki')), undefined);
  });

  it('drops expired entries as new ones come in', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    cache.offer(scope('a'), dbCreds(60), 'GET', t, NEVER);
    t += 60_000;
    cache.offer(scope('b'), dbCreds(3600), 'GET', t, NEVER);
    assert.equal(cache.size, 1);
  });

  it('answers like a plain map of windows through any mix of offers, expiries, deletes and forgets (property)', () => {
    type Op =
      | { kind: 'offer' | 'get' | 'delete'; pod: string; id: string; req: string; leaseSeconds: number }
      | { kind: 'advance'; ms: number }
      | { kind: 'forget'; id: string }
      | { kind: 'clear' };
    const pod = fc.constantFrom('p1', 'p2', 'p3');
    const id = fc.constantFrom('i1', 'i2');
    const serial = (identity: string): number => (identity === 'i1' ? 1 : 2);
    const req = fc.constantFrom('GET db', 'PUT pki', 'GET kv');
    const scoped = (kind: 'offer' | 'get' | 'delete') =>
      fc.record({ kind: fc.constant(kind), pod, id, req, leaseSeconds: fc.integer({ min: 1, max: 100 }) });
    const op: fc.Arbitrary<Op> = fc.oneof(
      scoped('offer'), scoped('get'), scoped('delete'),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 80_000 }) }),
      fc.record({ kind: fc.constant('forget' as const), id }),
      fc.constant({ kind: 'clear' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let clock = T0;
        const cache = new LeaseCache({ maxEntries: 1000, maxBytes: 1 << 24, now: () => clock });
        const model = new Map<string, { id: string; until: number }>();
        const key = (o: { pod: string; id: string; req: string }) => `${o.pod}|${o.id}|${o.req}`;
        for (const o of ops) {
          if (o.kind === 'offer') {
            if (cache.offer(scope(o.pod, o.id, o.req), dbCreds(o.leaseSeconds), 'GET', clock, NEVER, serial(o.id)) !== undefined) {
              model.set(key(o), { id: o.id, until: clock + o.leaseSeconds * 1000 * DEFAULT_REUSE_FRACTION });
            }
          } else if (o.kind === 'get') {
            const kept = model.get(key(o));
            assert.equal(cache.get(scope(o.pod, o.id, o.req)) !== undefined, kept !== undefined && kept.until > clock);
          } else if (o.kind === 'delete') {
            cache.delete(scope(o.pod, o.id, o.req));
            model.delete(key(o));
          } else if (o.kind === 'advance') clock += o.ms;
          else if (o.kind === 'forget') {
            // One token per identity here: forgetting the token forgets what the identity obtained.
            cache.forgetToken(serial(o.id));
            for (const [k, v] of model) if (v.id === o.id) model.delete(k);
          } else {
            cache.clear();
            model.clear();
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps another pod's entry reachable when an offer expires on arrival (the lookup index is not decremented for it)", () => {
    let clock = T0;
    let step = 0;
    const cache = new LeaseCache({ maxEntries: 100, maxBytes: 1 << 20, now: () => (clock += step) - step });
    assert.ok(cache.offer(scope('pod-a'), dbCreds(), 'GET', clock, NEVER));
    // Pod B's token is about to expire: its window ends while the offer is being stored (the clock moves on reads).
    step = 1;
    assert.equal(cache.offer(scope('pod-b'), dbCreds(), 'GET', clock, clock + 3), undefined);
    step = 0;
    assert.ok(cache.get(scope('pod-a')));
  });

  it('forgets a scope on delete and everything on clear', () => {
    const cache = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, now });
    cache.offer(scope('a'), dbCreds(), 'GET', t, NEVER);
    cache.offer(scope('b'), dbCreds(), 'GET', t, NEVER);
    cache.delete(scope('a'));
    assert.equal(cache.get(scope('a')), undefined);
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.bytes, 0);
  });

  it('refuses a fraction outside [0, 1)', () => {
    assert.throws(() => new LeaseCache({ maxEntries: 1, maxBytes: 1, fraction: 1 }), RangeError);
    assert.throws(() => new LeaseCache({ maxEntries: 1, maxBytes: 1, fraction: -0.1 }), RangeError);
    assert.throws(() => new LeaseCache({ maxEntries: 1, maxBytes: 1, fraction: Number.NaN }), RangeError);
    const off = new LeaseCache({ maxEntries: 10, maxBytes: 1 << 20, fraction: 0, now });
    assert.equal(off.offer(scope(), dbCreds(), 'GET', t, NEVER), undefined);
  });
});
