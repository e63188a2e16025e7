/**
 * The short soak (the long one is `npm run soak`): 240 mounts of 12 pods at concurrency 16 while every 20th Vault
 * request — 5% — answers 503. Asserts counts only: no mount fails, every file matches Vault, each ServiceAccount logs
 * in once, each mount gets its two distinct reads (sent, or joined while the same ServiceAccount's identical read was
 * in flight — single-flight), each 503 costs exactly one more request, the provider ends
 * with nothing in flight, and neither its logs nor its metrics hold a secret, token or JWT.
 */
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { prepareSoakVault, runSoak, SOAK_DISTINCT_REQUESTS, SOAK_VALUES } from '../helpers/soak.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import { samples } from '../helpers/prometheus.js';

const MOUNTS = 240;
const PODS = 12;

describe('e2e: soak (short)', function () {
  this.timeout(60_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    prepareSoakVault(h.vault);
    await h.startProvider();
  });

  after(async () => h.close());

  it('240 mounts at concurrency 16 with 5% injected 503s: none fails, and Vault sees exactly the expected requests', async () => {
    h.vault.clearRequests();
    const fault = h.vault.injectFault({ status: 503, everyNth: 20 });
    const result = await runSoak({ client: h.client, issuer: h.issuer, mounts: MOUNTS, concurrency: 16, pods: PODS, targetDir: '/var/lib/kubelet/pods' });
    fault.remove();

    assert.deepEqual(result.failures, []);
    assert.equal(result.ok, MOUNTS);
    assert.equal(result.wrongContent, 0);
    // 5% of what Vault received was a 503, and every one of them was retried to success.
    const total = h.vault.requests.length;
    assert.equal(fault.hits, Math.floor(total / 20));
    assert.ok(fault.hits >= 20, `only ${fault.hits} faults injected`);
    assert.equal(h.vault.countRequests({ status: 503 }), fault.hits);
    assert.equal(h.vault.countRequests({ kind: 'login', status: 200 }), PODS);
    // A pod's republish can overlap its previous one while that one backs off from a 503: the second joins the read
    // in flight instead of sending its own (single-flight), and the metrics count each join.
    const metrics = await h.provider.metrics.registry.metrics();
    const joined = samples(metrics, 'vault_csi_provider_cache_events_total').get('{cache="single_flight",event="hit"}') ?? 0;
    const reads = h.vault.countRequests({ kind: 'read', status: 200 });
    assert.equal(reads + joined, MOUNTS * SOAK_DISTINCT_REQUESTS);
    assert.equal(total, PODS + reads + fault.hits);
    assert.equal(samples(metrics, 'vault_csi_provider_mounts_total').get('{result="ok",grpc_code="OK"}'), MOUNTS);
    assert.equal(h.provider.inflight(), 0);
    assert.equal(h.provider.auth.cachedTokens, PODS);
  });

  it('leaves no secret, token or JWT in its logs or metrics', async () => {
    const secrets = Object.values(SOAK_VALUES);
    assert.ok(assertNoLeaks('log line', h.logs, secrets) >= MOUNTS);
    const address = h.provider.healthAddress!;
    const metrics = await (await fetch(`http://127.0.0.1:${address.port}/metrics`)).text();
    assert.match(metrics, /\S/);
    assertNoLeaks('metrics', metrics.split('\n'), secrets);
  });
});
