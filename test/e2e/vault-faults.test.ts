/**
 * Vault failing in every way the issue lists, end to end through the real provider: slow beyond the request timeout,
 * 5xx, 429 with Retry-After, connection reset, TLS handshake failure, sealed. Reads and logins are retried (with the
 * backoff recorded by an injected sleep, so no test waits for it); a PKI issue is sent again only when it never
 * reached Vault, which the test Vault's request log proves by counting what arrived. Every failure must name the
 * Vault address and path, and nothing here may leak a secret, token or JWT into logs or error messages.
 */
import assert from 'node:assert/strict';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import { createTlsMaterial, writeTlsFiles, type TlsFiles } from '../vault-server/index.js';
import { systemClock, type Clock } from '../../src/shared/clock.js';
import type { ProviderSettings } from '../../src/cli/flags.js';
import { RecordingGateClock } from '../helpers/clocks.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'faulty-vault-password-5f1e';
const READ = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];
const ISSUE = [{ objectName: 'tls.crt', secretPath: 'pki/issue/web', secretKey: 'certificate', method: 'PUT', secretArgs: { common_name: 'a.prod.svc' } }];

/** Records every backoff the client asks for; sleeps for real only when a test says so. */
class RecordingSleep {
  readonly delays: number[] = [];
  real = false;
  /** Runs before each backoff returns (e.g. to unseal Vault between attempts). */
  onSleep: (() => void) | undefined;
  readonly sleep: Clock['sleep'] = (ms, signal) => {
    this.delays.push(ms);
    this.onSleep?.();
    return systemClock.sleep(this.real ? ms : 0, signal);
  };
}


