/**
 * A drop-in for the OpenBao provider, end to end: started with that provider's command line (`-endpoint` at
 * openbao.sock, `-openbao-addr`) and mounted over the socket with a SecretProviderClass written for it (bao*
 * parameters, baoRoleName), against the Vault-compatible fake (OpenBao's API is Vault's).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { startHarness, WEB_POLICY, type Harness } from '../helpers/provider-harness.js';
import { parseFlags } from '../../src/cli/flags.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';

const OBJECTS = [
  { objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' },
  { objectName: '.env', secretPath: 'secret/data/app', secretKey: 'env' },
];

describe('e2e: as the OpenBao provider (openbao.sock, bao* parameters)', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'bao-pw', env: 'A=1\n' });
    h.vault.createNamespace('team-a');
    h.vault.enableKv('secret', 2, 'team-a');
    h.vault.putKv('secret', 'app', { password: 'team-a-pw', env: 'A=2\n' }, 'team-a');
    h.vault.enableKubernetesAuth('jwt-k8s', { publicKeysPem: [h.issuer.publicKeyPem] }, 'team-a');
    h.vault.putPolicy('web', WEB_POLICY, 'team-a');
    h.vault.addKubernetesRole('jwt-k8s', 'bao-web', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] }, 'team-a');
    // The OpenBao provider's DaemonSet arguments, as its deployment manifest and Helm chart pass them.
    const argv = [`-endpoint=${join(h.dir, 'sock', 'openbao.sock')}`, '-debug=false', `-openbao-addr=${h.vault.address}`, '-openbao-mount=kubernetes', '-health-addr=127.0.0.1:0'];
    const parsed = parseFlags(argv, {});
    assert.equal(parsed.kind, 'run');
    await h.startProvider({ ...parsed.settings, logLevel: 'trace' });
  });

  after(async () => h.close());

  /** A request as the driver sends it for a SecretProviderClass written with the OpenBao provider's spellings. */
  function baoRequest(params: Record<string, string>): MountRequest {
    const req = h.request({ objects: OBJECTS });
    const attrs = JSON.parse(req.attributes!) as Record<string, string>;
    delete attrs['roleName'];
    return { ...req, attributes: JSON.stringify({ ...attrs, ...params }) };
  }

  it('serves on openbao.sock, where the driver looks for `provider: openbao`', async () => {
    assert.equal(h.settings.endpoint, join(h.dir, 'sock', 'openbao.sock'));
    assert.equal((await h.client.version()).version, 'v1alpha1');
  });

  it('mounts with baoRoleName, baoAddress, baoKubernetesMountPath and baoSkipTLSVerify', async () => {
    h.vault.clearRequests();
    const res = await h.client.mount(
      baoRequest({ baoRoleName: 'web', baoAddress: h.vault.address, baoKubernetesMountPath: 'kubernetes', baoSkipTLSVerify: 'false' }),
    );
    const files = new Map(res.files.map((f) => [f.path, Buffer.from(f.contents).toString()]));
    assert.deepEqual(files, new Map([['password', 'bao-pw'], ['.env', 'A=1\n']]));
    assert.deepEqual(res.object_version.map((v) => v.id), ['password', '.env']);
    assert.equal(h.vault.countRequests({ kind: 'login', routePrefix: 'auth/kubernetes/login' }), 1);
    assert.equal(h.vault.countRequests({ kind: 'read' }), 1, 'two objects, one request');
  });

  it('gives the same files and versions as the reference\'s spellings of the same SecretProviderClass', async () => {
    const bao = await h.client.mount(baoRequest({ openbaoRoleName: 'web', openbaoAddress: h.vault.address }));
    const vault = await h.client.mount(h.request({ objects: OBJECTS, params: { vaultAddress: h.vault.address } }));
    assert.deepEqual(bao.object_version, vault.object_version);
    assert.deepEqual(bao.files, vault.files);
  });

  it('logs in and reads in the namespace baoNamespace names, with the auth mount baoAuthMountPath names', async () => {
    h.vault.clearRequests();
    const res = await h.client.mount(baoRequest({ baoRoleName: 'bao-web', baoNamespace: 'team-a', baoAuthMountPath: 'jwt-k8s' }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'team-a-pw');
    assert.equal(h.vault.countRequests({ kind: 'login', namespace: 'team-a', routePrefix: 'auth/jwt-k8s/login' }), 1);
    assert.equal(h.vault.countRequests({ kind: 'read', namespace: 'team-a' }), 1);
    assert.equal(h.vault.countRequests({ namespace: '' }), 0, 'nothing in the root namespace');
  });

  it('holds bao* parameters to the same trust policy as vault* ones', async () => {
    h.vault.clearRequests();
    const cases: ReadonlyArray<Record<string, string>> = [{ baoAddress: 'http://127.0.0.1:1' }, { openbaoSkipTLSVerify: 'true' }, { baoCACertPath: '/etc/passwd' }];
    for (const params of cases) {
      const err = await h.client.mountError(baoRequest({ baoRoleName: 'web', ...params }));
      assert.equal(err.code, status.PERMISSION_DENIED, JSON.stringify(params));
      assert.match(err.details, /^PARAMETER_NOT_ALLOWED: /);
    }
    assert.equal(h.vault.requests.length, 0, 'the JWT went nowhere');
  });

  it('refuses two spellings of one parameter before asking Vault anything, and keeps serving', async () => {
    h.vault.clearRequests();
    const cases: Array<[Record<string, string>, string]> = [
      [{ baoRoleName: 'web', baoAddress: h.vault.address, vaultAddress: h.vault.address }, 'set only one of vaultAddress and baoAddress'],
      [{ baoRoleName: 'web', roleName: 'web' }, 'set only one of roleName and baoRoleName'],
      [{ baoRoleName: 'web', openbaoNamespace: 'team-a', vaultNamespace: 'team-a' }, 'set only one of vaultNamespace and openbaoNamespace'],
      [{ baoRoleName: 'web', baoKubernetesMountPath: 'kubernetes', openbaoAuthMountPath: 'jwt-k8s' }, 'set only one of baoKubernetesMountPath and openbaoAuthMountPath'],
    ];
    for (const [params, message] of cases) {
      const err = await h.client.mountError(baoRequest(params));
      assert.equal(err.code, status.INVALID_ARGUMENT, message);
      assert.ok(err.details.includes(`INVALID_CONFIG: ${message} (they name the same setting)`), err.details);
    }
    assert.equal(h.vault.requests.length, 0, 'no request reached Vault');
    const ok = await h.client.mount(baoRequest({ baoRoleName: 'web' }));
    assert.equal(Buffer.from(ok.files[0]!.contents).toString(), 'bao-pw');
  });
});
