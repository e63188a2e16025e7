import assert from 'node:assert/strict';
import https from 'node:https';
import { readFile, readdir } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { createTlsMaterial, startTestVault, writeTlsFiles, type TestVault, type TlsMaterial } from './index.js';

interface TlsResult { status: number; body: string; peerCN: string | undefined }

function get(url: string, options: https.RequestOptions): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...options, agent: false }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerCN: typeof cert.subject?.CN === 'string' ? cert.subject.CN : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('vault-server: TLS', () => {
  let material: TlsMaterial;
  before(async () => {
    material = await createTlsMaterial({ sniNames: ['vault.internal'] });
  });

  describe('server TLS with a required client certificate and SNI', () => {
    let vault: TestVault;
    before(async () => {
      vault = await startTestVault({
        tls: { key: material.serverKeyPem, cert: material.serverCertPem, clientCa: material.caCertPem, requireClientCert: true, sni: material.sni },
      });
    });
    after(() => vault.close());

    const url = () => `${vault.address}/v1/sys/health`;

    it('serves https on 127.0.0.1 to a client with a CA-signed certificate', async () => {
      assert.match(vault.address, /^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await get(url(), { ca: material.caCertPem, cert: material.clientCertPem, key: material.clientKeyPem });
      assert.equal(res.status, 200);
      assert.equal(res.peerCN, 'localhost');
      assert.equal((JSON.parse(res.body) as { sealed: boolean }).sealed, false);
    });

    it('rejects a client without a certificate', async () => {
      await assert.rejects(get(url(), { ca: material.caCertPem }));
    });

    it('is rejected by a client that trusts another CA', async () => {
      await assert.rejects(get(url(), { ca: material.otherCaCertPem, cert: material.clientCertPem, key: material.clientKeyPem }), /self-signed|unable to verify|certificate/i);
    });

    it('chooses the certificate by SNI server name', async () => {
      const res = await get(url(), {
        ca: material.caCertPem, cert: material.clientCertPem, key: material.clientKeyPem, servername: 'vault.internal',
      });
      assert.equal(res.status, 200);
      assert.equal(res.peerCN, 'vault.internal');
    });
  });

  it('writes CA, CA directory and client key pair files', async () => {
    const files = await writeTlsFiles(material);
    try {
      assert.equal(await readFile(files.caFile, 'utf8'), material.caCertPem);
      assert.deepEqual(await readdir(files.caDir), ['ca.pem']);
      assert.equal(await readFile(files.clientCertFile, 'utf8'), material.clientCertPem);
      assert.match(await readFile(files.clientKeyFile, 'utf8'), /PRIVATE KEY/);
    } finally {
      await files.cleanup();
    }
  });
});
