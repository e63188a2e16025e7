/**
 * A node restart's 330 volumes at once against the default --max-mounts-in-flight (issue 19, class 12): all succeed
 * on the first try, 74 of them after waiting for a place. A load test (330 logins and mounts; `npm run test:slow`);
 * the queue's behaviour at a bound of one is test/e2e/tenant-fairness.test.ts. Counts only.
 */
import assert from 'node:assert/strict';
import type { ServiceError } from '@grpc/grpc-js';
import { startHarness, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import { samples } from '../helpers/prometheus.js';
import { gate, tenantPod } from '../helpers/tenants.js';
import { waitFor } from '../helpers/wait-for.js';

describe('e2e: tenant isolation between namespaces (issue 19: class 12) at a node restart', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({ requestLogLimit: 5_000 });
    h.vault.addKubernetesRole('kubernetes', 'tenant', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['*'], audience: 'vault', policies: ['web'], ttlSeconds: 3600 });
    for (let i = 0; i < 330; i++) h.vault.putKv('secret', `restart/${i}`, { v: `value-${i}` });
  });

  after(() => h.close());

  const request = (pod: PodIdentity, objects: ReadonlyArray<Record<string, unknown>>, i = 0): ReturnType<Harness['request']> =>
    h.request({ pod, objects, params: { roleName: 'tenant' }, targetPath: `${h.dir}/${pod.namespace}-${pod.name}-${i}` });

  it('class 12: 330 volumes mounting at once (a node restart) all succeed on the first try, with no refusal', async () => {
    await h.startProvider();
    const VOLUMES = 330;
    // The reads wait until every mount has reached the provider, so that the burst is really at once.
    const arrived = gate();
    h.vault.injectFault({ pathPrefix: 'secret/data/restart/', until: arrived.promise });
    let settled = 0;
    const mounts = Array.from({ length: VOLUMES }, (_, i) =>
      h.client
        .mount(request(tenantPod(`team-${i % 10}`, i), [{ objectName: 'v', secretPath: `secret/data/restart/${i}`, secretKey: 'v' }], i), 110_000)
        .finally(() => settled++),
    );
    await waitFor(() => h.provider.inflight() + settled === VOLUMES, 'every mount reached the provider');
    arrived.open();
    const results = await Promise.allSettled(mounts);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(refused.length, 0, `refused: ${refused.slice(0, 3).map((r) => (r.reason as ServiceError).details).join('; ')}`);
    results.forEach((r, i) => assert.equal(Buffer.from((r as PromiseFulfilledResult<Awaited<(typeof mounts)[number]>>).value.files[0]!.contents).toString(), `value-${i}`));
    // 256 ran at once, the other 74 waited for a place.
    assert.equal(h.provider.admission.peakMountsQueued, VOLUMES - 256);
    const metrics = await h.provider.metrics.render();
    assert.equal(samples(metrics, 'vault_csi_provider_mounts_total').get('{result="ok",grpc_code="OK"}'), VOLUMES);
    assert.equal(samples(metrics, 'vault_csi_provider_mount_admission_wait_seconds_count').get('{result="admitted"}'), VOLUMES);
    assert.equal(samples(metrics, 'vault_csi_provider_mounts_queued').get(''), 0);
  });

});
