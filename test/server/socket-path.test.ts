import assert from 'node:assert/strict';
import { lstat, mkdtemp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  pathHolder,
  prepareSocketDir,
  privateSocketPath,
  probeSocket,
  publishSocket,
  releaseSocket,
  SocketGuard,
  socketIdentity,
  type PathHolder,
} from '../../src/server/socket-path.js';
import { waitFor } from '../helpers/wait-for.js';

/** A listener that answers each connection with its name, so a test can tell which instance a path reaches. */
async function listen(path: string, name: string): Promise<Server> {
  const server = createServer((c) => {
    // A probe hangs up at once.
    c.on('error', () => undefined);
    c.end(name);
  });
  await new Promise<void>((ok) => server.listen(path, ok));
  return server;
}

function close(server: Server): Promise<void> {
  return new Promise((ok) => server.close(() => ok()));
}

/** Who answers at the path now. */
function answerAt(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect({ path });
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString()));
    c.on('end', () => resolve(text));
    c.on('error', reject);
  });
}

/** A socket file whose listener is gone, as a SIGKILL leaves it (grpc-js does not clean up). */
async function leaveDeadSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
  await once(child.stdout, 'data');
  child.kill('SIGKILL');
  await once(child, 'exit');
}


describe('server/socket-path', () => {
  let dir: string;
  let endpoint: string;
  const servers: Server[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-sock-'));
    endpoint = join(dir, 'vault.sock');
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) if (s.listening) await close(s);
    await rm(dir, { recursive: true, force: true });
  });

  async function instance(name: string): Promise<{ server: Server; privatePath: string }> {
    const privatePath = privateSocketPath(endpoint);
    const server = await listen(privatePath, name);
    servers.push(server);
    return { server, privatePath };
  }

  it('names a private socket beside the endpoint, a dotfile the driver never dials', () => {
    const p = privateSocketPath('/provider/vault.sock');
    assert.match(p, /^\/provider\/\.vault\.sock\.[0-9a-f]{16}$/);
    assert.notEqual(privateSocketPath('/provider/vault.sock'), p);
  });

  it('creates the directory, and removes only what dead instances of this endpoint left', async () => {
    await prepareSocketDir(join(dir, 'a', 'b', 'vault.sock'));
    assert.ok((await stat(join(dir, 'a', 'b'))).isDirectory());

    const dead = privateSocketPath(endpoint);
    await leaveDeadSocket(dead);
    const deadLink = `${privateSocketPath(endpoint)}.link`;
    await leaveDeadSocket(deadLink);
    const live = await instance('live');
    const otherProvider = join(dir, '.aws.sock.0123456789abcdef');
    await leaveDeadSocket(otherProvider);
    await writeFile(join(dir, 'notes'), 'keep');
    await prepareSocketDir(endpoint);
    assert.deepEqual((await readdir(dir)).sort(), [live.privatePath.slice(dir.length + 1), '.aws.sock.0123456789abcdef', 'a', 'notes'].sort());
  });

  it('publishes atomically over a live socket: the old listener keeps its connection, the path reaches the new one', async () => {
    const old = await instance('old');
    assert.equal(await publishSocket(endpoint, old.privatePath), 'none');
    assert.equal(await answerAt(endpoint), 'old');
    // A connection opened before the takeover stays with the old instance.
    const held = connect({ path: endpoint });
    await once(held, 'connect');

    const successor = await instance('new');
    assert.equal(await publishSocket(endpoint, successor.privatePath), 'live-socket-taken-over');
    assert.equal(await answerAt(endpoint), 'new');
    assert.equal((await readFile(endpoint).catch((e: NodeJS.ErrnoException) => e.code)), 'ENXIO', 'a socket, not a file');
    const [text] = (await once(held, 'data')) as [Buffer];
    assert.equal(text.toString(), 'old');
    held.destroy();
    // The old one stops: libuv unlinks its private name, never the path.
    await close(old.server);
    assert.equal(await answerAt(endpoint), 'new');
    await assert.rejects(lstat(old.privatePath), /ENOENT/);
  });

  it('replaces a dead socket, a regular file and a symlink (never following it); refuses a directory', async () => {
    const me = await instance('me');
    await leaveDeadSocket(endpoint);
    assert.equal(await publishSocket(endpoint, me.privatePath), 'stale-socket-replaced');
    assert.equal(await answerAt(endpoint), 'me');
    await rm(endpoint);
    await writeFile(endpoint, 'x');
    assert.equal(await publishSocket(endpoint, me.privatePath), 'file-replaced');
    const target = join(dir, 'keep.txt');
    await writeFile(target, 'keep');
    await rm(endpoint);
    await symlink(target, endpoint);
    assert.equal(await publishSocket(endpoint, me.privatePath), 'file-replaced');
    assert.equal(await readFile(target, 'utf8'), 'keep');
    assert.equal(await answerAt(endpoint), 'me');
    const other = join(dir, 'dir.sock');
    await mkdir(other);
    await assert.rejects(publishSocket(other, me.privatePath), /directory/);
  });

  it('releases its own path, hands it to a live sibling instead when there is one, and leaves a successor\'s alone', async () => {
    const a = await instance('a');
    await publishSocket(endpoint, a.privatePath);
    const ownA = await socketIdentity(a.privatePath);
    assert.equal(await pathHolder(endpoint, ownA), 'own');
    assert.equal(await releaseSocket(endpoint, ownA, a.privatePath), 'removed');
    assert.equal(await releaseSocket(endpoint, ownA, a.privatePath), 'already-gone');

    // A second instance started by mistake took the path; the first exits: the path stays the second's.
    await publishSocket(endpoint, a.privatePath);
    const b = await instance('b');
    await publishSocket(endpoint, b.privatePath);
    const ownB = await socketIdentity(b.privatePath);
    assert.equal(await pathHolder(endpoint, ownA), 'live-socket');
    assert.equal(await releaseSocket(endpoint, ownA, a.privatePath), 'left-to-successor');
    assert.equal(await answerAt(endpoint), 'b');
    // Or the second exits first: it hands the path to the first, which still serves.
    assert.equal(await releaseSocket(endpoint, ownB, b.privatePath), 'handed-to-sibling');
    assert.equal(await answerAt(endpoint), 'a');
    assert.equal(await pathHolder(endpoint, ownA), 'own');
    // A dead sibling is no heir.
    await close(a.server);
    await leaveDeadSocket(a.privatePath);
    await publishSocket(endpoint, b.privatePath);
    assert.equal(await releaseSocket(endpoint, ownB, b.privatePath), 'removed');
    // Nothing of its own: nothing to release.
    await writeFile(endpoint, 'x');
    assert.equal(await releaseSocket(endpoint, ownB, b.privatePath), 'left-to-successor');
    assert.equal(await releaseSocket(endpoint, undefined), 'left-to-successor');
    assert.ok((await stat(endpoint)).isFile());
  });

  it('guards the path: puts its socket back when the path is gone, dead or a file; leaves another live instance\'s', async () => {
    const me = await instance('me');
    await publishSocket(endpoint, me.privatePath);
    const restored: PathHolder[] = [];
    // A long interval: the directory's change events must be enough.
    const guard = new SocketGuard({ endpoint, privatePath: me.privatePath, own: await socketIdentity(me.privatePath), intervalMs: 60_000, onRestored: (f) => restored.push(f) });
    guard.start();
    try {
      assert.equal(guard.polling, false, 'its own socket at the path: the directory\'s events are enough, no timer');
      // As the reference (or a version before this one) does on exit: unlink the path by name.
      await rm(endpoint);
      await waitFor(async () => (await probeSocket(endpoint)) && (await answerAt(endpoint)) === 'me', 'the path to be restored');
      assert.deepEqual(restored, ['none']);

      // Another instance (a process of its own) takes over: left alone.
      const otherPath = privateSocketPath(endpoint);
      const other = spawn(process.execPath, ['-e', `require('net').createServer((c) => { c.on('error', () => {}); c.end('other'); }).listen(${JSON.stringify(otherPath)}, () => console.log('up'))`]);
      await once(other.stdout, 'data');
      await publishSocket(endpoint, otherPath);
      await guard.check();
      assert.equal(await answerAt(endpoint), 'other');
      assert.deepEqual(restored, ['none']);
      assert.equal(guard.polling, true, 'another instance holds the path: its death would leave no trace, so the timer runs');
      // It dies without a trace in the directory (SIGKILL): found dead on the next check (the timer's; here by hand).
      other.kill('SIGKILL');
      await once(other, 'exit');
      await guard.check();
      assert.equal(await answerAt(endpoint), 'me');
      assert.ok(restored.includes('dead-socket'), restored.join());
      await guard.check();
      assert.equal(guard.polling, false, 'its own again: no timer');
    } finally {
      await guard.stop();
    }
    await rm(endpoint);
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(lstat(endpoint), /ENOENT/, 'a stopped guard restores nothing');
  });
});
