/**
 * Several Vault addresses (issue 14 item 3, vault-csi-provider#164) against two real Vault dev servers given to the
 * provider as one `--vault-addr` list. Two dev servers are two clusters, so both are configured alike (World's
 * configureVault on each, the same secret on each); a token of one is not valid on the other, which the provider
 * meets as a dead token (403 confirmed by lookup-self) and answers with one login on the node that serves. The first
 * server is stopped in the middle of a run of mounts: every mount succeeds, through the second.
 */
import assert from 'node:assert/strict';
import { World, WEB_POD, type Pod } from '../harness/world.js';

const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];
const MOUNTS_BEFORE = 4;
const MOUNTS_AFTER = 8;

/** Reads of the secret that reached a server (its audit log also holds the seeding write). */
async function reads(w: World, auditFile?: string): Promise<number> {
  return (await w.vaultRequests('secret/data/app', auditFile)).filter((r) => r.operation === 'read').length;
}

describe('real Vault: two addresses, one stopped mid-run', function () {
  let w: World;

  before(async () => {
    w = await World.start({ secondVault: true, providerVaultAddress: (first, second) => `${first.address},${second!.address}` });
    for (const v of [w.vault, w.second!]) await v.must('POST', 'secret/data/app', { data: { password: 'same-on-both' } });
    await w.mark();
  });

  after(async () => {
    await w?.close();
  });

  it('mounts through the first address while it serves, then through the second once it is stopped', async () => {
    const pods: Pod[] = Array.from({ length: 3 }, (_, i) => ({ ...WEB_POD, name: `${WEB_POD.name}-${i}`, uid: `${WEB_POD.uid.slice(0, -1)}${i}` }));
    const outcomes: string[] = [];
    const mountAll = async (): Promise<void> => {
      // Three pods at once, as a node's volumes republish.
      const results = await Promise.all(pods.map((pod) => w.mount({ objects: OBJECTS, pod, timeoutMs: 60_000 })));
      for (const r of results) outcomes.push(r.error === '' ? r.files.get('p')?.text ?? 'no file' : `${r.error}: ${r.grpcMessage}`);
    };
    for (let i = 0; i < MOUNTS_BEFORE; i++) await mountAll();
    const firstServed = await reads(w);
    assert.equal(firstServed, MOUNTS_BEFORE * pods.length, 'the first address serves while it is healthy');
    assert.equal(await reads(w, w.secondAuditFile), 0, 'the second is not asked meanwhile');

    // Stopped while a round of mounts is under way.
    const stopping = w.vault.stop();
    await mountAll();
    await stopping;
    for (let i = 1; i < MOUNTS_AFTER; i++) await mountAll();

    assert.deepEqual(outcomes, Array(outcomes.length).fill('same-on-both'));
    const secondReads = await reads(w, w.secondAuditFile);
    assert.ok(secondReads >= (MOUNTS_AFTER - 1) * pods.length, `the second address served ${secondReads} reads`);
    // The first node's token is no good on the other cluster: one new login there, shared by the pods' mounts (or
    // one per pod), never one per mount.
    const secondLogins = (await w.vaultRequests('auth/kubernetes/login', w.secondAuditFile)).length;
    if (process.env.FAILOVER_FIGURES) console.log({ firstServed, secondReads, secondLogins, mounts: outcomes.length });
    assert.ok(secondLogins >= 1 && secondLogins <= pods.length, `${secondLogins} logins at the second address`);
  });
});
