/**
 * Admission control end to end (issue 11, item 1). In process first, where each budget can be hit on purpose and
 * everything else checked around it: a mount over its own budget, mounts together over the node's, one mount too
 * many; each fails alone with RESOURCE_EXHAUSTED naming the object and the budget, the others are untouched, and a
 * normal mount right after succeeds. Then the daemon as the image runs it (dist/main.js, the Dockerfile's
 * NODE_OPTIONS) given one response that would parse into far more than its size. The daemon under concurrent mounts
 * naming hundreds of MiB is test/e2e/memory-budget.slow.ts (`npm run test:slow`); the heavy form, with its figures,
 * is `npm run memory-soak`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { DriverClient } from '../helpers/grpc-client.js';
import { startImageDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { preparePressureVault, pressureRequest, SMALL_OBJECTS } from '../helpers/memory-pressure.js';
import { samples } from '../helpers/prometheus.js';
import { ServiceAccountJwtIssuer, startTestVault, type TestVault } from '../vault-server/index.js';
import { waitFor } from '../helpers/wait-for.js';
import { gate } from '../helpers/tenants.js';

const MiB = 1024 * 1024;
const BIG = (name: string, path: string): Record<string, unknown> => ({ objectName: name, secretPath: `secret/data/${path}`, secretKey: 'blob' });
const SMALL = [{ objectName: 'small', secretPath: 'secret/data/small', secretKey: 'v' }];

describe('e2e: admission control (memory budgets, mounts in flight)', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'big-a', { blob: 'a'.repeat(3 * MiB) });
    h.vault.putKv('secret', 'big-b', { blob: 'b'.repeat(3 * MiB) });
    h.vault.putKv('secret', 'slow', { blob: 'slow' });
    h.vault.putKv('secret', 'small', { v: 'small-value' });
  });

  after(async () => h.close());

  afterEach(async () => {
    h.vault.clearFaults();
    await h.stopProvider();
  });

  async function results(mounts: ReadonlyArray<Promise<unknown>>): Promise<Array<'ok' | ServiceError>> {
    return Promise.all(mounts.map((m) => m.then(() => 'ok' as const, (err: unknown) => err as ServiceError)));
  }

  it("fails a mount over its own budget with MOUNT_TOO_LARGE naming the object and the budget, and nothing else", async () => {
    await h.startProvider({ memoryBudgetBytes: 24 * MiB, mountResponseBudgetBytes: 2 * MiB });
    const [big, small] = await results([h.client.mount(h.request({ objects: [BIG('a.bin', 'big-a')] })), h.client.mount(h.request({ objects: SMALL }))]);
    assert.notEqual(big, 'ok');
    const err = big as ServiceError;
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /^MOUNT_TOO_LARGE: object "a\.bin" \(Vault path secret\/data\/big-a\): the mount's Vault responses would pass 2\.0 MiB, its budget \(--mount-response-budget: the driver's 4 MiB receive limit for files and 4 MiB for template inputs\)$/);
    assert.equal(small, 'ok');
    assert.equal(h.provider.admission.bytesInFlight, 0);
  });

  it('counts what templates read through inputOnly objects against the mount', async () => {
    await h.startProvider({ memoryBudgetBytes: 24 * MiB, mountResponseBudgetBytes: 2 * MiB });
    const objects = [
      { ...BIG('input', 'big-a'), inputOnly: true },
      { objectName: 'rendered', template: 'head {{ @input }}' },
    ];
    const err = await h.client.mountError(h.request({ objects }));
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /^MOUNT_TOO_LARGE: object "input" \(Vault path secret\/data\/big-a\): the mount's Vault responses would pass 2\.0 MiB/);
  });

  it('fails the mount that would pass the node budget with NODE_BUDGET_EXCEEDED while the mount holding it succeeds', async () => {
    await h.startProvider({ memoryBudgetBytes: 12 * MiB, mountResponseBudgetBytes: 8 * MiB });
    // The first mount holds its 3 MiB secret while it waits for a slow one, held at Vault until the test lets it go.
    const slow = gate();
    h.vault.injectFault({ pathPrefix: 'secret/data/slow', until: slow.promise, times: 1 });
    const holding = h.client.mount(h.request({ objects: [BIG('a.bin', 'big-a'), { objectName: 'slow', secretPath: 'secret/data/slow', secretKey: 'blob' }] }));
    await waitFor(() => h.provider.admission.bytesInFlight >= 3 * MiB, 'the first mount holding 3 MiB');
    const other = { name: 'web-other', namespace: 'prod', uid: 'uid-other', serviceAccountName: 'web' };
    const err = await h.client.mountError(h.request({ pod: other, objects: [BIG('b.bin', 'big-b')] }));
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /^NODE_BUDGET_EXCEEDED: object "b\.bin" \(Vault path secret\/data\/big-b\): the mounts in flight on this node hold [\d.]+ MiB \(this one [\d.]+ (?:B|KiB|MiB)\), and [\d.]+ (?:B|KiB|MiB) more would pass the provider's memory budget of 12\.0 MiB \(--memory-budget\); the driver retries the mount$/);
    slow.open();
    const held = await holding;
    assert.equal(Buffer.from(held.files.find((f) => f.path === 'a.bin')!.contents).length, 3 * MiB);
    // Right after: the refused mount succeeds, and every byte has been given back.
    const again = await h.client.mount(h.request({ pod: other, objects: [BIG('b.bin', 'big-b')] }));
    assert.equal(again.files[0]!.contents.length, 3 * MiB);
    await waitFor(() => h.provider.admission.bytesInFlight === 0, 'every byte returned');
    const metrics = await h.provider.metrics.registry.metrics();
    assert.equal(samples(metrics, 'vault_csi_provider_mounts_total').get('{result="NODE_BUDGET_EXCEEDED",grpc_code="RESOURCE_EXHAUSTED"}'), 1);
    assert.equal(samples(metrics, 'vault_csi_provider_memory_in_flight_bytes').get(''), 0);
  });

  it('with --max-mounts-queued=0, refuses the mount past --max-mounts-in-flight at once, naming the class and the pod, and serves it once there is room', async () => {
    await h.startProvider({ maxMountsInFlight: 1, maxMountsQueued: 0 });
    const slow = gate();
    h.vault.injectFault({ pathPrefix: 'secret/data/slow', until: slow.promise, times: 1 });
    const first = h.client.mount(h.request({ objects: [{ objectName: 'slow', secretPath: 'secret/data/slow', secretKey: 'blob' }] }));
    await waitFor(() => h.provider.admission.mountsInFlight === 1, 'the first mount in flight');
    const started = Date.now();
    const err = await h.client.mountError(h.request({ objects: SMALL }));
    assert.ok(Date.now() - started < 300, 'failed fast, without waiting for room');
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /^NODE_BUDGET_EXCEEDED: mount of SecretProviderClass "web-secrets" for pod prod\/web-7d9c8b6f5-x2x4k refused: 1 mounts are in progress on this node, the provider's bound \(--max-mounts-in-flight=1\)/);
    slow.open();
    await first;
    const ok = await h.client.mount(h.request({ objects: SMALL }));
    assert.equal(Buffer.from(ok.files[0]!.contents).toString(), 'small-value');
  });
});

describe('e2e: the daemon given a response that would parse into far more than its size (image NODE_OPTIONS)', function () {
  this.timeout(60_000);
  let dir: string;
  let vault: TestVault;
  let daemon: DaemonProcess;

  after(async () => {
    daemon?.kill('SIGKILL');
    await vault?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('refuses it while it arrives instead of aborting in JSON.parse, and keeps serving', async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-parse-'));
    const issuer = new ServiceAccountJwtIssuer();
    vault = await startTestVault();
    vault.enableKv('secret', 2);
    vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] });
    preparePressureVault(vault, { secrets: 0, valueBytes: 0 });
    // 6 MiB of JSON, inside every size limit, that V8 would turn into some 130 MiB of objects: past the image's
    // 64 MiB old space, which aborts the process in the middle of JSON.parse.
    vault.putKv('secret', 'pressure/objects', { list: new Array<Record<string, never>>(2_000_000).fill({}) });
    // --vault-response-max-values would refuse it first (4 million values); raised so that the node budget's
    // estimate of the parsed form is what is tested here.
    let socket: string;
    ({ daemon, socket } = await startImageDaemon(dir, vault.address, ['--vault-response-max-values=100000000']));
    const client = new DriverClient(socket);
    try {
      const objects = [{ objectName: 'list.json', secretPath: 'secret/data/pressure/objects', secretKey: 'list' }];
      const err = await client.mountError(pressureRequest(issuer, 1, objects, dir));
      assert.equal(err.code, status.RESOURCE_EXHAUSTED, err.details);
      assert.match(err.details, /^NODE_BUDGET_EXCEEDED: object "list\.json" \(Vault path secret\/data\/pressure\/objects\): /);
      assert.ok(daemon.running, 'the daemon is still running');
      const normal = await client.mount(pressureRequest(issuer, 2, SMALL_OBJECTS, dir));
      assert.equal(Buffer.from(normal.files[0]!.contents).toString(), 'pressure-small-password');
    } finally {
      client.close();
    }
  });
});
