/**
 * TLS to Vault end to end: a CA file, a CA directory, SNI / server name, a client certificate, and the failures
 * that must stay failures (a wrong CA, a missing client certificate).
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { createTlsMaterial, writeTlsFiles, type TlsFiles, type TlsMaterial } from '../vault-server/index.js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import type { TlsOptions } from '../vault-server/http-server.js';
import type { ProviderSettings } from '../../src/cli/flags.js';
import { join } from 'node:path';

const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];

/** The operator lets SecretProviderClasses name TLS files in the test's directory and skip verification. */
function trustFor(files: TlsFiles): ProviderSettings['trust'] {
  return { vaultAddresses: [], tlsDirectories: [files.dir], allowSkipTlsVerify: true };
}

async function tlsHarness(tls: TlsOptions, files: TlsFiles): Promise<Harness> {
  const h = await startHarness({ tls });
  h.vault.putKv('secret', 'app', { password: 'tls-pw' });
  await h.startProvider({ trust: trustFor(files) });
  return h;
}

describe('e2e: TLS to Vault', function () {
  this.timeout(30_000);
  let material: TlsMaterial;
  let files: TlsFiles;

  before(async () => {
    material = await createTlsMaterial({ sniNames: ['vault.internal'] });
    files = await writeTlsFiles(material);
  });

  after(async () => {
    await files.cleanup();
  });

  describe('server certificate', () => {
    let h: Harness;
    before(async () => {
      h = await tlsHarness({ key: material.serverKeyPem, cert: material.serverCertPem }, files);
    });
    after(async () => h.close());

    it('trusts Vault through vaultCACertPath', async () => {
      const res = await h.client.mount(h.request({ objects: OBJECTS, params: { vaultCACertPath: files.caFile } }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'tls-pw');
    });

    it('trusts Vault through vaultCADirectory', async () => {
      const res = await h.client.mount(h.request({ objects: OBJECTS, params: { vaultCADirectory: files.caDir } }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'tls-pw');
    });

    it('refuses a server whose CA it was not given, naming the address, even with VAULT_SKIP_VERIFY=false set', async () => {
      const before = process.env['VAULT_SKIP_VERIFY'];
      process.env['VAULT_SKIP_VERIFY'] = 'false';
      try {
        const err = await h.client.mountError(h.request({ objects: OBJECTS }));
        assert.equal(err.code, status.UNAVAILABLE);
        assert.match(err.details, /TLS failure/);
        assert.ok(err.details.includes(h.vault.address));
      } finally {
        if (before === undefined) delete process.env['VAULT_SKIP_VERIFY'];
        else process.env['VAULT_SKIP_VERIFY'] = before;
      }
    });

    it('skips verification only when vaultSkipTLSVerify is true', async () => {
      const res = await h.client.mount(h.request({ objects: OBJECTS, params: { vaultSkipTLSVerify: 'true' } }));
      assert.equal(res.files.length, 1);
      const err = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultSkipTLSVerify: 'false' } }));
      assert.equal(err.code, status.UNAVAILABLE);
    });

    it('names a CA file it cannot read', async () => {
      const missing = join(files.dir, 'nonexistent', 'ca.pem');
      const err = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultCACertPath: missing } }));
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.match(err.details, /LOCAL_FILE_ERROR/);
      assert.ok(err.details.includes(`vaultCACertPath "${missing}"`), err.details);
    });
  });

  describe('server name (SNI)', () => {
    let h: Harness;
    before(async () => {
      // The server's only certificate names vault.internal, not 127.0.0.1: without the right server name the
      // provider must refuse it, with it the handshake verifies.
      const sni = material.sni['vault.internal']!;
      h = await tlsHarness({ key: sni.key, cert: sni.cert, sni: { 'vault.internal': sni } }, files);
    });
    after(async () => h.close());

    it('verifies against vaultTLSServerName', async () => {
      const res = await h.client.mount(h.request({ objects: OBJECTS, params: { vaultCACertPath: files.caFile, vaultTLSServerName: 'vault.internal' } }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'tls-pw');
    });

    it('fails without it', async () => {
      const err = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultCACertPath: files.caFile } }));
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.details, /TLS failure/);
    });
  });

  describe('client certificate', () => {
    let h: Harness;
    before(async () => {
      h = await tlsHarness({ key: material.serverKeyPem, cert: material.serverCertPem, clientCa: material.caCertPem, requireClientCert: true }, files);
    });
    after(async () => h.close());

    it('presents vaultTLSClientCertPath and vaultTLSClientKeyPath', async () => {
      const res = await h.client.mount(
        h.request({
          objects: OBJECTS,
          params: { vaultCACertPath: files.caFile, vaultTLSClientCertPath: files.clientCertFile, vaultTLSClientKeyPath: files.clientKeyFile },
        }),
      );
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'tls-pw');
    });

    it('is refused without one', async () => {
      const err = await h.client.mountError(h.request({ objects: OBJECTS, params: { vaultCACertPath: files.caFile } }));
      assert.equal(err.code, status.UNAVAILABLE);
    });

    it('takes the TLS settings from provider flags when the SecretProviderClass sets none', async () => {
      await h.stopProvider();
      await h.startProvider({ defaults: h.tlsDefaults(files) });
      const res = await h.client.mount(h.request({ objects: OBJECTS }));
      assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'tls-pw');
    });
  });
});
