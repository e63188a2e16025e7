/**
 * The daemon as a process: dist/main.js (test/helpers/daemon-process.ts) with real flags, real signals and a
 * real socket. Covers the socket's mode, stale and live sockets, SIGTERM draining, the health endpoint, --version
 * and usage errors.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverClient } from '../helpers/grpc-client.js';
import { DaemonProcess, waitForServing } from '../helpers/daemon-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { probeSocket } from '../../src/server/socket-path.js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { imageNodeFlags } from '../../scripts/image/dockerfile.js';

const spawned: DaemonProcess[] = [];

/** The daemon (dist/main.js) with these flags, killed after the test if it is still running. */
function run(args: readonly string[], env: Record<string, string> = {}): DaemonProcess {
  const d = new DaemonProcess(args, env);
  spawned.push(d);
  return d;
}

function healthPort(proc: DaemonProcess): number {
  const line = proc.out.join('').split('\n').find((l) => l.includes('"msg":"provider serving"'))!;
  const health = (JSON.parse(line) as { health: string }).health;
  return Number(health.slice(health.lastIndexOf(':') + 1));
}

describe('e2e: daemon process', function () {
  this.timeout(60_000);
  let dir: string;
  let h: Harness;
  let keyFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-daemon-'));
    keyFile = join(dir, 'hmac.key');
    await writeFile(keyFile, 'a-test-hmac-key-of-enough-bytes\n');
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'daemon-pw' });
  });

  afterEach(() => {
    // A failed assertion must not leave a provider running (it would keep mocha alive).
    for (const d of spawned.splice(0)) d.kill('SIGKILL');
  });

  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  function flags(socket: string): string[] {
    return [`--endpoint=${socket}`, '--health-addr', '127.0.0.1:0', `--vault-addr=${h.vault.address}`, `--hmac-key-file=${keyFile}`];
  }

  it('prints version information and exits 0', async () => {
    const proc = run(['--version']);
    assert.equal(await proc.exited, 0);
    const info = JSON.parse(proc.out.join('')) as { version: string };
    assert.match(info.version, /^\d+\.\d+\.\d+/);
  });

  it('compiles its bundle with the code cache the build wrote under the image\'s node flags, and from source under others', async () => {
    const served = async (nodeFlags: readonly string[], socket: string): Promise<unknown> => {
      // Without V8's coverage counters: under c8 they make every process compile differently.
      const proc = new DaemonProcess(flags(socket), {}, nodeFlags, { coverage: false });
      spawned.push(proc);
      await waitForServing(proc);
      const line = proc.lines().find((l) => l['msg'] === 'provider serving');
      proc.kill('SIGTERM');
      assert.equal(await proc.exited, 0);
      return line?.['codeCache'];
    };
    assert.equal(await served(imageNodeFlags(), join(dir, 'cache-image.sock')), 'used');
    assert.equal(await served([], join(dir, 'cache-plain.sock')), 'refused');
  });

  it('refuses an unknown flag with the usage text', async () => {
    const proc = run(['--no-such-flag']);
    assert.equal(await proc.exited, 2);
    const err = proc.err.join('');
    assert.match(err, /no-such-flag/);
    assert.match(err, /-endpoint/);
  });

  it('serves on a 0660 socket in a directory it creates, answers health, drains on SIGTERM and removes the socket', async () => {
    const socket = join(dir, 'new', 'dir', 'vault.sock');
    const proc = run(flags(socket));
    await waitForServing(proc, 'the provider to serve');
    const mode = (await stat(socket)).mode & 0o777;
    assert.ok((mode & 0o007) === 0 && (mode & 0o110) === 0, `socket mode ${mode.toString(8)}`);
    const port = healthPort(proc);
    assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200);

    const client = new DriverClient(socket);
    // A mount held in flight by a slow Vault: SIGTERM must let it finish.
    h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 700, times: 1 });
    const inflight = client.mount(h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }] }));
    await waitFor(() => h.vault.requests.some((r) => r.route.startsWith('secret/data/app')) || proc.out.join('').includes('"msg":"mount"'), 'the mount to reach Vault');
    proc.child.kill('SIGTERM');
    const res = await inflight;
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'daemon-pw');
    assert.equal(await proc.exited, 0);
    client.close();
    await assert.rejects(stat(socket), /ENOENT/);
  });

  it('a surge rollout: the new instance takes the live socket over atomically, the old one finishes its mounts and leaves the path to it', async () => {
    // DaemonSet RollingUpdate with maxSurge 1, maxUnavailable 0: the new pod starts while the old one serves, and the
    // old one gets SIGTERM once the new one is ready.
    const socket = join(dir, 'rolling', 'vault.sock');
    const old = run(flags(socket));
    await waitForServing(old, 'the old provider');
    // Poll the path the whole time: it must always hold a socket that accepts a connection.
    const gaps: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        if (!(await probeSocket(socket, 2_000))) gaps.push(new Date().toISOString());
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const oldClient = new DriverClient(socket);
    const objects = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];
    const pod = (n: number) => ({ pod: { name: `web-${n}`, namespace: 'prod', uid: `uid-rolling-${n}`, serviceAccountName: 'web' } });
    assert.equal(Buffer.from((await oldClient.mount(h.request({ objects, ...pod(0) }))).files[0]!.contents).toString(), 'daemon-pw');
    // Hold one mount in flight on the old instance across the takeover and its SIGTERM.
    h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 3_000, times: 1 });
    const inflight = oldClient.mount(h.request({ objects, ...pod(1) }), 20_000);
    const metrics = `http://127.0.0.1:${healthPort(old)}/metrics`;
    await waitFor(async () => /mounts_in_flight \d*[1-9]/.test(await (await fetch(metrics)).text()), 'the mount to be in flight on the old instance');

    const successor = run(flags(socket));
    await waitForServing(successor, 'the new provider');
    assert.match(successor.out.join(''), /"existing":"live-socket-taken-over"/);
    const theirs = await lstat(socket);
    // A new connection reaches the new instance; the old one's open connection still reaches the old one.
    const client = new DriverClient(socket);
    assert.equal(Buffer.from((await client.mount(h.request({ objects, ...pod(2) }))).files[0]!.contents).toString(), 'daemon-pw');
    assert.equal(Buffer.from((await oldClient.mount(h.request({ objects, ...pod(3) }))).files[0]!.contents).toString(), 'daemon-pw');

    old.child.kill('SIGTERM');
    // The old instance finishes its mount and exits, leaving the new instance's socket where it is.
    assert.equal(Buffer.from((await inflight).files[0]!.contents).toString(), 'daemon-pw');
    assert.equal(await old.exited, 0);
    const after = await lstat(socket);
    assert.ok(after.isSocket() && after.ino === theirs.ino && after.dev === theirs.dev, 'the same socket as the new instance published');
    assert.match(old.out.join(''), /"socket":"left-to-successor"/);
    // The old client's channel was told to go away (GOAWAY) and dials the path again: the new instance answers.
    assert.equal(Buffer.from((await oldClient.mount(h.request({ objects, ...pod(4) }))).files[0]!.contents).toString(), 'daemon-pw');
    polling = false;
    await poller;
    assert.deepEqual(gaps, [], 'the path always held a live socket');
    oldClient.close();
    client.close();
    successor.child.kill('SIGTERM');
    assert.equal(await successor.exited, 0);
    await assert.rejects(stat(socket), /ENOENT/);
    const mountsOf = (p: DaemonProcess) => p.out.join('').split('\n').filter((l) => l.includes('"msg":"mount"'));
    assert.deepEqual(mountsOf(successor).map((l) => (JSON.parse(l) as { pod: string }).pod).sort(), ['web-2', 'web-4']);
    assert.deepEqual(mountsOf(old).map((l) => (JSON.parse(l) as { pod: string }).pod).sort(), ['web-0', 'web-1', 'web-3']);
  });

  it('replaces a stale socket left by a crash', async () => {
    const socket = join(dir, 'stale.sock');
    const first = run(flags(socket));
    await waitForServing(first, 'the first provider');
    first.child.kill('SIGKILL');
    await first.exited;
    await stat(socket); // still there: grpc-js does not clean up after a crash
    const second = run(flags(socket));
    await waitForServing(second, 'the second provider');
    assert.match(second.out.join(''), /"existing":"stale-socket-replaced"/);
    const client = new DriverClient(socket);
    assert.equal((await client.version()).version, 'v1alpha1');
    client.close();
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });

  it('a second instance started by mistake takes over; whichever exits, the path still has a serving socket', async () => {
    const socket = join(dir, 'twice', 'vault.sock');
    const first = run(flags(socket));
    await waitForServing(first, 'the first provider');
    const second = run(flags(socket));
    await waitForServing(second, 'the second provider');
    const versionAt = async (): Promise<string> => {
      const c = new DriverClient(socket);
      try {
        return (await c.version()).version;
      } finally {
        c.close();
      }
    };
    assert.equal(await versionAt(), 'v1alpha1');
    // The second (holding the path) exits: it hands the path to the first, which still serves.
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    assert.match(second.out.join(''), /"socket":"handed-to-sibling"/);
    assert.equal(await versionAt(), 'v1alpha1');
    // A third one is killed while holding the path: the first finds the dead socket and puts its own back.
    const third = run(flags(socket));
    await waitForServing(third, 'the third provider');
    third.child.kill('SIGKILL');
    await third.exited;
    await waitFor(() => probeSocket(socket), 'the first provider to restore the path');
    await waitFor(() => first.out.join('').includes('"found":"dead-socket"'), 'the first provider to say so');
    assert.equal(await versionAt(), 'v1alpha1');
    first.child.kill('SIGINT');
    assert.equal(await first.exited, 0);
    assert.match(first.out.join(''), /"socket":"removed"/);
    await assert.rejects(stat(socket), /ENOENT/);
  });

  it('takes over any listener on the path (the reference, say), and puts its socket back when that one removes the path on exit', async () => {
    const socket = join(dir, 'other', 'vault.sock');
    await mkdir(join(dir, 'other'), { recursive: true });
    // Bound at the path itself, as the reference and versions before this one do: closing it unlinks the path.
    const other: Server = createServer((c) => c.on('error', () => undefined));
    await new Promise<void>((ok) => other.listen(socket, ok));
    const proc = run(flags(socket));
    await waitForServing(proc, 'the provider');
    assert.match(proc.out.join(''), /"existing":"live-socket-taken-over"/);
    await new Promise<void>((ok) => other.close(() => ok()));
    await waitFor(() => probeSocket(socket), 'the provider to put its socket back');
    await waitFor(() => proc.out.join('').includes('"found":"none"'), 'the provider to say so');
    const client = new DriverClient(socket);
    assert.equal((await client.version()).version, 'v1alpha1');
    client.close();
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });
});
