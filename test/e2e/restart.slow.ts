/**
 * Restarts of the daemon process (dist/main.js, as the image runs it) under load, with --write-files so that a pod's
 * view can be checked on disk:
 * - SIGTERM with 100 mounts in flight: each completes, or fails with UNAVAILABLE, which the driver retries (here: on
 *   the next instance); no target is ever half-written.
 * - SIGKILL with 100 mounts in flight over an existing set: every target keeps its complete old set or has the
 *   complete new one; the next instance replaces the stale socket, serves, and repairs nothing by hand.
 * - Another instance started on the live socket takes it over; the running one finishes its mounts and leaves it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { DriverClient } from '../helpers/grpc-client.js';
import { DaemonProcess, waitForServing } from '../helpers/daemon-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { targetState } from '../helpers/target-state.js';
import { assertNoLeaks } from '../helpers/leak-check.js';

const OBJECTS = [
  { objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' },
  { objectName: 'conf/.env', secretPath: 'secret/data/app', secretKey: 'env' },
];
const NAMES = OBJECTS.map((o) => o.objectName);
const MOUNTS = 100;

describe('e2e: restarts under load', function () {
  this.timeout(60_000);
  let dir: string;
  let keyFile: string;
  let h: Harness;
  const daemons: DaemonProcess[] = [];

  function secretFor(generation: number): Record<string, string> {
    return { password: `pw-${generation}`, env: `GEN=${generation}` };
  }

  function start(socket: string): DaemonProcess {
    const d = new DaemonProcess([
      `--endpoint=${socket}`,
      '--health-addr=127.0.0.1:0',
      `--vault-addr=${h.vault.address}`,
      `--hmac-key-file=${keyFile}`,
      '--write-files',
      '--log-level=trace',
    ]);
    daemons.push(d);
    return d;
  }

  async function targets(name: string): Promise<string[]> {
    const list: string[] = [];
    for (let i = 0; i < MOUNTS; i++) {
      const t = join(dir, name, `pod-${i}`);
      await mkdir(t, { recursive: true });
      list.push(t);
    }
    return list;
  }

  /**
   * Mount into every target at once; each settles to 'ok' or its gRPC error. Target `pod-<i>` belongs to its own pod
   * and ServiceAccount, so a hundred mounts are a hundred logins and reads, not one shared request.
   */
  function mountAll(client: DriverClient, list: readonly string[]): Array<Promise<'ok' | ServiceError>> {
    return list.map((targetPath) => {
      const i = /pod-(\d+)$/.exec(targetPath)?.[1] ?? '0';
      const pod = { name: `pod-${i}`, namespace: 'prod', uid: `uid-${targetPath}`, serviceAccountName: `sa-${i}` };
      return client.mount(h.request({ objects: OBJECTS, targetPath, pod, params: { roleName: 'pods' } }), 30_000).then(
        () => 'ok' as const,
        (err: unknown) => err as ServiceError,
      );
    });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-restart-'));
    keyFile = join(dir, 'hmac.key');
    await writeFile(keyFile, 'a-test-hmac-key-of-enough-bytes\n');
    h = await startHarness();
    h.vault.addKubernetesRole('kubernetes', 'pods', { boundServiceAccountNames: ['*'], boundServiceAccountNamespaces: ['prod'], policies: ['web'], ttlSeconds: 3600 });
  });

  afterEach(() => {
    for (const d of daemons.splice(0)) d.kill('SIGKILL');
    h.vault.clearFaults();
  });

  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM with 100 mounts in flight: each completes or gets UNAVAILABLE, the retry succeeds, nothing is half-written', async () => {
    h.vault.putKv('secret', 'app', secretFor(1));
    const socket = join(dir, 'term.sock');
    const first = start(socket);
    await waitForServing(first, 'the first provider');
    const client = new DriverClient(socket);
    const list = await targets('term');
    // Every read waits, so all hundred mounts are inside the provider when the signal lands.
    const slow = h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 400 });
    const inflight = mountAll(client, list);
    await waitFor(() => slow.hits >= 1, 'the mounts to reach Vault');
    first.kill('SIGTERM');
    // Mounts the driver sends after the signal: the draining provider must turn them away, not half-serve them.
    await waitFor(() => first.out.join('').includes('"msg":"shutting down"'), 'the provider to start draining');
    const late = await targets('term-late');
    const lateResults = mountAll(client, late);
    const results = await Promise.all([...inflight, ...lateResults]);
    slow.remove();
    assert.equal(await first.exited, 0);
    client.close();

    const failed = results.flatMap((r, i) => (r === 'ok' ? [] : [{ err: r, target: [...list, ...late][i]! }]));
    for (const { err } of failed) assert.equal(err.code, status.UNAVAILABLE, `${err.code} ${err.details}`);
    assert.ok(results.filter((r) => r === 'ok').length >= 1, 'mounts in flight at SIGTERM completed');
    for (const [i, target] of [...list, ...late].entries()) {
      const state = await targetState(target, NAMES);
      if (results[i] === 'ok') assert.deepEqual(state, { kind: 'complete', generation: '1' }, target);
      else assert.deepEqual(state, { kind: 'empty' }, target);
    }

    // The driver retries UNAVAILABLE; the next instance (same socket) serves them.
    const second = start(socket);
    await waitForServing(second, 'the second provider');
    const retryClient = new DriverClient(socket);
    const retried = await Promise.all(mountAll(retryClient, failed.map((f) => f.target)));
    assert.deepEqual(retried.filter((r) => r !== 'ok'), []);
    for (const target of [...list, ...late]) assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '1' });
    retryClient.close();
    second.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    assertNoLeaks('daemon log', [...first.out, ...first.err, ...second.out, ...second.err], ['pw-1', 'GEN=1']);
  });

  it('SIGKILL with 100 mounts in flight over an old set: each target keeps a complete set; a restart replaces the stale socket and catches up; a third instance takes the live socket over', async () => {
    const socket = join(dir, 'kill.sock');
    const first = start(socket);
    await waitForServing(first, 'the first provider');
    const client = new DriverClient(socket);
    const list = await targets('kill');
    h.vault.putKv('secret', 'app', secretFor(2));
    assert.deepEqual((await Promise.all(mountAll(client, list))).filter((r) => r !== 'ok'), []);

    // A new generation; the provider dies while the hundred republishes are in flight (some answered, most not).
    h.vault.putKv('secret', 'app', secretFor(3));
    const slow = h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 300, times: MOUNTS - 10 });
    const inflight = mountAll(client, list);
    await waitFor(() => slow.hits >= 20, 'the mounts to reach Vault');
    first.kill('SIGKILL');
    const results = await Promise.all(inflight);
    assert.equal(await first.exited, null);
    client.close();
    slow.remove();
    for (const r of results) if (r !== 'ok') assert.equal(r.code, status.UNAVAILABLE, `${r.code} ${r.details}`);
    for (const [i, target] of list.entries()) {
      const state = await targetState(target, NAMES);
      assert.ok(state.kind === 'complete', `${target}: ${JSON.stringify(state)}`);
      if (results[i] === 'ok') assert.equal(state.generation, '3');
    }
    await stat(socket); // grpc-js leaves the socket behind when killed

    const second = start(socket);
    await waitForServing(second, 'the restarted provider');
    assert.ok(second.lines().some((l) => l['existing'] === 'stale-socket-replaced'), 'the stale socket was replaced');
    const again = new DriverClient(socket);
    assert.deepEqual((await Promise.all(mountAll(again, list))).filter((r) => r !== 'ok'), []);
    for (const target of list) assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '3' });

    // A third instance started on the live socket while mounts are in flight: it takes the path over, the second
    // finishes what it has, and, stopped, leaves the path to the third, which serves the next mounts.
    h.vault.putKv('secret', 'app', secretFor(4));
    const busy = h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 200 });
    const during = mountAll(again, list.slice(0, 10));
    await waitFor(() => busy.hits >= 1, 'the mounts to reach Vault');
    const third = start(socket);
    await waitForServing(third, 'the third provider');
    assert.ok(third.lines().some((l) => l['existing'] === 'live-socket-taken-over'), 'the live socket was taken over');
    assert.deepEqual((await Promise.all(during)).filter((r) => r !== 'ok'), []);
    for (const target of list.slice(0, 10)) assert.deepEqual(await targetState(target, NAMES), { kind: 'complete', generation: '4' });
    busy.remove();
    again.close();
    second.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    const last = new DriverClient(socket);
    assert.deepEqual((await Promise.all(mountAll(last, list.slice(10, 20)))).filter((r) => r !== 'ok'), []);
    last.close();
    assert.ok(second.lines().some((l) => l['socket'] === 'left-to-successor'));
    third.kill('SIGTERM');
    assert.equal(await third.exited, 0);
  });
});
