/**
 * TLS to real Vault: a second listener with a server certificate from a CA of the test's own. The provider trusts
 * that CA by flag; a SecretProviderClass that names another CA (from an allowed directory) is refused by the TLS
 * handshake, and the JWT never reaches a Vault the provider cannot verify.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTlsMaterial, writeTlsFiles, type TlsFiles } from '../../vault-server/certs.js';
import { World } from '../harness/world.js';

describe('real Vault: TLS', function () {
  let w: World;
  let files: TlsFiles;
  let otherCa: string;

  before(async () => {
    const material = await createTlsMaterial();
    files = await writeTlsFiles(material);
    otherCa = join(files.dir, 'other-ca.pem');
    await writeFile(otherCa, material.otherCaCertPem);
    w = await World.start({
      tls: { certFile: files.serverCertFile, keyFile: files.serverKeyFile },
      providerVaultAddress: (v) => v.tlsAddress ?? '',
      providerFlags: [`--vault-tls-ca-cert=${files.caFile}`, `--allowed-tls-directories=${files.dir}`],
    });
    await w.vault.must('POST', 'secret/data/tls-app', { data: { password: 'over-tls' } });
  });

  after(async () => {
    await w?.close();
    await files?.cleanup();
  });

  it('mounts over TLS with the CA given by flag', async () => {
    const m = await w.mount({ objects: [{ objectName: 'p', secretPath: 'secret/data/tls-app', secretKey: 'password' }] });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('p')?.text, 'over-tls');
  });

  it('mounts with a CA directory named by the SecretProviderClass', async () => {
    const m = await w.mount({
      params: { vaultCADirectory: files.caDir },
      objects: [{ objectName: 'p', secretPath: 'secret/data/tls-app', secretKey: 'password' }],
    });
    assert.equal(m.error, '', m.grpcMessage);
  });

  it('fails the handshake against a CA that did not sign Vault, and logs in nowhere', async () => {
    await w.mark();
    const m = await w.mount({
      params: { vaultCACertPath: otherCa },
      objects: [{ objectName: 'p', secretPath: 'secret/data/tls-app', secretKey: 'password' }],
    });
    assert.equal(m.grpcCode, 'Unavailable', m.error);
    assert.match(m.grpcMessage, /VAULT_UNAVAILABLE/);
    assert.ok(m.grpcMessage.includes(w.vault.tlsAddress ?? '?'), m.grpcMessage);
    assert.equal(m.files.size, 0);
    assert.equal((await w.vaultRequests('auth/')).length, 0);
  });
});
