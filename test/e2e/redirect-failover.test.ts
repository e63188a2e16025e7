/**
 * Redirects from a standby (issue 10 item 4) and several Vault addresses (issue 14 item 3, vault-csi-provider#164),
 * end to end over the socket. Standbys and failed nodes are small servers of test/helpers/standby-vault.ts that
 * count what reached them and whether it carried a credential; the active node is the fake Vault. Retries and the
 * gates' waits are recorded, not slept; the address-health memory runs on the provider's injected clock.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { StandbyVault } from '../helpers/standby-vault.js';
import { RecordingGateClock } from '../helpers/clocks.js';
import { ADDRESS_FAILURE_MEMORY_MS } from '../../src/vault/client.js';
import type { ProviderSettings } from '../../src/cli/flags.js';

const SECRET = 'redirected-secret-61c2';
const READ = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];
const ISSUE = [{ objectName: 'tls.crt', secretPath: 'pki/issue/web', secretKey: 'certificate', method: 'PUT', secretArgs: { common_name: 'a.prod.svc' } }];

describe('e2e: redirects and several Vault addresses', function () {
  this.timeout(30_000);
  let h: Harness;
  let offsetMs = 0;
  const nodes: StandbyVault[] = [];

  async function node(behaviour: Parameters<typeof StandbyVault.start>[0]): Promise<StandbyVault> {
    const n = await StandbyVault.start(behaviour);
    nodes.push(n);
    return n;
  }

  /** A provider whose default address is `vaultAddress` and which may also use `allowed`. */
  async function provider(vaultAddress: string, allowed: string[]): Promise<void> {
    if (h.provider !== undefined) await h.stopProvider();
    const settings: Partial<ProviderSettings> = {
      defaults: { vaultAddress, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: {} },
      trust: { vaultAddresses: allowed, tlsDirectories: [], allowSkipTlsVerify: false },
    };
    await h.startProvider(settings, { vaultClient: { sleep: () => Promise.resolve() }, gateClock: new RecordingGateClock(), now: () => Date.now() + offsetMs });
    h.vault.clearRequests();
  }

  async function failoverCount(): Promise<number> {
    const m = /^vault_csi_provider_vault_failovers_total (\d+)$/m.exec(await h.provider.metrics.render());
    return Number(m?.[1] ?? NaN);
  }

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: SECRET });
  });

  afterEach(async () => {
    offsetMs = 0;
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });

  after(() => h.close());

  describe('a standby that redirects (307)', () => {
    it('is followed once to the active node: the login body, the read and a PUT with its body are sent again there', async () => {
      const standby = await node({ redirectTo: h.vault.address });
      await provider(standby.address, [h.vault.address]);
      const res = await h.client.mount(h.request({ objects: [...READ, ...ISSUE] }));
      assert.equal(Buffer.from(res.files.find((f) => f.path === 'p')!.contents).toString(), SECRET);
      assert.deepEqual(standby.requests.map((r) => r.method).sort(), ['GET', 'POST', 'PUT']);
      assert.equal(h.vault.countRequests({ kind: 'login', status: 200 }), 1);
      assert.equal(h.vault.countRequests({ kind: 'read', status: 200 }), 1);
      // The active node issued the certificate: the PUT arrived with its secretArgs.
      assert.equal(h.vault.countRequests({ kind: 'issue', status: 200 }), 1);
    });

    it('is refused to an address the trust policy does not allow, naming both; the JWT never gets there', async () => {
      const elsewhere = await node({ status: 200 });
      const standby = await node({ redirectTo: elsewhere.address });
      await provider(standby.address, []);
      const err = await h.client.mountError(h.request({ objects: READ }));
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.match(err.details, /^VAULT_REDIRECT_REFUSED: /);
      assert.ok(err.details.includes(standby.address) && err.details.includes(elsewhere.address), err.details);
      assert.match(err.details, /--allowed-vault-addresses/);
      assert.equal(elsewhere.requests.length, 0);
      assert.equal(standby.requests.length, 1, 'a refused redirect is not retried');
    });

    it('is followed only once: a second redirect fails the mount and the third node sees nothing', async () => {
      const second = await node({ redirectTo: h.vault.address });
      const first = await node({ redirectTo: second.address });
      await provider(first.address, [second.address, h.vault.address]);
      const err = await h.client.mountError(h.request({ objects: READ }));
      assert.match(err.details, /^VAULT_REDIRECT_REFUSED: .*only one is followed/);
      assert.ok(err.details.includes(second.address) && err.details.includes(h.vault.address), err.details);
      assert.equal(second.credentialsSeen, 1);
      assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
    });
  });

  describe('several addresses', () => {
    it('moves on from a sealed node, then starts with the healthy one until the failure is forgotten', async () => {
      const sealed = await node({ status: 503 });
      await provider(h.vault.address, [sealed.address]);
      const params = { vaultAddress: `${sealed.address},${h.vault.address}` };
      await h.client.mount(h.request({ objects: READ, params }));
      assert.equal(sealed.requests.length, 1);
      await h.client.mount(h.request({ objects: READ, params }));
      assert.equal(sealed.requests.length, 1, 'the sealed node is remembered');
      assert.equal(await failoverCount(), 1);
      offsetMs = ADDRESS_FAILURE_MEMORY_MS;
      await h.client.mount(h.request({ objects: READ, params }));
      assert.equal(sealed.requests.length, 2, 'tried again once the memory passed');
      assert.equal(h.vault.countRequests({ kind: 'read', status: 200 }), 3);
    });

    it('moves on from a node that is down, a standby answering 473 and one redirecting where it may not', async () => {
      const down = await node({ status: 200 });
      const downAddress = down.address;
      await down.close();
      nodes.splice(nodes.indexOf(down), 1);
      const perfStandby = await node({ status: 473 });
      const elsewhere = await node({ status: 200 });
      const redirector = await node({ redirectTo: elsewhere.address });
      const list = [downAddress, perfStandby.address, redirector.address, h.vault.address];
      await provider(list.join(','), []);
      const res = await h.client.mount(h.request({ objects: READ }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), SECRET);
      assert.equal(perfStandby.requests.length, 1);
      assert.equal(redirector.requests.length, 1);
      assert.equal(elsewhere.requests.length, 0);
      assert.equal(await failoverCount(), 3);
      // The read after the login starts with the node that answered.
      assert.equal(perfStandby.requests.length + redirector.requests.length, 2);
    });

    it('refuses a list naming an address outside the policy before any request is sent', async () => {
      const elsewhere = await node({ status: 200 });
      await provider(h.vault.address, []);
      const err = await h.client.mountError(h.request({ objects: READ, params: { vaultAddress: `${h.vault.address},${elsewhere.address}` } }));
      assert.equal(err.code, status.PERMISSION_DENIED);
      assert.match(err.details, /^PARAMETER_NOT_ALLOWED: vaultAddress/);
      assert.ok(err.details.includes(elsewhere.address));
      assert.equal(elsewhere.requests.length, 0);
      assert.equal(h.vault.countRequests(), 0);
    });

    it('does not send a PKI issue to the next node after a 500 that may have minted a certificate', async () => {
      const failing = await node({ status: 500 });
      const params = { vaultAddress: `${failing.address},${h.vault.address}` };
      await provider(h.vault.address, [failing.address]);
      // The login moves on (a login may go again); the token stays cached for the issue below.
      await h.client.mount(h.request({ objects: READ, params }));
      assert.equal(failing.credentialsSeen, 1);
      offsetMs = ADDRESS_FAILURE_MEMORY_MS; // the failing node is first again
      const err = await h.client.mountError(h.request({ objects: ISSUE, params }));
      assert.equal(err.code, status.UNAVAILABLE);
      assert.ok(err.details.includes(failing.address), err.details);
      assert.deepEqual(failing.requests.map((r) => r.method), ['POST', 'PUT']);
      assert.equal(h.vault.countRequests({ kind: 'issue' }), 0);
    });
  });
});
