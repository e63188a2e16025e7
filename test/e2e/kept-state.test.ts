/**
 * Kept state end to end, through the socket, against the test Vault's request log: a restarted provider serves the
 * republishes of running pods with the token, database credential and certificate they had — no login, no new
 * lease, the same files and object versions — unless they are past their window, revoked, or the file cannot be
 * used (another key, damaged), in which case it starts clean, says why in one line, and serves. A rollout's overlap:
 * what the old instance mints after the new one started reaches the new one. The daemon process as the image runs
 * it, killed with SIGKILL, keeps what it had written.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, fixedHmacKey, POD, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import { startProvider, type RunningProvider } from '../../src/cli/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import type { ProviderSettings } from '../../src/cli/flags.js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';
import { DriverClient } from '../helpers/grpc-client.js';
import { DaemonProcess, waitForServing } from '../helpers/daemon-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import { LEASED_OBJECTS } from '../helpers/core-mount.js';

const MIN = 60_000;
const OBJECTS = [
  ...LEASED_OBJECTS,
  { objectName: 'static', secretPath: 'secret/data/static', secretKey: 'value' },
  { objectName: 'whole.json', secretPath: 'database/creds/web' },
];
const PODS = 3;

function pod(n: number): PodIdentity {
  return { ...POD, name: `web-${n}`, uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` };
}

/** Files and versions as the driver would write and record them. */
function view(res: MountResponse__Output): { files: Record<string, string>; versions: Record<string, string> } {
  return {
    files: Object.fromEntries(res.files.map((f) => [f.path, Buffer.from(f.contents).toString('base64')])),
    versions: Object.fromEntries(res.object_version.map((v) => [v.id, v.version])),
  };
}

