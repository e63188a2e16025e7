import assert from 'node:assert/strict';
import type { KeptToken } from '../../src/auth/authenticator.js';
import type { KeptLease } from '../../src/vault/lease-cache.js';
import { decodeEntries, encodeEntries, StateMalformed } from '../../src/state/state-document.js';

const MIN = 60_000;
const T0 = 1_800_000_000_000;

function token(n: number, fields: Partial<KeptToken> = {}): KeptToken {
  return { key: `["conn","web","prod","sa-${n}","vault","pod:uid-${n}"]`, workloadKey: `w-${n}`, token: `hvs.token-${n}`, obtainedAt: T0, expiresAt: T0 + 60 * MIN, serial: n, lastUsed: T0, ...fields };
}

function lease(n: number, fields: Partial<KeptLease> = {}): KeptLease {
  return {
    key: `["uid-${n}","id","GET database/creds/web"]`,
    requestKey: 'GET database/creds/web',
    // Key order as Vault sent it: kept through a write and a read.
    response: { request_id: 'r', lease_id: `database/creds/web/${n}`, renewable: true, lease_duration: 3600, data: { username: `v-${n}`, password: 'p' }, warnings: null },
    reason: 'lease',
    obtainedAt: T0,
    expiresAt: T0 + 60 * MIN,
    owner: n,
    lastUsed: T0,
    ...fields,
  };
}

const limits = (now: number, maxBytes = 1 << 20) => ({ now, idleMs: 30 * MIN, maxBytes });

describe('state/state-document', () => {
  it('writes and reads back tokens and leases as they were, a token without a lease included', () => {
    const entries = { tokens: [token(1), token(2, { expiresAt: Number.POSITIVE_INFINITY })], leases: [lease(1)] };
    const { text, leftOut } = encodeEntries(entries, limits(T0 + MIN));
    assert.deepEqual(leftOut, { expired: 0, idle: 0, overSize: 0 });
    const back = decodeEntries(text, limits(T0 + MIN));
    assert.deepEqual(back.entries.tokens.map((t) => t.serial).sort(), [1, 2]);
    assert.equal(back.entries.tokens.find((t) => t.serial === 2)?.expiresAt, Number.POSITIVE_INFINITY);
    assert.deepEqual(back.entries.leases, [lease(1)]);
    assert.equal(JSON.stringify(back.entries.leases[0]!.response), JSON.stringify(lease(1).response), 'the same keys in the same order');
  });

  it('leaves out an expired entry and one unused for longer than the idle bound, on write and on read', () => {
    const entries = { tokens: [token(1), token(2, { expiresAt: T0 + 5 * MIN })], leases: [lease(1, { lastUsed: T0 + 20 * MIN }), lease(2)] };
    // At 31 minutes: token 2 has expired; token 1 and lease 2 were last used 31 minutes ago; lease 1, 11 minutes ago.
    const written = encodeEntries(entries, limits(T0 + 31 * MIN));
    assert.deepEqual(written.leftOut, { expired: 1, idle: 2, overSize: 0 });
    assert.deepEqual(written.written.leases.map((l) => l.owner), [1]);
    // A file written earlier and read late: the same rules when it is read.
    const early = encodeEntries(entries, limits(T0 + MIN)).text;
    const read = decodeEntries(early, limits(T0 + 31 * MIN));
    assert.deepEqual(read.leftOut, { expired: 1, idle: 2 });
    assert.deepEqual(read.entries.leases.map((l) => l.owner), [1]);
    assert.deepEqual(read.entries.tokens, []);
  });

  it('stays under its byte bound by leaving out the least recently used entries', () => {
    const leases = Array.from({ length: 20 }, (_, i) => lease(i, { lastUsed: T0 + i * 1000 }));
    const one = Buffer.byteLength(JSON.stringify(lease(0))) + 1;
    const { text, written, leftOut } = encodeEntries({ tokens: [], leases }, limits(T0 + MIN, 100 + 5 * one));
    assert.ok(Buffer.byteLength(text) <= 100 + 5 * one, `${Buffer.byteLength(text)} bytes`);
    assert.equal(leftOut.overSize, 20 - written.leases.length);
    assert.ok(written.leases.length >= 4);
    assert.deepEqual(written.leases.map((l) => l.owner), [19, 18, 17, 16, 15].slice(0, written.leases.length), 'the most recently used');
  });

  it('never takes a use from the future (a clock set back): an entry is idle from the read\'s now at the latest', () => {
    const text = encodeEntries({ tokens: [token(1, { lastUsed: T0 + 10 * MIN })], leases: [] }, limits(T0 + 10 * MIN)).text;
    const read = decodeEntries(text, limits(T0 + 5 * MIN));
    assert.equal(read.entries.tokens[0]!.lastUsed, T0 + 5 * MIN);
  });

  it('refuses a document that is not one this version writes', () => {
    for (const text of ['', 'not json', '[]', '{"v":2,"writtenAt":1,"tokens":[],"leases":[]}', '{"v":1,"writtenAt":1,"tokens":[{"token":"x"}],"leases":[]}', '{"v":1,"writtenAt":1,"tokens":[],"leases":[],"extra":1}']) {
      assert.throws(() => decodeEntries(text, limits(T0)), StateMalformed, text);
    }
  });
});
