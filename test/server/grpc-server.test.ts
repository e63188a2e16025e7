/**
 * The gRPC server on its Unix socket, with handlers of the test's own: the states it goes through, a 0660 socket
 * published at the endpoint, the contract served to a real client, a drain that lets a call in progress finish
 * and removes its socket.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProviderGrpcServer, SOCKET_MODE } from '../../src/server/grpc-server.js';
import { versionHandler } from '../../src/server/mount-handler.js';
import type { CSIDriverProviderHandlers } from '../../src/generated/v1alpha1/CSIDriverProvider.js';
import { DriverClient } from '../helpers/grpc-client.js';
import { mountConfigWith } from '../helpers/mount-config.js';

describe('server/grpc-server', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'vcp-grpc-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  /** Mount answers once the test lets it (release), so a drain can start with a call in progress. */
  function handlers(): { readonly handlers: CSIDriverProviderHandlers; readonly release: () => void; readonly started: Promise<void> } {
    let release!: () => void;
    let started!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const startedP = new Promise<void>((r) => (started = r));
    return {
      release,
      started: startedP,
      handlers: {
        Version: versionHandler,
        Mount: (_call, callback) => {
          started();
          void held.then(() => callback(null, { object_version: [{ id: 'a', version: 'v1' }], files: [] }));
        },
      },
    };
  }

  it('serves the contract on a 0660 socket at the endpoint, and drains: the call in progress finishes, the socket goes', async () => {
    const endpoint = join(dir, 'a', 'vault.sock');
    const h = handlers();
    const server = new ProviderGrpcServer({ endpoint, handlers: h.handlers });
    assert.equal(server.state, 'starting');
    await server.start();
    assert.equal(server.state, 'serving');
    assert.equal((await stat(endpoint)).mode & 0o777 & ~SOCKET_MODE, 0);
    const client = new DriverClient(endpoint);
    try {
      assert.equal((await client.version()).version, 'v1alpha1');
      const config = mountConfigWith({});
      const inflight = client.mount({ attributes: '{}', secrets: '{}', target_path: config.targetPath, permission: '420', current_object_version: [] });
      await h.started;
      server.beginDrain();
      assert.equal(server.state, 'draining');
      const drained = server.drain(5_000);
      h.release();
      assert.deepEqual((await inflight).object_version, [{ id: 'a', version: 'v1' }]);
      assert.equal(await drained, 'clean');
      assert.equal(server.state, 'stopped');
      await assert.rejects(stat(endpoint), /ENOENT/);
      assert.equal(await server.drain(1), 'clean', 'a second drain is a no-op');
    } finally {
      client.close();
    }
  });
});
