/**
 * Every bad SecretProviderClass input is an INVALID_ARGUMENT naming the parameter or object, writes nothing,
 * and leaves the daemon serving the next good mount.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';

const GOOD = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];

describe('e2e: bad input', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'pw-123' });
    // In --write-files mode "writes nothing" is observable: the bad mounts aim at a directory that must stay empty.
    await mkdir(join(h.dir, 'bad-target'));
    await mkdir(join(h.dir, 'good-target'));
    await h.startProvider({ writeFiles: true });
  });

  after(async () => {
    await h.close();
  });

  function withAttributes(edit: (attrs: Record<string, string>) => void): MountRequest {
    const req = h.request({ objects: GOOD, targetPath: join(h.dir, 'bad-target') });
    const attrs = JSON.parse(req.attributes!) as Record<string, string>;
    edit(attrs);
    return { ...req, attributes: JSON.stringify(attrs) };
  }

  const cases: Array<{ name: string; build: () => MountRequest; names: RegExp }> = [
    { name: 'attributes that are not JSON', build: () => ({ ...h.request({ objects: GOOD }), attributes: '{not json' }), names: /attributes/ },
    { name: 'attributes that are not a map of strings', build: () => ({ ...h.request({ objects: GOOD }), attributes: '{"roleName": 5}' }), names: /roleName|attributes/ },
    { name: 'secrets that are not JSON', build: () => ({ ...h.request({ objects: GOOD }), secrets: '[' }), names: /secrets/ },
    {
      name: 'a malformed tokens document',
      build: () => withAttributes((a) => (a['csi.storage.k8s.io/serviceAccount.tokens'] = '{"vault": ')),
      names: /serviceAccount\.tokens/,
    },
    { name: 'objects that are not a YAML list', build: () => h.request({ objects: 'objectName: x\nsecretPath: y\n' }), names: /objects/ },
    { name: 'objects that are not YAML', build: () => h.request({ objects: '- objectName: [unclosed\n' }), names: /objects/ },
    { name: 'no objects', build: () => h.request({ objects: '[]' }), names: /objects/ },
    { name: 'a missing objects parameter', build: () => withAttributes((a) => delete a['objects']), names: /objects/ },
    { name: 'a missing roleName', build: () => withAttributes((a) => delete a['roleName']), names: /roleName/ },
    {
      name: 'both auth mount parameters',
      build: () => h.request({ objects: GOOD, params: { vaultKubernetesMountPath: 'a', vaultAuthMountPath: 'b' } }),
      names: /vaultKubernetesMountPath.*vaultAuthMountPath|vaultAuthMountPath.*vaultKubernetesMountPath/,
    },
    {
      name: 'duplicate objectNames',
      build: () => h.request({ objects: [...GOOD, { objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }] }),
      names: /"p"/,
    },
    ...['../escape', '/abs', 'a//b', './x', 'x/', '..data', '..hidden/x', ''].map((objectName) => ({
      name: `the objectName ${JSON.stringify(objectName)}`,
      build: () => h.request({ objects: [{ objectName, secretPath: 'secret/data/app', secretKey: 'password' }] }),
      names: /objectName|object/,
    })),
    {
      name: 'an unknown encoding',
      build: () => h.request({ objects: [{ objectName: 'e', secretPath: 'secret/data/app', secretKey: 'password', encoding: 'rot13' }] }),
      names: /"e"|encoding/,
    },
    { name: 'an invalid vaultSkipTLSVerify', build: () => h.request({ objects: GOOD, params: { vaultSkipTLSVerify: 'maybe' } }), names: /vaultSkipTLSVerify/ },
    { name: 'a permission that is not a number', build: () => h.request({ objects: GOOD, permission: 'rw-r--r--' }), names: /permission/ },
    { name: 'a vaultAddress that is not a URL', build: () => h.request({ objects: GOOD, params: { vaultAddress: 'not a url' } }), names: /vaultAddress/ },
  ];

  for (const c of cases) {
    it(`rejects ${c.name} with INVALID_ARGUMENT, writes nothing, and keeps serving`, async () => {
      const err = await h.client.mountError({ ...c.build(), target_path: join(h.dir, 'bad-target') });
      assert.equal(err.code, status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, /^INVALID_CONFIG: /);
      assert.match(err.details, c.names);
      assert.ok(!err.details.includes('eyJ'), 'no JWT in the message');
      assert.deepEqual(await readdir(join(h.dir, 'bad-target')), [], 'nothing was written');
      const ok = await h.client.mount(h.request({ objects: GOOD, targetPath: join(h.dir, 'good-target') }));
      assert.equal(ok.files.length, 0, 'in --write-files mode the provider returns no files');
      assert.equal(await readFile(join(h.dir, 'good-target', 'p'), 'utf8'), 'pw-123');
    });
  }
});
