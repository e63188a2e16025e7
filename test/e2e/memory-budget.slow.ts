/**
 * The daemon as the image runs it (dist/main.js, the Dockerfile's NODE_OPTIONS) under concurrent mounts that together
 * name hundreds of MiB: it stays up, its resident memory stays under the DaemonSet's limit, budget hits are
 * RESOURCE_EXHAUSTED and nothing else fails. A load test (`npm run test:slow`, some 20 s on two cores); the budgets
 * hit one at a time are test/e2e/memory-budget.test.ts, the heavy form with its figures `npm run memory-soak`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverClient } from '../helpers/grpc-client.js';
import { startImageDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { daemonSetMemoryLimit, preparePressureVault, pressureRequest, RssSampler, runPressure, SMALL_OBJECTS } from '../helpers/memory-pressure.js';
import { ServiceAccountJwtIssuer, startTestVault, type TestVault } from '../vault-server/index.js';

const MiB = 1024 * 1024;

describe('e2e: the daemon under mounts naming hundreds of MiB (image NODE_OPTIONS)', function () {
  this.timeout(90_000);
  // 2 rounds of 48 pods at once, each naming three 1.25 MiB secrets: 360 MiB named, far over the 200Mi limit.
  const SPEC = { secrets: 16, valueBytes: 1.25 * MiB };
  const ROUNDS = 2;
  const MOUNTS = 48;
  const PER_MOUNT = 3;
  let dir: string;
  let vault: TestVault;
  let daemon: DaemonProcess;
  let issuer: ServiceAccountJwtIssuer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-memory-'));
    issuer = new ServiceAccountJwtIssuer();
    vault = await startTestVault();
    vault.enableKv('secret', 2);
    vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] });
    preparePressureVault(vault, SPEC);
  });

  after(async () => {
    daemon?.kill('SIGKILL');
    await vault.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stays up and under the DaemonSet memory limit, answers budget hits with RESOURCE_EXHAUSTED, and serves a normal mount right after', async () => {
    // --vault-response-max-values would refuse it first (4 million values); raised so that the node budget's
    // estimate of the parsed form is what is tested here. RSS is measured: no coverage counters.
    let socket: string;
    ({ daemon, socket } = await startImageDaemon(dir, vault.address, ['--vault-response-max-values=100000000'], { coverage: false }));
    const rss = new RssSampler(daemon.child.pid!);
    rss.start();
    const client = new DriverClient(socket);
    try {
      let ok = 0;
      let exhausted = 0;
      let named = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const outcome = await runPressure({ client, issuer, mounts: MOUNTS, perMount: PER_MOUNT, spec: SPEC, targetDir: dir });
        assert.deepEqual(outcome.otherDetails, [], 'every answer is files or RESOURCE_EXHAUSTED');
        for (const details of outcome.exhaustedDetails) assert.match(details, /^NODE_BUDGET_EXCEEDED: object "big-\d" \(Vault path secret\/data\/pressure\/big-\d+\): .*memory budget of 24\.0 MiB/);
        ok += outcome.ok;
        exhausted += outcome.exhausted;
        named += outcome.namedBytes;
        // A normal mount right after the burst.
        const normal = await client.mount(pressureRequest(issuer, 10_000 + round, SMALL_OBJECTS, dir));
        assert.equal(Buffer.from(normal.files[0]!.contents).toString(), 'pressure-small-password');
      }
      await rss.sample();
      assert.ok(daemon.running, 'the daemon is still running');
      const limit = daemonSetMemoryLimit();
      assert.ok(rss.peak < limit, `peak RSS ${(rss.peak / MiB).toFixed(1)} MiB, limit ${(limit / MiB).toFixed(0)} MiB`);
      assert.ok(named >= 300 * MiB, `${named / MiB} MiB named`);
      assert.ok(ok >= 2, `${ok} mounts succeeded`);
      assert.ok(exhausted > 0, 'the budget was reached');
      assert.equal(ok + exhausted, ROUNDS * MOUNTS);
    } finally {
      rss.stop();
      client.close();
    }
  });
});