describe('e2e: kept state across restarts (--state-dir)', function () {
  this.timeout(60_000);
  let h: Harness;
  let stateDir: string;
  let t: number;
  const now = () => t;

  const counts = () => ({
    login: h.vault.countRequests({ kind: 'login' }),
    dynamic: h.vault.countRequests({ kind: 'dynamic' }),
    issue: h.vault.countRequests({ kind: 'issue' }),
  });

  async function start(settings: Partial<ProviderSettings> = {}): Promise<void> {
    await h.startProvider({ stateDir, ...settings }, { now });
  }

  async function restart(settings: Partial<ProviderSettings> = {}): Promise<void> {
    await h.stopProvider();
    await start(settings);
  }

  async function republishAll(): Promise<Array<ReturnType<typeof view>>> {
    const out = [];
    for (let n = 1; n <= PODS; n++) out.push(view(await h.client.mount(h.request({ objects: OBJECTS, pod: pod(n) }))));
    return out;
  }

  beforeEach(async () => {
    t = Date.now();
    h = await startHarness({ now });
    h.vault.putKv('secret', 'static', { value: 'static-1' });
    // EC keys: RSA key generation in the test Vault would be most of this suite's time.
    h.vault.addPkiRole('pki', 'web', { allowedDomains: ['prod.svc'], allowSubdomains: true, maxTtlSeconds: 86400 * 30, keyType: 'ec' });
    stateDir = await mkdtemp(join(tmpdir(), 'vcp-e2e-state-'));
  });

  afterEach(async () => {
    await h.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('a restart between two republishes of several pods: no login, no new credential or certificate, the same files and versions', async () => {
    await start();
    const before = await republishAll();
    assert.deepEqual(counts(), { login: PODS, dynamic: PODS, issue: PODS });
    t += 2 * MIN;
    await restart();
    h.vault.clearRequests();
    const after = await republishAll();
    assert.deepEqual(counts(), { login: 0, dynamic: 0, issue: 0 });
    assert.equal(h.vault.countRequests({ kind: 'read' }), PODS, 'static secrets are still read on every republish');
    assert.deepEqual(after, before);
    // Each pod kept its own: five database users and five certificates.
    assert.equal(new Set(after.map((v) => v.files['db/username'])).size, PODS);
    assert.equal(new Set(after.map((v) => v.files['tls/tls.crt'])).size, PODS);
    assert.ok(h.logLinesWith('"msg":"kept state restored"').some((l) => l.includes(`"tokens":${PODS},"leases":${PODS * 2}`)), h.logLinesWith('kept state').join('\n'));
    assertNoLeaks('the provider log', h.logs);
  });

  it('without --state-dir the control: the same restart logs in and mints again', async () => {
    await start({ stateDir: undefined });
    const before = await republishAll();
    await restart({ stateDir: undefined });
    h.vault.clearRequests();
    const after = await republishAll();
    assert.deepEqual(counts(), { login: PODS, dynamic: PODS, issue: PODS });
    assert.notDeepEqual(after[0]!.files['db/username'], before[0]!.files['db/username']);
  });

  it('past the windows: a token near its end logs in again, a credential past its reuse window is minted anew', async () => {
    await start();
    await republishAll();
    // The database role's credential lives 1 h (reused for 40 min), the certificate 2 h (80 min), the token 1 h
    // (refreshed after 48 min). 45 minutes on, with a republish every 15 minutes meanwhile (so nothing is idle):
    for (let m = 15; m <= 30; m += 15) {
      t += 15 * MIN;
      await republishAll();
    }
    t += 15 * MIN;
    await restart();
    h.vault.clearRequests();
    await republishAll();
    assert.deepEqual(counts(), { login: 0, dynamic: PODS, issue: 0 }, 'the credentials (2/3 of 1 h passed) only');
    t += 5 * MIN;
    await restart();
    h.vault.clearRequests();
    await republishAll();
    assert.deepEqual(counts(), { login: PODS, dynamic: 0, issue: 0 }, 'the tokens (80% of 1 h passed) only');
  });

  it('drops the entries of a pod no mount asked for within --state-idle-timeout (it went away)', async () => {
    await start({ stateIdleMs: 10 * MIN });
    await republishAll();
    // Pods 2..5 keep republishing; pod 1 is gone.
    for (let m = 4; m <= 12; m += 4) {
      t += 4 * MIN;
      for (let n = 2; n <= PODS; n++) await h.client.mount(h.request({ objects: OBJECTS, pod: pod(n) }));
    }
    await restart({ stateIdleMs: 10 * MIN });
    h.vault.clearRequests();
    await republishAll();
    assert.deepEqual(counts(), { login: 1, dynamic: 1, issue: 1 }, 'pod 1 alone starts anew');
  });

  it('a revoked token is found at the first 403: one login, its credentials fetched anew, the others kept', async () => {
    await start();
    await republishAll();
    await restart();
    h.vault.clearRequests();
    // Revoke pod 1's token (and, with it, what it obtained) behind the provider's back.
    assert.ok(h.vault.revokeTokensWithMeta('service_account_name', 'web') >= PODS);
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: OBJECTS, pod: pod(1) }));
    assert.equal(res.files.length, OBJECTS.length);
    assert.deepEqual(counts(), { login: 1, dynamic: 1, issue: 1 });
    assert.equal(h.vault.countRequests({ routePrefix: 'auth/token/lookup-self' }), 1, 'asked Vault before dropping anything');
  });

  for (const [name, damage] of [
    ['a flipped byte', (bytes: Buffer) => {
      const copy = Buffer.from(bytes);
      copy[copy.length - 5]! ^= 0x40;
      return copy;
    }],
    ['a truncation', (bytes: Buffer) => bytes.subarray(0, bytes.length - 20)],
  ] as const) {
    it(`a state file with ${name}: the daemon starts clean, says so in one line without secrets, and serves`, async () => {
      await start();
      const before = await republishAll();
      await h.stopProvider();
      const file = join(stateDir, 'vault.state');
      await writeFile(file, damage(await readFile(file)));
      await start();
      h.vault.clearRequests();
      const after = await republishAll();
      assert.deepEqual(counts(), { login: PODS, dynamic: PODS, issue: PODS });
      assert.equal(after[0]!.files['static'], before[0]!.files['static']);
      const lines = h.logLinesWith('kept state ignored');
      assert.equal(lines.length, 1, h.logLinesWith('state').join('\n'));
      assert.match(lines[0]!, /"reason":"(authentication-failed|not-a-state-file)"/);
      assertNoLeaks('the provider log', h.logs);
    });
  }

  it('a state file written under another HMAC key: starts clean and serves; an expired file the same', async () => {
    await start();
    await republishAll();
    await h.stopProvider();
    await h.startProvider({ stateDir }, { now, hmacKey: fixedHmacKey(0x43) });
    h.vault.clearRequests();
    await republishAll();
    assert.deepEqual(counts(), { login: PODS, dynamic: PODS, issue: PODS });
    assert.match(h.logLinesWith('kept state ignored')[0] ?? '', /"reason":"authentication-failed"/);
    // Three hours later (everything in it expired): nothing to take back, and no complaint either.
    await h.stopProvider();
    t += 3 * 60 * MIN;
    await h.startProvider({ stateDir }, { now, hmacKey: fixedHmacKey(0x43) });
    h.vault.clearRequests();
    await republishAll();
    assert.deepEqual(counts(), { login: PODS, dynamic: PODS, issue: PODS });
    assert.match(h.logLinesWith('"msg":"kept state restored"').at(-1) ?? '', /"tokens":0,"leases":0,"expired":9/);
  });

  it('a rollout\'s overlap: what the old instance mints after the new one took the socket over reaches the new one', async () => {
    await start();
    await h.client.mount(h.request({ objects: OBJECTS, pod: pod(1) }));
    const oldClient = h.client;
    const old = h.provider;
    // The new instance starts beside the old one and takes the socket over.
    const logs: string[] = [];
    const successor: RunningProvider = await startProvider(
      { ...h.settings, stateDir },
      createLogger('debug', { write: (line: string) => void logs.push(line) }),
      { hmacKey: fixedHmacKey(), env: {}, now },
    );
    try {
      // The driver's open connection still reaches the old instance, which mints for a new pod.
      const minted = view(await oldClient.mount(h.request({ objects: OBJECTS, pod: pod(2) })));
      await old.stop(2_000);
      oldClient.close();
      h.vault.clearRequests();
      const client = new DriverClient(h.settings.endpoint);
      const republished = view(await client.mount(h.request({ objects: OBJECTS, pod: pod(2) })));
      await client.mount(h.request({ objects: OBJECTS, pod: pod(1) }));
      client.close();
      assert.deepEqual(counts(), { login: 0, dynamic: 0, issue: 0 });
      assert.deepEqual(republished, minted);
      assert.ok(logs.some((l) => l.includes('kept state merged from another instance')), logs.filter((l) => l.includes('state')).join('\n'));
    } finally {
      await successor.stop(2_000);
    }
  });

  it('AppRole tokens too: the credential digest in their key is derived from the HMAC key, so a restart finds them', async () => {
    h.vault.enableAppRoleAuth();
    const roleId = h.vault.addAppRole('approle', 'web', { policies: ['web'], ttlSeconds: 3600 });
    const secretId = h.vault.newAppRoleSecretId('approle', 'web');
    const request = () => h.request({ objects: OBJECTS.slice(0, 2), params: { vaultAuthMethod: 'approle', vaultRoleID: roleId, roleName: '' }, secrets: { secretId } });
    await start();
    const before = view(await h.client.mount(request()));
    await restart();
    h.vault.clearRequests();
    assert.deepEqual(view(await h.client.mount(request())), before);
    assert.deepEqual(counts(), { login: 0, dynamic: 0, issue: 0 });
  });

  it('the daemon as the image runs it, killed with SIGKILL: what it wrote before (1 s after a change) is served after', async () => {
    const keyFile = join(stateDir, '..', `${stateDir.split('/').at(-1)}-hmac.key`);
    await writeFile(keyFile, 'a-test-hmac-key-of-enough-bytes\n');
    const socket = join(h.dir, 'daemon', 'vault.sock');
    const args = [`--endpoint=${socket}`, '--health-addr=127.0.0.1:0', `--vault-addr=${h.vault.address}`, `--hmac-key-file=${keyFile}`, `--state-dir=${stateDir}`];
    const first = new DaemonProcess(args);
    try {
      await waitForServing(first);
      const client = new DriverClient(socket);
      // The daemon's own clock: real time, so these are the test Vault's real-time leases.
      t = Date.now();
      const before = [];
      for (let n = 1; n <= 3; n++) before.push(view(await client.mount(h.request({ objects: OBJECTS, pod: pod(n) }))));
      client.close();
      await waitFor(async () => (await readFile(join(stateDir, 'vault.state')).catch(() => Buffer.alloc(0))).length > 100, 'the state to be written');
      await new Promise((r) => setTimeout(r, 1_500));
      first.kill('SIGKILL');
      await first.exited;
      const second = new DaemonProcess(args);
      try {
        await waitForServing(second);
        h.vault.clearRequests();
        const again = new DriverClient(socket);
        for (let n = 1; n <= 3; n++) assert.deepEqual(view(await again.mount(h.request({ objects: OBJECTS, pod: pod(n) }))), before[n - 1]);
        again.close();
        assert.deepEqual(counts(), { login: 0, dynamic: 0, issue: 0 });
      } finally {
        second.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      first.kill('SIGKILL');
      await rm(keyFile, { force: true });
    }
  });
});
