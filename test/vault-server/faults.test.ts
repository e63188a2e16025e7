import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestVault, type TestVault } from './index.js';
import { call } from './test-helpers.js';
import { FaultInjector } from './faults.js';
import { waitFor } from '../helpers/wait-for.js';

describe('vault-server: fault injection and seal', () => {
  let vault: TestVault;
  before(async () => {
    vault = await startTestVault();
    vault.enableKv('kv', 1);
    vault.putKv('kv', 'x', { a: 1 });
  });
  afterEach(() => {
    vault.clearFaults();
    vault.unseal();
  });
  after(() => vault.close());

  it('answers with an injected status, headers and body, a limited number of times', async () => {
    const handle = vault.injectFault({ pathPrefix: '/v1/kv/', status: 429, headers: { 'Retry-After': '2' }, times: 2 });
    const first = await call(vault, 'kv/x', { token: 'root' });
    assert.equal(first.status, 429);
    assert.equal(first.headers.get('retry-after'), '2');
    assert.deepEqual(first.json, { errors: ['rate limit quota exceeded'] });
    assert.equal((await call(vault, 'kv/x', { token: 'root' })).status, 429);
    assert.equal((await call(vault, 'kv/x', { token: 'root' })).status, 200);
    assert.equal(handle.hits, 2);
    assert.equal(vault.requests.at(-2)?.faulted, true);
    assert.equal(vault.requests.at(-1)?.faulted, false);
  });

  it("confines a fault to one tenant's path: a 429 without Retry-After there, the other paths answered (isolation classes 8, 9, 11)", async () => {
    vault.putKv('kv', 'attacker/x', { a: 1 });
    vault.putKv('kv', 'victim/x', { a: 2 });
    vault.injectFault({ pathPrefix: 'kv/attacker/', status: 429 });
    const limited = await call(vault, 'kv/attacker/x', { token: 'root' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), null, 'a quota that gives no Retry-After');
    assert.equal((await call(vault, 'kv/victim/x', { token: 'root' })).status, 200);
    // A body of the test's choosing, verbatim (a proxy quoting the request).
    vault.clearFaults();
    vault.injectFault({ pathPrefix: 'kv/attacker/', status: 502, body: 'bad gateway: password=hunter2' });
    const echoed = await call(vault, 'kv/attacker/x', { token: 'root' });
    assert.equal(echoed.status, 502);
    assert.equal(echoed.text, 'bad gateway: password=hunter2');
  });

  it('affects only the requests beyond a rate with overRate (a token bucket on its clock)', () => {
    let now = 0;
    const faults = new FaultInjector(() => now);
    faults.add({ pathPrefix: 'kv/', status: 429, headers: { 'Retry-After': '1' }, overRate: { perSecond: 10, burst: 5 } });
    const affected = (): number => Array.from({ length: 10 }, () => faults.take('GET', 'kv/x', 'kv/x', '')).filter((f) => f !== undefined).length;
    assert.equal(affected(), 5); // the burst of 5 passes
    now += 300; // three more tokens
    assert.equal(affected(), 7);
    now += 10_000; // never more than the burst
    assert.equal(affected(), 5);
    assert.throws(() => faults.add({ status: 429, overRate: { perSecond: 0, burst: 1 } }), /overRate/);
  });

  it('counts the requests in flight and their peak', async () => {
    vault.resetPeakInFlight();
    vault.injectFault({ pathPrefix: 'kv/', delayMs: 50, times: 3 });
    await Promise.all([1, 2, 3].map(() => call(vault, 'kv/x', { token: 'root' })));
    assert.equal(vault.inFlight.current, 0);
    assert.equal(vault.inFlight.peak, 3);
  });

  it('affects only every n-th matching request with everyNth', async () => {
    const handle = vault.injectFault({ pathPrefix: 'kv/x', status: 503, everyNth: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await call(vault, 'kv/x', { token: 'root' })).status);
    assert.deepEqual(statuses, [200, 200, 503, 200, 200, 503, 200]);
    assert.equal(handle.hits, 2);
    assert.throws(() => vault.injectFault({ status: 503, everyNth: 0 }), /everyNth/);
  });

  it('matches by method and can be removed', async () => {
    const handle = vault.injectFault({ method: 'POST', pathPrefix: 'kv/', status: 500, body: { errors: ['boom'] } });
    assert.equal((await call(vault, 'kv/x', { token: 'root' })).status, 200);
    assert.deepEqual((await call(vault, 'kv/y', { token: 'root', body: { a: 1 } })).json, { errors: ['boom'] });
    handle.remove();
    assert.equal((await call(vault, 'kv/y', { token: 'root', body: { a: 1 } })).status, 204);
  });

  it('holds matching requests until the test lets them go, serving the others meanwhile', async () => {
    let letGo!: () => void;
    const handle = vault.injectFault({ pathPrefix: 'kv/x', until: new Promise<void>((resolve) => (letGo = resolve)) });
    let answered = 0;
    const held = [1, 2].map(() => call(vault, 'kv/x', { token: 'root' }).then((r) => { answered++; return r.status; }));
    while (handle.hits < 2) await new Promise((r) => setImmediate(r));
    vault.putKv('kv', 'y', { b: 2 });
    assert.equal((await call(vault, 'kv/y', { token: 'root' })).status, 200);
    assert.deepEqual([answered, vault.inFlight.current], [0, 2]);
    letGo();
    assert.deepEqual(await Promise.all(held), [200, 200]);
  });

  it('delays responses', async () => {
    vault.injectFault({ pathPrefix: 'kv/x', delayMs: 150, times: 1 });
    const start = Date.now();
    const res = await call(vault, 'kv/x', { token: 'root' });
    assert.equal(res.status, 200);
    assert.ok(Date.now() - start >= 140);
  });

  it('resets the connection', async () => {
    vault.injectFault({ pathPrefix: 'kv/x', resetConnection: true, times: 1 });
    await assert.rejects(call(vault, 'kv/x', { token: 'root' }));
    assert.equal(vault.requests.at(-1)?.status, 0);
    assert.equal((await call(vault, 'kv/x', { token: 'root' })).status, 200);
  });

  it('seals: 503 everywhere except health, which reports sealed', async () => {
    vault.seal();
    const res = await call(vault, 'kv/x', { token: 'root' });
    assert.equal(res.status, 503);
    assert.deepEqual(res.json, { errors: ['Vault is sealed'] });
    const health = await call(vault, 'sys/health');
    assert.equal(health.status, 503);
    assert.equal(health.json!['sealed'], true);
    assert.equal((await call(vault, 'sys/health?sealedcode=200')).status, 200);
    vault.unseal();
    assert.equal((await call(vault, 'kv/x', { token: 'root' })).status, 200);
  });

  it('closes promptly even with keep-alive connections and stalled requests', async () => {
    const other = await startTestVault();
    other.injectFault({ pathPrefix: 'sys/slow', delayMs: 60_000 });
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(`${other.address}/v1/sys/health`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    });
    const stalled = new Promise<void>((resolve) => {
      http.get(`${other.address}/v1/sys/slow`, { agent }, (res) => res.resume()).on('error', () => resolve());
    });
    await waitFor(() => other.inFlight.current === 1, 'the stalled request held by the server');
    const start = Date.now();
    await other.close();
    await stalled;
    agent.destroy();
    assert.ok(Date.now() - start < 1000, `close took ${Date.now() - start} ms`);
  });
});