describe('e2e: Vault faults', function () {
  this.timeout(30_000);
  let h: Harness;
  let sleep: RecordingSleep;
  /** The per-address gate's waits: a 429's Retry-After is honoured there, for every mount at once. */
  let gateClock: RecordingGateClock;
  const errors: ServiceError[] = [];

  async function restart(settings: Partial<ProviderSettings> = {}): Promise<void> {
    if (h.provider !== undefined) await h.stopProvider();
    sleep = new RecordingSleep();
    gateClock = new RecordingGateClock();
    // A fresh provider per test: an empty token cache, so every test counts its own logins.
    await h.startProvider({ requestTimeoutMs: 5_000, ...settings }, { vaultClient: { sleep: sleep.sleep }, gateClock });
  }

  async function fails(objects: ReadonlyArray<Record<string, unknown>>, deadlineMs?: number): Promise<ServiceError> {
    const err = await h.client.mountError(h.request({ objects }), deadlineMs);
    errors.push(err);
    return err;
  }

  function namesAddressAndPath(err: ServiceError, path: string, address = h.vault.address): void {
    assert.ok(err.details.includes(address), `"${err.details}" names ${address}`);
    assert.ok(err.details.includes(path), `"${err.details}" names ${path}`);
  }

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: SECRET });
  });

  beforeEach(async () => {
    h.vault.clearFaults();
    h.vault.unseal();
    await restart();
    h.vault.clearRequests();
  });

  after(async () => {
    await h.close();
  });

  describe('slow beyond --vault-request-timeout', () => {
    beforeEach(() => restart({ requestTimeoutMs: 250 }));

    it('retries a read that timed out and succeeds', async () => {
      h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 5_000, times: 1 });
      const res = await h.client.mount(h.request({ objects: READ }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), SECRET);
      assert.equal(h.vault.countRequests({ kind: 'read' }), 2);
      assert.equal(sleep.delays.length, 1);
    });

    it('gives up after five attempts with UNAVAILABLE naming the address and path', async () => {
      h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 5_000 });
      const err = await fails(READ);
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.details, /^VAULT_UNAVAILABLE: .*did not answer.*within the request timeout/);
      namesAddressAndPath(err, '/v1/secret/data/app');
      assert.equal(h.vault.countRequests({ kind: 'read' }), 5);
    });

    it('retries a slow login', async () => {
      h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', delayMs: 5_000, times: 1 });
      await h.client.mount(h.request({ objects: READ }));
      assert.equal(h.vault.countRequests({ kind: 'login' }), 2);
    });

    it('never sends a PKI issue again after it timed out: Vault may have minted the certificate', async () => {
      h.vault.injectFault({ pathPrefix: 'pki/issue/web', delayMs: 5_000, times: 1 });
      const err = await fails(ISSUE);
      assert.equal(err.code, status.UNAVAILABLE);
      namesAddressAndPath(err, '/v1/pki/issue/web');
      assert.equal(h.vault.countRequests({ routePrefix: 'pki/issue/web' }), 1);
    });
  });

  describe('5xx', () => {
    it('retries a read through two 500s with growing backoff and succeeds', async () => {
      h.vault.injectFault({ pathPrefix: 'secret/data/app', status: 500, times: 2 });
      const res = await h.client.mount(h.request({ objects: READ }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), SECRET);
      assert.equal(h.vault.countRequests({ kind: 'read' }), 3);
      assert.equal(sleep.delays.length, 2);
      // Full jitter: each delay lies below its doubling ceiling (200 ms, then 400 ms by default).
      assert.ok(sleep.delays[0]! < 200 && sleep.delays[1]! < 400, `delays ${sleep.delays.join(', ')}`);
    });

    it('fails with UNAVAILABLE naming the address, path and status after the last attempt', async () => {
      h.vault.injectFault({ pathPrefix: 'secret/data/app', status: 502 });
      const err = await fails(READ);
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.details, /Vault answered 502/);
      namesAddressAndPath(err, '/v1/secret/data/app');
      assert.equal(h.vault.countRequests({ kind: 'read' }), 5);
    });

    it('does not send a PKI issue again after Vault answered 500', async () => {
      h.vault.injectFault({ pathPrefix: 'pki/issue/web', status: 500, times: 1 });
      const err = await fails(ISSUE);
      assert.equal(err.code, status.UNAVAILABLE);
      namesAddressAndPath(err, '/v1/pki/issue/web');
      assert.equal(h.vault.countRequests({ routePrefix: 'pki/issue/web' }), 1);
    });
  });

  describe('429 with Retry-After', () => {
    it('waits what Retry-After says, then succeeds', async () => {
      h.vault.injectFault({ pathPrefix: 'secret/data/app', status: 429, headers: { 'Retry-After': '2' }, times: 1 });
      await h.client.mount(h.request({ objects: READ }));
      // Waited at the address's gate (so every other mount to this Vault waits too), not as one mount's retry.
      assert.deepEqual(gateClock.sleeps, [2_000]);
      assert.deepEqual(sleep.delays, []);
      assert.equal(h.vault.countRequests({ kind: 'read' }), 2);
    });

    it('sends a PKI issue again: a rate-limited request was refused before Vault acted on it', async () => {
      h.vault.injectFault({ pathPrefix: 'pki/issue/web', status: 429, headers: { 'Retry-After': '1' }, times: 1 });
      await h.client.mount(h.request({ objects: ISSUE }));
      assert.equal(h.vault.countRequests({ routePrefix: 'pki/issue/web' }), 2);
      assert.equal(h.vault.countRequests({ kind: 'issue', status: 200 }), 1);
    });

    it('retries a rate-limited login', async () => {
      h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', status: 429, headers: { 'Retry-After': '1' }, times: 1 });
      await h.client.mount(h.request({ objects: READ }));
      assert.equal(h.vault.countRequests({ kind: 'login' }), 2);
    });
  });

  describe('connection reset', () => {
    it('retries a read and a login whose connection was reset', async () => {
      h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', resetConnection: true, times: 1 });
      h.vault.injectFault({ pathPrefix: 'secret/data/app', resetConnection: true, times: 1 });
      const res = await h.client.mount(h.request({ objects: READ }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), SECRET);
      assert.equal(h.vault.countRequests({ kind: 'login' }), 2);
      assert.equal(h.vault.countRequests({ kind: 'read' }), 2);
    });

    it('does not send a PKI issue again after a reset: it may have reached Vault', async () => {
      h.vault.injectFault({ pathPrefix: 'pki/issue/web', resetConnection: true, times: 1 });
      const err = await fails(ISSUE);
      assert.equal(err.code, status.UNAVAILABLE);
      namesAddressAndPath(err, '/v1/pki/issue/web');
      assert.equal(h.vault.countRequests({ routePrefix: 'pki/issue/web' }), 1);
    });
  });

  describe('sealed (503)', () => {
    it('fails the login with UNAVAILABLE saying Vault is sealed, naming the address and login path', async () => {
      h.vault.seal();
      const err = await fails(READ);
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.details, /503.*Vault is sealed/);
      namesAddressAndPath(err, '/v1/auth/kubernetes/login');
      assert.equal(h.vault.countRequests({ kind: 'login' }), 5);
      assert.equal(h.vault.countRequests({ kind: 'read' }), 0);
    });

    it('succeeds when Vault is unsealed between attempts', async () => {
      h.vault.seal();
      sleep.onSleep = () => h.vault.unseal();
      const res = await h.client.mount(h.request({ objects: READ }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), SECRET);
      assert.equal(h.vault.countRequests({ kind: 'login', status: 503 }), 1);
      assert.equal(h.vault.countRequests({ kind: 'login', status: 200 }), 1);
    });
  });

  describe("the caller's gRPC deadline: an answer before it, naming Vault and the object", () => {
    /** The mount's answer, and how long before the caller's deadline it came. */
    async function answeredBefore(objects: ReadonlyArray<Record<string, unknown>>, deadlineMs: number): Promise<{ err: ServiceError; earlyMs: number }> {
      const deadline = Date.now() + deadlineMs;
      const err = await fails(objects, deadlineMs);
      return { err, earlyMs: deadline - Date.now() };
    }

    function unavailableFor(err: ServiceError, object: string, path: string): void {
      // The provider's own answer, not the client's deadline expiring in silence.
      assert.equal(err.code, status.UNAVAILABLE, err.details);
      assert.match(err.details, /^VAULT_UNAVAILABLE: /);
      assert.ok(err.details.includes(`"${object}"`), `"${err.details}" names the object ${object}`);
      namesAddressAndPath(err, path);
      assert.match(err.details, /the mount's time budget of \d\.\d s \(the caller's deadline less a margin\)/);
    }

    it('stops retrying when the budget ends: UNAVAILABLE before the deadline, and no request reaches Vault after it', async () => {
      // Retry-After asks for 3 s; the driver allows the mount 1 s. The backoff is cut short a margin before that.
      sleep.real = true;
      gateClock.real = true;
      h.vault.injectFault({ pathPrefix: 'secret/data/app', status: 429, headers: { 'Retry-After': '3' } });
      const { err, earlyMs } = await answeredBefore(READ, 1_000);
      unavailableFor(err, 'p', '/v1/secret/data/app');
      assert.ok(earlyMs > 0, `answered ${-earlyMs} ms after the deadline`);
      assert.equal(h.vault.countRequests({ kind: 'read' }), 1);
      // The provider's side of the call has ended too: nothing left in flight to send another request.
      await waitFor(() => h.provider.inflight() === 0, 'no mount in flight');
      assert.equal(h.vault.countRequests({ kind: 'read' }), 1);
      assert.deepEqual(gateClock.sleeps, [3_000]);
    });

    it('cuts a hung request at the budget even when the request timeout is longer', async () => {
      await restart({ requestTimeoutMs: 30_000 });
      h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 10_000 });
      const { err, earlyMs } = await answeredBefore(READ, 800);
      unavailableFor(err, 'p', '/v1/secret/data/app');
      assert.match(err.details, /no successful answer from Vault at http:\/\/127\.0\.0\.1:\d+ to GET \/v1\/secret\/data\/app within/);
      assert.ok(earlyMs > 0, `answered ${-earlyMs} ms after the deadline`);
      // The test Vault logs a stalled request when its connection closes, i.e. once the provider has let go.
      await waitFor(() => h.provider.inflight() === 0 && h.vault.countRequests({ kind: 'read' }) > 0, 'a read sent and no mount in flight');
      assert.equal(h.vault.countRequests({ kind: 'read' }), 1);
      assert.equal(sleep.delays.length, 0);
    });

    it('fits its retries and their timeouts inside the budget: a hung Vault costs a few attempts, then UNAVAILABLE in time', async () => {
      await restart({ requestTimeoutMs: 300 });
      sleep.real = true;
      h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 10_000 });
      const { err, earlyMs } = await answeredBefore(READ, 1_500);
      unavailableFor(err, 'p', '/v1/secret/data/app');
      assert.ok(earlyMs > 0, `answered ${-earlyMs} ms after the deadline`);
      // The test Vault logs a stalled request once its connection closes: wait for the last one to close.
      await waitFor(() => h.provider.inflight() === 0 && h.vault.inFlight.current === 0, 'no mount in flight and no request held at Vault');
      // 300 ms attempts with backoff between them in a 1.35 s budget: more than one attempt, never all five.
      const attempts = h.vault.countRequests({ kind: 'read' });
      assert.ok(attempts >= 2 && attempts <= 4, `${attempts} attempts`);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(h.vault.countRequests({ kind: 'read' }), attempts, 'no attempt after the answer');
    });

    it('answers a hung login in time, naming the Vault address, the login and the objects waiting for it', async () => {
      await restart({ requestTimeoutMs: 30_000 });
      h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', delayMs: 10_000 });
      const { err, earlyMs } = await answeredBefore(READ, 800);
      assert.equal(err.code, status.UNAVAILABLE, err.details);
      assert.match(err.details, /^VAULT_UNAVAILABLE: logging in for object "p": no successful answer from Vault at http:\/\/127\.0\.0\.1:\d+ to the login \(role "web", auth mount "kubernetes"\) within the mount's time budget/);
      assert.ok(earlyMs > 0, `answered ${-earlyMs} ms after the deadline`);
    });

    it('applies a default budget under 2 minutes when the caller sets no deadline', async () => {
      // The default is 110 s (admission/time-budget.ts); the test shortens it rather than wait.
      await restart({ requestTimeoutMs: 30_000, mountTimeBudgetMs: 700 });
      h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 10_000 });
      const started = Date.now();
      const err = await fails(READ, Number.POSITIVE_INFINITY);
      assert.equal(err.code, status.UNAVAILABLE, err.details);
      assert.match(err.details, /the mount's time budget of 0\.7 s \(the default, as the caller set no deadline\)/);
      assert.ok(Date.now() - started < 5_000);
    });
  });

  describe('TLS handshake failure', () => {
    let tlsHarness: Harness;
    let proxy: TcpFaultProxy;
    let files: TlsFiles;
    let tlsSleep: RecordingSleep;

    before(async () => {
      const material = await createTlsMaterial({});
      files = await writeTlsFiles(material);
      tlsHarness = await startHarness({ tls: { key: material.serverKeyPem, cert: material.serverCertPem } });
      tlsHarness.vault.putKv('secret', 'app', { password: SECRET });
      proxy = await TcpFaultProxy.start(tlsHarness.vault.port);
    });

    beforeEach(async () => {
      proxy.failAlways(undefined);
      if (tlsHarness.provider !== undefined) await tlsHarness.stopProvider();
      tlsSleep = new RecordingSleep();
      await tlsHarness.startProvider(
        { defaults: { vaultAddress: proxy.address, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: { caCertPath: files.caFile } } },
        { vaultClient: { sleep: tlsSleep.sleep } },
      );
      tlsHarness.vault.clearRequests();
      proxy.connections = 0;
    });

    after(async () => {
      await tlsHarness.close();
      await proxy.close();
      await files.cleanup();
    });

    it('retries a login and a read whose handshakes were cut short', async () => {
      proxy.failNext('drop-handshake', 1);
      const res = await tlsHarness.client.mount(tlsHarness.request({ objects: READ }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), SECRET);
      assert.equal(tlsSleep.delays.length, 1);
      assert.equal(tlsHarness.vault.countRequests({ kind: 'login' }), 1);
    });

    it('sends a PKI issue again when its connection failed in the handshake: Vault never saw it', async () => {
      // Log in first (the token is cached), then drop the idle keep-alive connection so the issue must dial anew.
      await tlsHarness.client.mount(tlsHarness.request({ objects: READ }));
      proxy.dropConnections();
      await new Promise((r) => setTimeout(r, 50));
      tlsHarness.vault.clearRequests();
      proxy.connections = 0;
      proxy.failNext('drop-handshake', 1);
      const res = await tlsHarness.client.mount(tlsHarness.request({ objects: ISSUE }));
      assert.match(Buffer.from(res.files[0]!.contents).toString(), /BEGIN CERTIFICATE/);
      assert.equal(tlsHarness.vault.countRequests({ kind: 'login' }), 0);
      assert.equal(tlsHarness.vault.countRequests({ routePrefix: 'pki/issue/web' }), 1);
      assert.equal(proxy.connections, 2);
      assert.equal(tlsSleep.delays.length, 1);
    });

    it('does not retry a handshake that can never succeed, and names the address and path', async () => {
      proxy.failAlways('not-tls');
      const err = await tlsHarness.client.mountError(tlsHarness.request({ objects: READ }));
      errors.push(err);
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.details, /TLS failure/);
      namesAddressAndPath(err, '/v1/auth/kubernetes/login', proxy.address);
      assert.equal(proxy.connections, 1);
      assert.equal(tlsSleep.delays.length, 0);
    });

    it('never logs a secret, token or JWT', () => {
      assertNoLeaks('log line', tlsHarness.logs, [SECRET]);
    });
  });

  // Last (mocha runs a describe's own tests before its nested ones): over everything the scenarios above produced.
  describe('no leaks', () => {
    it('puts no secret value, Vault token or JWT into any log line (trace level) or error message', () => {
      assert.ok(errors.length >= 8);
      assertNoLeaks('error message', errors.map((e) => e.details), [SECRET]);
      assert.ok(assertNoLeaks('log line', h.logs, [SECRET]) > 50);
    });
  });
});
