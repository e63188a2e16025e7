/**
 * The mount service's own contract, called directly (the daemon's MountService with its real stages, against the fake
 * Vault; over the socket it is test/e2e/): one Vault request per distinct thing asked, objects in the
 * SecretProviderClass's order whatever order the reads finished in, an optional object Vault does not have marked
 * absent, a budget that fails the mount naming the object, and --write-files writing the set itself.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { rejection } from '../helpers/rejection.js';
import { MountMemory } from '../../src/admission/mount-admission.js';
import type { MountConfig } from '../../src/config/types.js';
import { parseMountRequest } from '../../src/config/mount-request.js';

describe('conductor/mount-service', function () {
  this.timeout(20_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { user: 'u1', pass: 'p1' });
    h.vault.putKv('secret', 'slow', { v: 'slow-value' });
    h.vault.putKv('secret', 'big', { blob: 'b'.repeat(64 * 1024) });
  });

  after(async () => h.close());
  afterEach(async () => {
    h.vault.clearFaults();
    await h.stopProvider();
  });

  function configOf(objects: ReadonlyArray<Record<string, unknown>>, targetPath?: string): MountConfig {
    const req = h.request({ objects, ...(targetPath === undefined ? {} : { targetPath }) });
    return parseMountRequest({ attributes: req.attributes!, secrets: req.secrets!, targetPath: req.target_path!, permission: req.permission! });
  }

  it('asks Vault once per distinct request, and answers in the order the SecretProviderClass lists the objects', async () => {
    await h.startProvider();
    // The first object's read finishes last.
    h.vault.injectFault({ pathPrefix: 'secret/data/slow', delayMs: 200, times: 1 });
    const before = h.vault.countRequests({ kind: 'read' });
    const result = await h.provider.mounts.mount(
      configOf([
        { objectName: 'slow', secretPath: 'secret/data/slow', secretKey: 'v' },
        { objectName: 'user', secretPath: 'secret/data/app', secretKey: 'user' },
        { objectName: 'pass', secretPath: 'secret/data/app', secretKey: 'pass' },
      ]),
    );
    assert.deepEqual(result.objects.map((o) => o.objectName), ['slow', 'user', 'pass']);
    assert.deepEqual(result.objectVersions.map((v) => v.id), ['slow', 'user', 'pass']);
    assert.deepEqual(result.files.map((f) => [f.path, Buffer.from(f.contents).toString()]), [['slow', 'slow-value'], ['user', 'u1'], ['pass', 'p1']]);
    assert.equal(result.requests, 2);
    assert.equal(h.vault.countRequests({ kind: 'read' }) - before, 2);
    assert.equal(result.wroteFiles, false);
  });

  it('marks an optional object Vault does not have absent, with no file, and mounts the rest', async () => {
    await h.startProvider();
    const result = await h.provider.mounts.mount(
      configOf([
        { objectName: 'gone', secretPath: 'secret/data/nope', secretKey: 'v', optional: true },
        { objectName: 'user', secretPath: 'secret/data/app', secretKey: 'user' },
      ]),
    );
    assert.deepEqual(result.objects.map((o) => [o.objectName, o.state]), [['gone', 'absent'], ['user', 'file']]);
    assert.deepEqual(result.files.map((f) => f.path), ['user']);
  });

  it("fails the mount naming the object when its responses pass the mount's ledger", async () => {
    await h.startProvider();
    const err = await rejection(h.provider.mounts.mount(configOf([{ objectName: 'big.bin', secretPath: 'secret/data/big', secretKey: 'blob' }]), undefined, new MountMemory(undefined, 16 * 1024)));
    assert.equal(err.code, 'MOUNT_TOO_LARGE');
    assert.match(err.publicMessage, /object "big\.bin"/);
  });

  it('with --write-files writes the set itself and answers no files', async () => {
    await h.startProvider({ writeFiles: true });
    const target = join(h.dir, 'target-write');
    await mkdir(target); // the kubelet's, made before the driver calls
    const result = await h.provider.mounts.mount(configOf([{ objectName: 'conf/user', secretPath: 'secret/data/app', secretKey: 'user' }], target));
    assert.equal(result.wroteFiles, true);
    assert.deepEqual(result.files, []);
    assert.equal(await readFile(join(target, 'conf', 'user'), 'utf8'), 'u1');
  });
});
