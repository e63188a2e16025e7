import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareSocketPath, probeSocket, releaseSocket, socketIdentity, SocketInUseError } from '../../src/server/socket-path.js';

describe('server/socket-path', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vcp-sock-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('creates the directory when nothing is there', async () => {
    assert.equal(await prepareSocketPath(join(dir, 'a', 'b', 'vault.sock')), 'none');
    assert.ok((await stat(join(dir, 'a', 'b'))).isDirectory());
  });

  it('refuses a live socket and removes a dead one', async () => {
    const path = join(dir, 'live.sock');
    const server = createServer();
    await new Promise<void>((ok) => server.listen(path, ok));
    assert.equal(await probeSocket(path), true);
    await assert.rejects(prepareSocketPath(path), SocketInUseError);
    // Closing a listener removes its socket file; a killed process leaves a dead one behind, as a crash does.
    await new Promise<void>((ok) => server.close(() => ok()));
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
    await once(child.stdout, 'data');
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.equal(await probeSocket(path), false);
    assert.equal(await prepareSocketPath(path), 'stale-socket-removed');
    await assert.rejects(stat(path));
  });

  it('removes a regular file or a symlink in the way (without following it), refuses a directory', async () => {
    await writeFile(join(dir, 'file.sock'), 'x');
    assert.equal(await prepareSocketPath(join(dir, 'file.sock')), 'file-removed');
    const target = join(dir, 'keep.txt');
    await writeFile(target, 'keep');
    await symlink(target, join(dir, 'link.sock'));
    assert.equal(await prepareSocketPath(join(dir, 'link.sock')), 'file-removed');
    assert.ok((await stat(target)).isFile());
    await mkdir(join(dir, 'dir.sock'));
    await assert.rejects(prepareSocketPath(join(dir, 'dir.sock')), /directory/);
  });

  it('releases the socket it bound, and leaves alone one that replaced it or something else at the path', async () => {
    // A socket file that outlives its listener, as a crash leaves it.
    const leave = async (path: string): Promise<void> => {
      const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
      await once(child.stdout, 'data');
      child.kill('SIGKILL');
      await once(child, 'exit');
    };
    const path = join(dir, 'vault.sock');
    await leave(path);
    const own = await socketIdentity(path);
    assert.equal(await releaseSocket(path, own), 'removed');
    assert.equal(await releaseSocket(path, own), 'already-gone');
    // A successor bound a new socket at the path — tmpfs may even give it the same inode number — and the old
    // instance never removes it.
    await leave(path);
    const successor = await socketIdentity(path);
    assert.notDeepEqual(successor, own);
    assert.equal(await releaseSocket(path, own), 'left-to-successor');
    assert.deepEqual(await socketIdentity(path), successor);
    // Nor a regular file that took the path, nor anything when the instance never bound one.
    await rm(path);
    await writeFile(path, 'x');
    assert.equal(await releaseSocket(path, own), 'left-to-successor');
    assert.equal(await releaseSocket(path, undefined), 'left-to-successor');
    assert.ok((await stat(path)).isFile());
  });
});
