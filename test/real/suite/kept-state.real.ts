/**
 * The kept state (--state-dir) on real Vault with a real PostgreSQL behind its database engine, counted from Vault's
 * own file audit device: the provider (dist/main.js as the image runs it) restarted between two republishes of
 * several pods makes no login, no `database/creds` read and no `pki/issue`, and the driver's writer gets the same
 * files and object versions. A state file with a flipped byte, truncated, written under another HMAC key, or
 * holding only expired entries: the provider starts clean, says so in one line without a secret, and serves.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { World, WEB_POD, type Mounted, type Pod } from '../harness/world.js';
import { RealSuiteProvider } from '../harness/provider.js';
import { assertNoLeaks } from '../../helpers/leak-check.js';
import { LEASED_OBJECTS } from '../../helpers/core-mount.js';

const PODS = 4;
const OBJECTS = [
  ...LEASED_OBJECTS,
  { objectName: 'static', secretPath: 'secret/data/app', secretKey: 'password' },
];

function pod(n: number, prefix = 'kept'): Pod {
  return { ...WEB_POD, name: `${prefix}-${n}`, uid: `9${String(n).padStart(7, '0')}-1111-4222-8333-${prefix === 'kept' ? '444444444444' : '555555555555'}` };
}

/** What the pod sees and what the driver records: files (path → bytes) and object versions. */
function seen(m: Mounted): { files: Record<string, string>; versions: Readonly<Record<string, string>> | null } {
  return { files: Object.fromEntries([...m.files].map(([p, f]) => [p, f.bytes.toString('base64')])), versions: m.objectVersions };
}

