/**
 * The daemon's wiring (cli/daemon.ts): what stop() closes and in which order, and what a start that fails midway
 * gives back, seen from outside: the socket path, the health port, the audit file.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/provider-harness.js';

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
}

describe('cli: the provider wiring', function () {
  this.timeout(30_000);
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'db', { password: 'wiring-pw' });
  });

  afterEach(async () => {
    await h.close();
  });

  it('closes the socket, the audit file and the health server, once however often stop() is called', async () => {
    const auditFile = join(h.dir, 'audit.log');
    await h.startProvider({ auditLogFile: auditFile });
    const health = h.provider.healthAddress!;
    const res = await h.client.mount(h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/db', secretKey: 'password' }] }));
    assert.equal(res.files.length, 1);
    assert.equal((await fetch(`http://127.0.0.1:${health.port}/health/ready`)).status, 200);

    h.client.close();
    const stopping = h.provider.stop(2_000);
    assert.equal(h.provider.stop(2_000), stopping, 'one shutdown');
    await stopping;

    assert.ok(!existsSync(h.settings.endpoint), 'the socket is removed');
    await assert.rejects(fetch(`http://127.0.0.1:${health.port}/health/ready`), 'the health server is closed');
    assert.equal((await lines(auditFile)).length, 1, 'the mount was audited and flushed');
    h.provider.audit.record({ config: undefined, mounted: undefined, error: undefined, result: 'INTERNAL', grpcCode: 'INTERNAL', durationMs: 1 });
    assert.equal((await lines(auditFile)).length, 1, 'the audit sink is closed');
  });

  it('gives back the socket when the health address is taken, so the next start serves', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      await assert.rejects(h.startProvider({ healthAddr: `127.0.0.1:${port}` }), /EADDRINUSE/);
      assert.ok(!existsSync(h.socketPath), 'the socket is removed');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    await h.startProvider();
    const res = await h.client.mount(h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/db', secretKey: 'password' }] }));
    assert.equal(res.files.length, 1);
    await h.stopProvider();
  });
});
