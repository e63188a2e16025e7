/**
 * A node restart (issue 14 item 6, secrets-store-csi-driver#1483): a few hundred volumes of many namespaces mount at
 * once, over the real socket, against a Vault that rate-limits (the fake's overRate fault: 429 with Retry-After past
 * its rate, as Vault's rate-limit quotas answer). With the provider's default limits, every mount succeeds once the
 * limit allows, Vault never has more requests in flight than the provider's bound (counted in the fake), and every
 * 429 shows in the metrics. Counts only: how long the burst takes is the gate's business, not this test's. Whether
 * a loaded machine outruns the rate is not either: every 50th request within the rate answers 429 too, so there are
 * 429s to count however fast the burst goes.
 */
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { DEFAULT_GATE_LIMITS, type GateLimits } from '../../src/vault/rate-limit.js';

const VOLUMES = 250;

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return Number(m?.[1] ?? NaN);
}

describe('e2e: a node restart against a Vault that rate-limits', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({ requestLogLimit: 10 * VOLUMES });
    h.vault.addKubernetesRole('kubernetes', 'tenant', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['team-*'], audience: 'vault', policies: ['web'], ttlSeconds: 3600 });
    // A secret per volume, so no two mounts share a read.
    for (let i = 0; i < VOLUMES; i++) h.vault.putKv('secret', `app-${i}`, { password: `pw-${i}` });
  });

  after(() => h.close());

  async function burst(limits: GateLimits): Promise<void> {
    await h.startProvider({ vaultLimits: limits });
    try {
      h.vault.injectFault({ status: 429, headers: { 'Retry-After': '1' }, overRate: { perSecond: 300, burst: 30 } });
      h.vault.injectFault({ status: 429, headers: { 'Retry-After': '1' }, everyNth: 50 });
      // Every request takes a little while, so requests pile up at Vault if nothing bounds them.
      h.vault.injectFault({ delayMs: 5 });
      h.vault.clearRequests();
      h.vault.resetPeakInFlight();
      const results = await Promise.allSettled(
        Array.from({ length: VOLUMES }, (_, i) =>
          h.client.mount(
            h.request({
              // A node's pods come from many namespaces: each is a tenant at the gate, with its own share of it.
              pod: { name: `web-${i}`, namespace: `team-${i % 25}`, uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, serviceAccountName: 'web' },
              objects: [{ objectName: 'p', secretPath: `secret/data/app-${i}`, secretKey: 'password' }],
              params: { roleName: 'tenant' },
              targetPath: `/tmp/burst-${i}`,
            }),
            110_000,
          ),
        ),
      );
      const failed = results.filter((r) => r.status === 'rejected');
      assert.equal(failed.length, 0, `failed: ${failed.slice(0, 3).map((r) => String((r).reason)).join('; ')}`);
      results.forEach((r, i) => assert.equal(Buffer.from((r as PromiseFulfilledResult<Awaited<ReturnType<typeof h.client.mount>>>).value.files[0]!.contents).toString(), `pw-${i}`));

      const throttled = h.vault.countRequests({ status: 429 });
      if (process.env.BURST_FIGURES) console.log({ throttled, peak: h.vault.inFlight.peak, requests: h.vault.countRequests(), logins: h.vault.countRequests({ kind: 'login' }) });
      assert.ok(throttled > 0, 'Vault answered 429s');
      assert.ok(h.vault.inFlight.peak <= limits.maxInFlight, `Vault saw ${h.vault.inFlight.peak} requests in flight at once`);
      assert.ok(h.vault.inFlight.peak > 1, 'requests did run concurrently');
      assert.equal(h.vault.countRequests({ kind: 'read', status: 200 }), VOLUMES);
      const text = await h.provider.metrics.render();
      assert.equal(metric(text, 'vault_csi_provider_vault_throttled_total'), throttled);
      assert.ok(metric(text, 'vault_csi_provider_vault_request_wait_seconds_count{cause="backoff"}') > 0, 'requests waited out the Retry-After');
    } finally {
      h.vault.clearFaults();
      await h.stopProvider();
    }
  }

  it(`mounts ${VOLUMES} volumes at once with the default limits: all succeed, Vault never sees more than the bound in flight`, () => burst(DEFAULT_GATE_LIMITS));

  it(`mounts ${VOLUMES} volumes at once with --vault-max-in-flight=8: all succeed, Vault never sees more than 8 in flight`, () =>
    burst({ ...DEFAULT_GATE_LIMITS, maxInFlight: 8 }));
});