describe('real Vault: tokens, leases and certificates kept across provider restarts (--state-dir)', function () {
  let w: World;
  let stateDir: string;
  const targets = new Map<string, string>();

  /** One publish (first or republish) of `p`'s volume, always into the same target, as the kubelet does. */
  async function publish(p: Pod, objects: ReadonlyArray<Record<string, unknown>> = OBJECTS, roleName = 'web'): Promise<Mounted> {
    let target = targets.get(p.uid);
    if (target === undefined) {
      target = await w.newTarget();
      targets.set(p.uid, target);
    }
    const m = await w.mount({ pod: p, objects, target, params: { roleName } });
    assert.equal(m.error, '', `${p.name}: ${m.grpcMessage}`);
    return m;
  }

  const counts = async () => ({
    login: (await w.vaultRequests('auth/kubernetes/login')).length,
    creds: (await w.vaultRequests('database/creds/')).length,
    issue: (await w.vaultRequests('pki/issue/')).length,
  });

  /** The World's provider is the real suite's own process here (restart with a step between, its output). */
  const provider = (): RealSuiteProvider => {
    assert.ok(w.provider instanceof RealSuiteProvider);
    return w.provider;
  };
  const lines = (msg: string) => provider().lines().filter((l) => String(l['msg']).startsWith(msg));

  before(async function () {
    this.timeout(300_000);
    stateDir = await mkdtemp(join(tmpdir(), 'vcp-real-state-'));
    w = await World.start({ postgres: true, providerFlags: [`--state-dir=${stateDir}`] });
    await w.vault.must('POST', 'secret/data/app', { data: { password: 'app-pass' } });
  });

  after(async () => {
    await w?.close();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  afterEach(() => {
    assertNoLeaks('the provider\'s output', [provider().output()]);
  });

  it(`a restart between two republishes of ${PODS} pods: 0 logins, 0 database/creds, 0 pki/issue in Vault's audit log; the same files and versions`, async function () {
    this.timeout(180_000);
    await w.mark();
    const first = [];
    for (let n = 1; n <= PODS; n++) first.push(seen(await publish(pod(n))));
    assert.deepEqual(await counts(), { login: PODS, creds: PODS, issue: PODS });
    assert.equal(new Set(first.map((f) => f.files['db/username'])).size, PODS, 'a database user per pod');

    await provider().restart();
    assert.match(JSON.stringify(lines('kept state restored').at(-1)), new RegExp(`"tokens":${PODS},"leases":${PODS * 2}`));
    await w.mark();
    for (let n = 1; n <= PODS; n++) assert.deepEqual(seen(await publish(pod(n))), first[n - 1], `pod ${n}: the same files and versions`);
    assert.deepEqual(await counts(), { login: 0, creds: 0, issue: 0 });
    assert.equal((await w.vaultRequests('secret/data/app')).length, PODS, 'static secrets are read on every republish');
    // And again, a second restart: what was restored is kept again.
    await provider().restart();
    await w.mark();
    for (let n = 1; n <= PODS; n++) assert.deepEqual(seen(await publish(pod(n))), first[n - 1]);
    assert.deepEqual(await counts(), { login: 0, creds: 0, issue: 0 });
  });

  for (const [name, damage] of [
    ['a flipped byte', async (file: string) => {
      const bytes = await readFile(file);
      bytes[bytes.length >> 1]! ^= 0x10;
      await writeFile(file, bytes);
    }],
    ['a truncation', async (file: string) => writeFile(file, (await readFile(file)).subarray(0, 100))],
  ] as const) {
    it(`a state file with ${name}: the provider starts clean, says why in one line, and serves`, async function () {
      this.timeout(180_000);
      await provider().restart(() => damage(join(stateDir, 'vault.state')));
      // The lines of the process started now.
      const ignored = lines('kept state ignored');
      assert.equal(ignored.length, 1);
      assert.match(String(ignored.at(-1)?.['reason']), /^(authentication-failed|not-a-state-file)$/);
      await w.mark();
      for (let n = 1; n <= PODS; n++) await publish(pod(n));
      assert.deepEqual(await counts(), { login: PODS, creds: PODS, issue: PODS }, 'one login and one mint per pod: a clean start');
    });
  }

  it('a state file written under another HMAC key: ignored, a clean start that serves (object versions follow the new key)', async function () {
    this.timeout(180_000);
    const before = seen(await publish(pod(1)));
    await provider().restart(() => writeFile(provider().keyFile, 'another-hmac-key-of-the-real-suite-0123'));
    assert.equal(lines('kept state ignored').at(-1)?.['reason'], 'authentication-failed');
    await w.mark();
    const after = seen(await publish(pod(1)));
    assert.deepEqual(await counts(), { login: 1, creds: 1, issue: 1 });
    assert.notDeepEqual(after.versions, before.versions);
  });

  it('expired entries: a file whose tokens and certificates ended while the provider was stopped gives nothing back; it logs in and issues anew', async function () {
    this.timeout(180_000);
    await w.vault.must('POST', 'auth/kubernetes/role/short', {
      bound_service_account_names: ['web'], bound_service_account_namespaces: ['prod'], audience: 'vault', token_policies: ['web'], token_ttl: '20s',
    });
    // A certificate of 21 s (reused for 14 s) and a token of 20 s (refreshed after 16 s).
    const objects = [{ objectName: 'tls.crt', secretPath: 'pki/issue/web', secretKey: 'certificate', method: 'PUT', secretArgs: { common_name: 'short.prod.svc', ttl: '21s' } }];
    await w.mark();
    for (let n = 1; n <= 2; n++) await publish(pod(n, 'short'), objects, 'short');
    assert.deepEqual(await counts(), { login: 2, creds: 0, issue: 2 });
    // Restarted at once: both kept.
    await provider().restart();
    await w.mark();
    for (let n = 1; n <= 2; n++) await publish(pod(n, 'short'), objects, 'short');
    assert.deepEqual(await counts(), { login: 0, creds: 0, issue: 0 });
    // Stopped (its last write holds both pods' entries, alive then) for longer than they live; then started.
    await provider().restart(() => new Promise((r) => setTimeout(r, 22_000)));
    const restored = lines('kept state restored').at(-1);
    assert.equal(restored?.['expired'], 4, `two tokens and two certificates expired in the file: ${JSON.stringify(restored)}`);
    await w.mark();
    for (let n = 1; n <= 2; n++) await publish(pod(n, 'short'), objects, 'short');
    assert.deepEqual(await counts(), { login: 2, creds: 0, issue: 2 });
  });
});
