/**
 * Real Vault, the driver's own client and writer, our provider started as the OpenBao provider's DaemonSet starts
 * it (`-endpoint=…/openbao.sock`, `-openbao-addr`): a SecretProviderClass with `spec.provider: openbao` and the
 * OpenBao provider's bao… and openbao… parameter names. OpenBao's API is Vault's; real Vault answers the same requests
 * (there is no OpenBao server in the suite).
 */
import assert from 'node:assert/strict';
import { World } from '../harness/world.js';

const OBJECTS = [
  { objectName: 'password', secretPath: 'secret/data/bao', secretKey: 'password' },
  { objectName: 'nested/.env', secretPath: 'secret/data/bao', secretKey: 'env' },
];

describe('real Vault: as the OpenBao provider (openbao.sock, bao* parameters)', function () {
  let w: World;

  before(async () => {
    w = await World.start({ providerName: 'openbao' });
    await w.vault.must('POST', 'secret/data/bao', { data: { password: 'bao-pw', env: 'A=1\n' } });
  });

  after(async () => {
    await w?.close();
  });

  it('is found by the driver for `provider: openbao` and mounts with bao* parameters', async () => {
    await w.mark();
    const m = await w.mount({
      provider: 'openbao',
      objects: OBJECTS,
      omit: ['roleName'],
      params: { baoRoleName: 'web', baoAddress: w.vault.address, baoKubernetesMountPath: 'kubernetes', baoSkipTLSVerify: 'false' },
    });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('password')?.text, 'bao-pw');
    assert.equal(m.files.get('nested/.env')?.text, 'A=1\n');
    assert.deepEqual(Object.keys(m.objectVersions ?? {}).sort(), ['nested/.env', 'password']);
    assert.equal((await w.vaultRequests('auth/kubernetes/login')).length, 1);
    assert.deepEqual((await w.vaultRequests('secret/')).map((r) => r.path), ['secret/data/bao']);
  });

  it('logs in at the JWT auth mount openbaoAuthMountPath names, as openbaoRoleName', async () => {
    await w.mark();
    const m = await w.mount({ provider: 'openbao', objects: OBJECTS, omit: ['roleName'], params: { openbaoRoleName: 'web', openbaoAuthMountPath: 'jwt' } });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('password')?.text, 'bao-pw');
    assert.equal((await w.vaultRequests('auth/jwt/login')).length, 1);
  });

  it('gives the versions the reference\'s spellings give', async () => {
    const bao = await w.mount({ provider: 'openbao', objects: OBJECTS, omit: ['roleName'], params: { vaultRoleName: 'web', openbaoAddress: w.vault.address } });
    const ours = await w.mount({ provider: 'openbao', objects: OBJECTS, params: { vaultAddress: w.vault.address } });
    assert.equal(bao.error, '', bao.grpcMessage);
    assert.deepEqual(bao.objectVersions, ours.objectVersions);
  });

  it('refuses two spellings of one parameter, writes nothing and asks Vault nothing', async () => {
    await w.mark();
    const m = await w.mount({ provider: 'openbao', objects: OBJECTS, params: { baoAddress: w.vault.address, vaultAddress: w.vault.address } });
    assert.equal(m.grpcCode, 'InvalidArgument', m.error);
    assert.match(m.grpcMessage, /INVALID_CONFIG: set only one of vaultAddress and baoAddress \(they name the same setting\)/);
    assert.equal(m.files.size, 0);
    assert.deepEqual(await w.vaultRequests(), []);
  });

  it('is not where the driver looks for `provider: vault`', async () => {
    const m = await w.mount({ objects: OBJECTS });
    assert.equal(m.error, 'provider not found: provider "vault"');
    assert.equal(m.files.size, 0);
  });
});
