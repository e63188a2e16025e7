/**
 * The kept state over the real token and lease caches, on an injected clock: what a restarted process takes back,
 * what it leaves out (expired, idle, another key, a damaged file), and how two instances of a rollout's overlap see
 * each other's entries without bringing back a token Vault said is dead.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Authenticator, type KeptToken } from '../../src/auth/authenticator.js';
import { LeaseCache, type ReuseScope } from '../../src/vault/lease-cache.js';
import { KeptState, type KeptStateEvent } from '../../src/state/kept-state.js';
import { ProviderError } from '../../src/errors.js';
import type { HmacKeySource } from '../../src/mount/hmac-key.js';
import type { VaultClient } from '../../src/vault/client.js';
import type { SecretResponse } from '../../src/vault/responses.js';
import { ManualClock } from '../helpers/clocks.js';

const MIN = 60_000;
const T0 = 1_800_000_000_000;

function keySource(byte: number): HmacKeySource {
  const key = Buffer.alloc(32, byte);
  return { description: `test key ${byte}`, getKey: () => Promise.resolve(key) };
}

function keptToken(n: number, fields: Partial<KeptToken> = {}): KeptToken {
  return { key: `["conn","web","prod","web","vault","pod:uid-${n}"]`, workloadKey: 'w', token: `hvs.SECRET-token-${n}`, obtainedAt: T0, expiresAt: T0 + 60 * MIN, serial: 1000 + n, lastUsed: T0, ...fields };
}

function scope(n: number): ReuseScope {
  return { podUid: `uid-${n}`, identityKey: `["conn","web","prod","web","vault","pod:uid-${n}"]`, requestKey: 'GET database/creds/web' };
}

function credential(n: number): SecretResponse {
  return { request_id: `r-${n}`, lease_id: `database/creds/web/lease-${n}`, renewable: true, lease_duration: 3600, data: { username: `v-user-${n}`, password: `SECRET-password-${n}` } };
}

interface Line {
  readonly level: 'info' | 'warn';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

describe('state/kept-state', () => {
  let dir: string;
  let t: number;
  const now = () => t;
  const opened: KeptState[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-kept-'));
    t = T0;
  });
  afterEach(async () => {
    for (const k of opened.splice(0)) await k.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A process's caches and its kept state (not yet restored). */
  function instance(options: { key?: number; idleMs?: number; maxBytes?: number; timers?: ManualClock } = {}) {
    const auth = new Authenticator({ cacheSize: 100, now });
    const leases = new LeaseCache({ maxEntries: 100, maxBytes: 1 << 20, now });
    const lines: Line[] = [];
    const events: KeptStateEvent[] = [];
    const kept = new KeptState({
      dir,
      endpoint: '/provider/vault.sock',
      hmacKey: keySource(options.key ?? 1),
      auth,
      leases,
      maxBytes: options.maxBytes ?? 1 << 20,
      idleMs: options.idleMs ?? 30 * MIN,
      now,
      ...(options.timers === undefined ? {} : { timer: (ms: number, fn: () => void) => options.timers!.after(ms, fn) }),
      debounceMs: 1,
      recheckMs: 0,
      log: { info: (fields, message) => lines.push({ level: 'info', fields, message }), warn: (fields, message) => lines.push({ level: 'warn', fields, message }) },
      onEvent: (e) => events.push(e),
    });
    opened.push(kept);
    return { auth, leases, kept, lines, events };
  }

  /** Pods 1..n with a token each and a database credential obtained with it. */
  function seed(i: ReturnType<typeof instance>, pods: readonly number[]): void {
    const restored = i.auth.restore(pods.map((n) => keptToken(n)));
    for (const n of pods) i.leases.offer(scope(n), credential(n), 'GET', T0, T0 + 60 * MIN, restored.serials.get(1000 + n));
  }

  it('takes back every token and credential after a restart, names each lease\'s token anew, and keeps nothing in clear', async () => {
    const first = instance();
    await first.kept.restore();
    seed(first, [1, 2, 3]);
    t += 5 * MIN;
    await first.kept.close();
    const file = await readFile(join(dir, 'vault.state'));
    for (const secret of ['hvs.', 'SECRET', 'v-user', 'uid-1', 'database/creds']) assert.ok(!file.includes(Buffer.from(secret)), `${secret} in the file`);
    assert.equal((await stat(join(dir, 'vault.state'))).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);

    const second = instance();
    await second.kept.restore();
    assert.deepEqual(second.auth.snapshot().map((k) => k.token).sort(), ['hvs.SECRET-token-1', 'hvs.SECRET-token-2', 'hvs.SECRET-token-3']);
    for (const n of [1, 2, 3]) assert.deepEqual(second.leases.get(scope(n)), credential(n));
    assert.equal(second.leases.get({ ...scope(1), podUid: 'uid-2' }), undefined, 'only for its own pod');
    assert.deepEqual(second.events, ['restored']);
    assert.match(second.lines.map((l) => `${l.message} ${JSON.stringify(l.fields)}`).join('\n'), /kept state restored .*"tokens":3,"leases":3/);
    // The lease of pod 2 belongs to pod 2's token under its new serial: Vault saying that token is dead drops it.
    const token2 = second.auth.snapshot().find((k) => k.token === 'hvs.SECRET-token-2')!;
    second.leases.forgetToken(token2.serial);
    assert.equal(second.leases.get(scope(2)), undefined);
    assert.deepEqual(second.leases.get(scope(1)), credential(1));
  });

  it('leaves out a token past its refresh point and a credential past its reuse window', async () => {
    const first = instance({ idleMs: 24 * 60 * MIN });
    await first.kept.restore();
    seed(first, [1]);
    // A second token that expires early, with its own credential.
    const early = first.auth.restore([keptToken(2, { expiresAt: T0 + 20 * MIN })]);
    first.leases.offer(scope(2), { ...credential(2), lease_duration: 1200 }, 'GET', T0, T0 + 20 * MIN, early.serials.get(1002));
    await first.kept.close();

    // 17 minutes on: token 2 is past 80% of its 20 minutes, its credential past 2/3 of them; pod 1's are fine.
    t = T0 + 17 * MIN;
    const second = instance({ idleMs: 24 * 60 * MIN });
    await second.kept.restore();
    assert.deepEqual(second.auth.snapshot().map((k) => k.token), ['hvs.SECRET-token-1']);
    assert.equal(second.leases.get(scope(2)), undefined);
    assert.deepEqual(second.leases.get(scope(1)), credential(1));
    // 50 minutes on: pod 1's token is past 48 minutes (80%), its credential past 40 (2/3): nothing comes back.
    t = T0 + 50 * MIN;
    const third = instance({ idleMs: 24 * 60 * MIN });
    await third.kept.restore();
    assert.deepEqual(third.auth.snapshot(), []);
    assert.deepEqual(third.leases.snapshot(), []);
  });

  it('drops what no mount used for the idle bound (a pod that went away), and keeps what mounts use', async () => {
    const first = instance({ idleMs: 10 * MIN });
    await first.kept.restore();
    seed(first, [1, 2]);
    // Pod 1 republishes every 2 minutes (a lease hit; its token's hits are counted the same way); pod 2 is gone.
    for (let m = 2; m <= 12; m += 2) {
      t = T0 + m * MIN;
      assert.ok(first.leases.get(scope(1)));
      first.kept.noteMount();
    }
    await first.kept.flush();
    t = T0 + 13 * MIN;
    const second = instance({ idleMs: 10 * MIN });
    await second.kept.restore();
    assert.deepEqual(second.leases.get(scope(1)), credential(1));
    assert.equal(second.leases.get(scope(2)), undefined, 'unused for 13 minutes');
    assert.deepEqual(second.auth.snapshot(), [], 'both tokens unused for 13 minutes (their hits go through token())');
  });

  it('writes when uses alone have moved, a quarter of the idle bound after the last write', async () => {
    const timers = new ManualClock();
    const i = instance({ idleMs: 8 * MIN, timers });
    await i.kept.restore();
    const writes = () => i.events.filter((e) => e === 'written').length;
    /** Ends the debounce noteMount started, if it started one, and waits for the write it queued (a look behind it). */
    const settle = async (): Promise<void> => {
      // The debounce is twenty times the last write's duration at least: well under a minute.
      timers.advance(MIN);
      await i.kept.sync();
    };
    seed(i, [1]);
    i.kept.noteMount();
    assert.equal(timers.pending, 1, 'a change: a write is scheduled');
    await settle();
    assert.equal(writes(), 1);
    t += MIN;
    i.leases.get(scope(1));
    i.kept.noteMount();
    assert.equal(timers.pending, 0, 'nothing changed, the last write is recent: no write scheduled');
    await settle();
    assert.equal(writes(), 1, 'nothing changed, the last write is recent');
    t += 2 * MIN;
    i.kept.noteMount();
    assert.equal(timers.pending, 1, 'a quarter of the idle bound since the last write: a write is scheduled');
    await settle();
    assert.equal(writes(), 2);
  });

  for (const [name, damage] of [
    ['a flipped byte', async (file: string) => {
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      await writeFile(file, bytes);
    }],
    ['a truncation', (file: string) => truncate(file, 40)],
    ['an empty file', (file: string) => writeFile(file, '')],
    ['plain JSON', (file: string) => writeFile(file, '{"v":1,"writtenAt":0,"tokens":[],"leases":[]}')],
  ] as const) {
    it(`ignores a state file with ${name}: starts clean with one line saying why, and replaces it at the next write`, async () => {
      const first = instance();
      await first.kept.restore();
      seed(first, [1]);
      await first.kept.close();
      await damage(join(dir, 'vault.state'));
      const second = instance();
      await second.kept.restore();
      assert.deepEqual(second.auth.snapshot(), []);
      assert.deepEqual(second.leases.snapshot(), []);
      assert.deepEqual(second.events, ['ignored']);
      const warn = second.lines.find((l) => l.level === 'warn');
      assert.ok(warn, 'a warning');
      assert.equal(warn.message, 'kept state ignored; starting clean (it is replaced at the next write)');
      assert.match(String(warn.fields['reason']), /^(authentication-failed|not-a-state-file)$/);
      assert.ok(!JSON.stringify(second.lines).includes('SECRET'));
      seed(second, [2]);
      await second.kept.close();
      const third = instance();
      await third.kept.restore();
      assert.deepEqual(third.auth.snapshot().map((k) => k.token), ['hvs.SECRET-token-2']);
    });
  }

  it('ignores a state file written under another HMAC key, and one written for another endpoint', async () => {
    const first = instance({ key: 1 });
    await first.kept.restore();
    seed(first, [1]);
    await first.kept.close();
    const other = instance({ key: 2 });
    await other.kept.restore();
    assert.deepEqual(other.auth.snapshot(), []);
    assert.equal(other.lines.find((l) => l.level === 'warn')?.fields['reason'], 'authentication-failed');
    assert.match(String(other.lines.find((l) => l.level === 'warn')?.fields['detail']), /another key/);
    // The OpenBao provider's file moved to the Vault provider's name.
    const bao = new KeptState({ dir, endpoint: '/provider/openbao.sock', hmacKey: keySource(1), auth: first.auth, leases: first.leases, maxBytes: 1 << 20, idleMs: 30 * MIN, now, log: { info: () => undefined, warn: () => undefined } });
    opened.push(bao);
    await bao.restore();
    await bao.flush();
    await writeFile(join(dir, 'vault.state'), await readFile(join(dir, 'openbao.state')));
    const again = instance({ key: 1 });
    await again.kept.restore();
    assert.deepEqual(again.auth.snapshot(), []);
    assert.equal(again.lines.find((l) => l.level === 'warn')?.fields['reason'], 'authentication-failed');
  });

  it('ignores a file above --state-max-bytes without reading it, and writes within it', async () => {
    const first = instance({ maxBytes: 2000 });
    await first.kept.restore();
    seed(first, [1, 2, 3, 4, 5, 6, 7, 8]);
    await first.kept.close();
    assert.ok((await stat(join(dir, 'vault.state'))).size <= 2000 + 37);
    const small = instance({ maxBytes: 2000 });
    await small.kept.restore();
    assert.ok(small.leases.size + small.auth.snapshot().length > 0);
    assert.ok(small.leases.size + small.auth.snapshot().length < 16, 'some were left out');
    await writeFile(join(dir, 'vault.state'), Buffer.alloc(3000));
    const big = instance({ maxBytes: 2000 });
    await big.kept.restore();
    assert.equal(big.lines.find((l) => l.level === 'warn')?.fields['reason'], 'too-large');
  });

  it('an overlap: the new instance takes in what the old one kept after it started, and both writers keep each other\'s entries', async () => {
    const old = instance();
    await old.kept.restore();
    seed(old, [1]);
    await old.kept.flush();
    const successor = instance();
    await successor.kept.restore();
    assert.equal(successor.leases.size, 1);
    // The old instance still serves its open connections: it mints for pod 2 and writes.
    seed(old, [2]);
    old.kept.noteMount();
    await old.kept.flush();
    // The successor's next mount looks before it asks its caches.
    await successor.kept.sync();
    assert.deepEqual(successor.leases.get(scope(2)), credential(2));
    assert.deepEqual(successor.events, ['restored', 'merged']);
    // Each mints for a pod of its own and writes; neither write loses the other's entry.
    seed(successor, [3]);
    await successor.kept.flush();
    seed(old, [4]);
    await old.kept.close();
    const later = instance();
    await later.kept.restore();
    for (const n of [1, 2, 3, 4]) assert.deepEqual(later.leases.get(scope(n)), credential(n), `pod ${n}`);
  });

  it('never brings back a token Vault said is dead, nor what it obtained, from another instance\'s file', async () => {
    const old = instance();
    await old.kept.restore();
    seed(old, [1, 2]);
    await old.kept.flush();
    const successor = instance();
    await successor.kept.restore();
    const dead = successor.auth.snapshot().find((k) => k.token === 'hvs.SECRET-token-1')!;
    const client = { lookupSelf: () => Promise.reject(new ProviderError('PERMISSION_DENIED', 'permission denied')) } as unknown as VaultClient;
    const token = { ...dead, identityKey: dead.key, refreshAt: dead.expiresAt };
    assert.equal(await successor.auth.verify(client, token), 'dead');
    successor.leases.forgetToken(dead.serial);
    // The old instance, which never learnt it, writes again (its final flush).
    seed(old, [3]);
    await old.kept.close();
    await successor.kept.sync();
    assert.deepEqual(successor.auth.snapshot().map((k) => k.token).sort(), ['hvs.SECRET-token-2', 'hvs.SECRET-token-3']);
    assert.equal(successor.leases.get(scope(1)), undefined);
    assert.deepEqual(successor.leases.get(scope(3)), credential(3));
    assert.match(JSON.stringify(successor.lines.at(-1)?.fields), /"refused":1/);
  });

  it('takes a credential digest key only while no token is cached (no cached key changes meaning)', () => {
    const a = instance();
    assert.equal(a.auth.adoptCredentialDigestKey(Buffer.alloc(32)), true);
    seed(a, [1]);
    assert.equal(a.auth.adoptCredentialDigestKey(Buffer.alloc(32, 1)), false);
  });
});
