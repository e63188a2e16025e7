/**
 * Fair sharing between namespaces over the real socket (issue 19, classes 8, 9 and 12): one namespace's 429s and
 * slow paths leave another namespace's mount untouched, and a node restart's volumes wait their turn instead of
 * being refused (a node restart's 330 volumes at the default bound: tenant-fairness.slow.ts). Counts and order only: the gate runs on a clock that stands still, the slow paths are held by the
 * fake Vault until the test lets them go, and nothing here asserts how long anything took.
 */
import assert from 'node:assert/strict';
import { startHarness, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import { ManualClock } from '../helpers/clocks.js';
import { samples } from '../helpers/prometheus.js';
import { gate, tenantPod } from '../helpers/tenants.js';
import { waitFor } from '../helpers/wait-for.js';
import { DEFAULT_GATE_LIMITS } from '../../src/vault/rate-limit.js';


describe('e2e: tenant isolation between namespaces (issue 19: classes 8, 9, 12)', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({ requestLogLimit: 5_000 });
    // One role for every namespace of these tests: the tenant is the namespace, whatever the role.
    h.vault.addKubernetesRole('kubernetes', 'tenant', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['*'], audience: 'vault', policies: ['web'], ttlSeconds: 3600 });
    h.vault.putKv('secret', 'throttled', { v: 'eventually' });
    h.vault.putKv('secret', 'victim', { v: 'victim-value' });
    for (let i = 0; i < 32; i++) h.vault.putKv('secret', `slow/${i}`, { v: `slow-${i}` });
    for (let i = 0; i < 3; i++) h.vault.putKv('secret', `restart/${i}`, { v: `value-${i}` });
  });

  after(() => h.close());

  afterEach(async () => {
    h.vault.clearFaults();
    await h.stopProvider();
  });

  const request = (pod: PodIdentity, objects: ReadonlyArray<Record<string, unknown>>, i = 0): ReturnType<Harness['request']> =>
    h.request({ pod, objects, params: { roleName: 'tenant' }, targetPath: `${h.dir}/${pod.namespace}-${pod.name}-${i}` });

  const gateOf = (): NonNullable<ReturnType<Harness['provider']['gates']['peek']>> => {
    const g = h.provider.gates.peek(h.vault.address);
    assert.ok(g !== undefined, 'the gate of the fake Vault');
    return g;
  };

  it("class 8: one namespace's path answers 429 without Retry-After; another namespace's mount succeeds while that pause holds", async () => {
    const clock = new ManualClock();
    await h.startProvider({}, { gateClock: clock });
    const quota = h.vault.injectFault({ pathPrefix: 'secret/data/throttled', status: 429 });
    const attacker = h.client.mount(request(tenantPod('team-a', 0), [{ objectName: 'x', secretPath: 'secret/data/throttled', secretKey: 'v' }]));
    await waitFor(() => quota.hits === 1, "the attacker's read answered 429");

    // The gate's clock has not moved: the attacker's tenant is still paused. (Before the fix the whole address was.)
    const victim = await h.client.mount(request(tenantPod('team-b', 0), [{ objectName: 'v', secretPath: 'secret/data/victim', secretKey: 'v' }]), 10_000);
    assert.equal(Buffer.from(victim.files[0]!.contents).toString(), 'victim-value');
    assert.equal(quota.hits, 1, 'the throttled read was not sent again: its pause had not passed');
    const g = gateOf();
    const rate = DEFAULT_GATE_LIMITS.ratePerSecond;
    assert.deepEqual([g.tenant('team-a').pausedUntil, g.tenant('team-a').rate], [1_000, rate / 2], "the attacker's rate halves");
    assert.deepEqual([g.tenant('team-b').pausedUntil, g.tenant('team-b').rate, g.rate], [0, rate, rate], "the victim's and the node's do not");
    assert.equal(clock.sleeps.length, 1, 'one wait asked for: the throttled tenant\'s');

    // Its quota lifts and its pause passes: the attacker's own mount completes too.
    quota.remove();
    clock.advance(1_000);
    const res = await attacker;
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'eventually');
    const metrics = await h.provider.metrics.render();
    assert.equal(samples(metrics, 'vault_csi_provider_vault_throttled_total').get(''), 1);
    assert.equal(samples(metrics, 'vault_csi_provider_mounts_total').get('{result="VAULT_UNAVAILABLE",grpc_code="UNAVAILABLE"}'), undefined);
  });

  it("class 9: two mounts of 16 slow reads in one namespace; another namespace's mount completes while they are in flight", async () => {
    await h.startProvider();
    const slow = gate();
    const fault = h.vault.injectFault({ pathPrefix: 'secret/data/slow/', until: slow.promise });
    const objects = (from: number): Array<Record<string, unknown>> =>
      Array.from({ length: 16 }, (_, i) => ({ objectName: `s${from + i}`, secretPath: `secret/data/slow/${from + i}`, secretKey: 'v' }));
    const slowMounts = [0, 16].map((from, i) => h.client.mount(request(tenantPod('team-slow', i), objects(from), i)));
    // Every slow read is either at Vault or waiting at the gate (all 32 at Vault before the fix).
    await waitFor(() => fault.hits + (h.provider.gates.peek(h.vault.address)?.queued ?? 0) === 32, 'the 32 slow reads sent or queued');

    const victim = await h.client.mount(request(tenantPod('team-b', 1), [{ objectName: 'v', secretPath: 'secret/data/victim', secretKey: 'v' }]), 10_000);
    assert.equal(Buffer.from(victim.files[0]!.contents).toString(), 'victim-value');
    // Counted when the victim had its answer: no slow read had been answered, 16 were at Vault (the tenant's share
    // of the 32 slots), 16 waited at the gate.
    assert.equal(h.vault.countRequests({ routePrefix: 'secret/data/slow/' }), 0);
    assert.equal(fault.hits, 16);
    assert.deepEqual([gateOf().tenant('team-slow').inFlight, gateOf().tenant('team-slow').queued], [16, 16]);
    assert.ok(h.vault.countRequests({ routePrefix: 'secret/data/victim', status: 200 }) >= 1);

    slow.open();
    for (const res of await Promise.all(slowMounts)) assert.equal(res.files.length, 16);
    assert.equal(h.vault.countRequests({ routePrefix: 'secret/data/slow/', status: 200 }), 32);
  });

  it("class 12: a mount that cannot get a place within half its time budget is refused, naming the pod and the bound, and the queue goes on", async () => {
    await h.startProvider({ maxMountsInFlight: 1 });
    const held = gate();
    h.vault.injectFault({ pathPrefix: 'secret/data/restart/0', until: held.promise });
    const first = h.client.mount(request(tenantPod('team-0', 0), [{ objectName: 'v', secretPath: 'secret/data/restart/0', secretKey: 'v' }]));
    await waitFor(() => h.provider.admission.mountsInFlight === 1, 'the first mount holding the only place');
    // The caller gives 2 s: the mount may wait 0.9 s (half of its budget, 2 s less a tenth), then it is refused.
    const late = await h.client.mountError(request(tenantPod('team-1', 1), [{ objectName: 'v', secretPath: 'secret/data/restart/1', secretKey: 'v' }]), 2_000);
    assert.match(late.details, /^NODE_BUDGET_EXCEEDED: mount of SecretProviderClass "web-secrets" for pod team-1\/app-1 refused: it waited \d+\.\d s for a place, as long as its time budget lets it wait: 1 mounts are in progress on this node, the provider's bound \(--max-mounts-in-flight=1\); the driver retries the mount$/);
    // Another mount waiting meanwhile gets the place once it frees.
    const next = h.client.mount(request(tenantPod('team-2', 2), [{ objectName: 'v', secretPath: 'secret/data/restart/2', secretKey: 'v' }]));
    await waitFor(() => h.provider.admission.mountsQueued === 1, 'the next mount waiting');
    held.open();
    await first;
    assert.equal(Buffer.from((await next).files[0]!.contents).toString(), 'value-2');
    const metrics = await h.provider.metrics.render();
    assert.equal(samples(metrics, 'vault_csi_provider_mount_admission_wait_seconds_count').get('{result="refused"}'), 1);
  });
});
