import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
// ./x509.js first: it loads reflect-metadata, which @peculiar/x509 needs before it is evaluated.
import { colonHex } from './x509.js';
import * as x509 from '@peculiar/x509';
import { startTestVault, type TestVault } from './index.js';
import { call, fakeClock, pick, str, type FakeClock } from './test-helpers.js';

describe('vault-server: PKI issue', () => {
  let vault: TestVault;
  let clock: FakeClock;
  let rootCaPem: string;

  before(async () => {
    clock = fakeClock();
    vault = await startTestVault({ now: clock.now });
    ({ rootCaPem } = await vault.enablePki());
    vault.addPkiRole('pki', 'web', { allowedDomains: ['example.com'], allowSubdomains: true, maxTtlSeconds: 72 * 3600 });
    vault.addPkiRole('pki', 'fast', { allowedDomains: ['svc'], allowSubdomains: true, maxTtlSeconds: 3600, keyType: 'ec' });
  });
  after(() => vault.close());

  it('issues a real certificate whose key matches private_key, chained to the CA', async () => {
    const res = await call(vault, 'pki/issue/web', {
      token: 'root', body: { common_name: 'api.example.com', alt_names: 'www.example.com,localhost', ip_sans: '127.0.0.1', ttl: '24h' },
    });
    assert.equal(res.status, 200, res.text);
    const data = res.json!['data'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(data).sort(), ['authority_key_id', 'ca_chain', 'certificate', 'expiration', 'issuing_ca', 'private_key', 'private_key_type', 'serial_number']);
    assert.equal(res.json!['lease_id'], '');
    assert.equal(data['private_key_type'], 'rsa');
    assert.match(str(data['private_key']), /^-----BEGIN RSA PRIVATE KEY-----/);

    const cert = new X509Certificate(str(data['certificate']));
    const key = createPrivateKey(str(data['private_key']));
    assert.ok(cert.checkPrivateKey(key));
    assert.equal(
      createPublicKey(key).export({ type: 'spki', format: 'pem' }),
      cert.publicKey.export({ type: 'spki', format: 'pem' }),
    );
    assert.equal(cert.subject, 'CN=api.example.com');
    assert.match(cert.subjectAltName ?? '', /DNS:api\.example\.com/);
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.equal(str(data['serial_number']), cert.serialNumber.toLowerCase().match(/../g)!.join(':'));
    assert.equal(data['expiration'], Math.floor(clock.now() / 1000) + 86400);

    const chain = (data['ca_chain'] as string[]).map((p) => new X509Certificate(p));
    assert.equal(chain.length, 2);
    const issuing = new X509Certificate(str(data['issuing_ca']));
    assert.ok(cert.verify(issuing.publicKey));
    assert.ok(issuing.verify(new X509Certificate(rootCaPem).publicKey));
    assert.equal(chain[0]!.fingerprint256, issuing.fingerprint256);
  });

  it('reads no parameters from the query string of a write, as real Vault does', async () => {
    const res = await call(vault, 'pki/issue/fast?common_name=a.svc&ttl=10m', { token: 'root', method: 'PUT' });
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /common_name field is required/);
  });

  it('mints a new serial and key each time', async () => {
    const a = await call(vault, 'pki/issue/fast', { token: 'root', method: 'PUT', body: { common_name: 'a.svc', ttl: '10m' } });
    const b = await call(vault, 'pki/issue/fast', { token: 'root', method: 'POST', body: { common_name: 'a.svc', ttl: '10m' } });
    assert.equal(a.status, 200, a.text);
    assert.notEqual(pick(a.json, 'data', 'serial_number'), pick(b.json, 'data', 'serial_number'));
    assert.notEqual(pick(a.json, 'data', 'private_key'), pick(b.json, 'data', 'private_key'));
    assert.equal(pick(a.json, 'data', 'private_key_type'), 'ec');
    assert.equal(pick(a.json, 'data', 'expiration'), Math.floor(clock.now() / 1000) + 600);
    assert.equal(vault.requests.at(-1)?.kind, 'issue');
  });

  it('supports format=der and caps ttl at max_ttl with a warning', async () => {
    const res = await call(vault, 'pki/issue/fast', { token: 'root', body: { common_name: 'b.svc', format: 'der', ttl: '48h' } });
    const der = Buffer.from(str(pick(res.json, 'data', 'certificate')), 'base64');
    const cert = new X509Certificate(der);
    assert.equal(cert.subject, 'CN=b.svc');
    assert.equal(pick(res.json, 'data', 'expiration'), Math.floor(clock.now() / 1000) + 3600);
    assert.match(String((res.json!['warnings'] as string[])[0]), /maxTTL/);
  });

  it('refuses names outside the role and unknown roles', async () => {
    const bad = await call(vault, 'pki/issue/web', { token: 'root', body: { common_name: 'evil.org' } });
    assert.deepEqual(bad.json, { errors: ['common name evil.org not allowed by this role'] });
    const alt = await call(vault, 'pki/issue/web', { token: 'root', body: { common_name: 'a.example.com', alt_names: 'x.org' } });
    assert.deepEqual(alt.json, { errors: ['subject alternate name x.org not allowed by this role'] });
    const role = await call(vault, 'pki/issue/none', { token: 'root', body: { common_name: 'a.example.com' } });
    assert.deepEqual(role.json, { errors: ['unknown role: none'] });
    const noCn = await call(vault, 'pki/issue/web', { token: 'root', body: {} });
    assert.equal(noCn.status, 400);
  });

  it('serves the CA without a token', async () => {
    const res = await fetch(`${vault.address}/v1/pki/ca/pem`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^-----BEGIN CERTIFICATE-----/);
  });

  it('serves ca (DER), ca_chain, cert/ca and cert/ca_chain without a token, typed and shaped as Vault does', async () => {
    const issued = await call(vault, 'pki/issue/fast', { token: 'root', body: { common_name: 'k.svc' } });
    const leaf = new x509.X509Certificate(str(pick(issued.json, 'data', 'certificate')));
    const aki = colonHex(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId!);
    assert.equal(pick(issued.json, 'data', 'authority_key_id'), aki);

    const der = await fetch(`${vault.address}/v1/pki/ca`);
    assert.equal(der.headers.get('content-type'), 'application/pkix-cert');
    const issuing = new X509Certificate(Buffer.from(await der.arrayBuffer()));
    assert.equal(issuing.fingerprint256, new X509Certificate(str(pick(issued.json, 'data', 'issuing_ca'))).fingerprint256);
    const chain = await fetch(`${vault.address}/v1/pki/ca_chain`);
    assert.equal(chain.headers.get('content-type'), 'application/pkix-cert');
    assert.match(await chain.text(), /^-----BEGIN CERTIFICATE-----/);

    // cert/ca is unauthenticated: a token that may read nothing of pki/ is not refused.
    const certCa = await call(vault, 'pki/cert/ca', { token: vault.createToken({ policies: [] }) });
    assert.equal(certCa.status, 200, certCa.text);
    assert.deepEqual(Object.keys(certCa.json!['data'] as object).sort(), ['authority_key_id', 'certificate', 'revocation_time', 'revocation_time_rfc3339']);
    const certChain = await call(vault, 'pki/cert/ca_chain');
    assert.equal(certChain.status, 200, certChain.text);
    assert.equal(typeof pick(certChain.json, 'data', 'ca_chain'), 'string');
    assert.equal(new X509Certificate(str(pick(certChain.json, 'data', 'certificate'))).fingerprint256, issuing.fingerprint256);
  });

  it('answers an operation a served path does not take with 405, as Vault does (a GET of issue/<role>)', async () => {
    const res = await call(vault, 'pki/issue/fast', { token: 'root' });
    assert.equal(res.status, 405);
    assert.deepEqual(res.json, { errors: ['1 error occurred:\n\t* unsupported operation\n\n'] });
    assert.equal((await call(vault, 'pki/nonsense', { token: 'root' })).status, 404);
  });

  it('without a ttl starts from the system default 768h, capped at max_ttl with Vault\'s warning', async () => {
    const res = await call(vault, 'pki/issue/fast', { token: 'root', body: { common_name: 'n.svc' } });
    assert.equal(pick(res.json, 'data', 'expiration'), Math.floor(clock.now() / 1000) + 3600);
    assert.deepEqual(res.json!['warnings'], ['TTL "768h0m0s" is longer than permitted maxTTL "1h0m0s", so maxTTL is being used']);
  });
});
