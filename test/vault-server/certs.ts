// Throwaway TLS material for tests: a CA, a server certificate for 127.0.0.1/localhost (plus one
// per SNI name), and a client certificate, as PEM strings and, on request, as files on disk.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certPem, createCertificate, generateKeys, privateKeyPem, type KeyType } from './x509.js';
import type { Clock } from './types.js';

export interface TlsMaterial {
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  /** SNI name → its own server certificate (signed by the same CA). */
  readonly sni: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
  /** A second, unrelated CA: useful to prove that a wrong CA is rejected. */
  readonly otherCaCertPem: string;
}

export interface TlsMaterialOptions {
  /** Extra SNI names to mint separate server certificates for. */
  readonly sniNames?: readonly string[];
  /** Extra DNS names for the default server certificate (localhost is always present). */
  readonly serverDnsNames?: readonly string[];
  readonly clientCommonName?: string;
  readonly now?: Clock;
  /** Default `ec` (P-256): fast to generate; `rsa` for 2048-bit RSA. */
  readonly keyType?: KeyType;
  readonly validitySeconds?: number;
}

export async function createTlsMaterial(options: TlsMaterialOptions = {}): Promise<TlsMaterial> {
  const now = (options.now ?? Date.now)();
  const keyType = options.keyType ?? 'ec';
  const notBefore = new Date(now - 60_000);
  const notAfter = new Date(now + (options.validitySeconds ?? 86400) * 1000);

  const caKey = await generateKeys(keyType);
  const caCert = await createCertificate({ commonName: 'Vault Test CA', organization: 'vault-csi-provider tests', notBefore, notAfter, key: caKey, isCa: true });
  const issuer = { cert: caCert, key: caKey };

  const serverKey = await generateKeys(keyType);
  const serverCert = await createCertificate({
    commonName: 'localhost', notBefore, notAfter, key: serverKey, issuer,
    dnsNames: ['localhost', ...(options.serverDnsNames ?? [])], ipAddresses: ['127.0.0.1', '::1'],
    serverAuth: true, clientAuth: false,
  });

  const clientKey = await generateKeys(keyType);
  const clientCert = await createCertificate({
    commonName: options.clientCommonName ?? 'vault-csi-provider', notBefore, notAfter, key: clientKey, issuer,
    serverAuth: false, clientAuth: true,
  });

  const sni: Record<string, { cert: string; key: string }> = {};
  for (const name of options.sniNames ?? []) {
    const key = await generateKeys(keyType);
    const cert = await createCertificate({ commonName: name, notBefore, notAfter, key, issuer, dnsNames: [name], serverAuth: true, clientAuth: false });
    sni[name] = { cert: `${certPem(cert)}\n`, key: await privateKeyPem(key, 'pkcs8') };
  }

  const otherKey = await generateKeys(keyType);
  const otherCa = await createCertificate({ commonName: 'Unrelated Test CA', notBefore, notAfter, key: otherKey, isCa: true });

  return {
    caCertPem: `${certPem(caCert)}\n`,
    caKeyPem: await privateKeyPem(caKey, 'pkcs8'),
    serverCertPem: `${certPem(serverCert)}\n`,
    serverKeyPem: await privateKeyPem(serverKey, 'pkcs8'),
    clientCertPem: `${certPem(clientCert)}\n`,
    clientKeyPem: await privateKeyPem(clientKey, 'pkcs8'),
    sni,
    otherCaCertPem: `${certPem(otherCa)}\n`,
  };
}

export interface TlsFiles {
  readonly dir: string;
  /** PEM file holding the CA certificate. */
  readonly caFile: string;
  /** Directory holding only the CA certificate (`ca.pem`), for `vaultCADirectory`-style options. */
  readonly caDir: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** Removes the whole directory. */
  cleanup(): Promise<void>;
}

/** Writes the material into a fresh temp dir (keys 0600) and returns the paths. */
export async function writeTlsFiles(material: TlsMaterial, parentDir: string = tmpdir()): Promise<TlsFiles> {
  const dir = await mkdtemp(join(parentDir, 'vault-test-tls-'));
  const caDir = join(dir, 'ca.d');
  await mkdir(caDir);
  const files = {
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server-key.pem'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client-key.pem'),
  };
  await writeFile(files.caFile, material.caCertPem);
  await writeFile(join(caDir, 'ca.pem'), material.caCertPem);
  await writeFile(files.serverCertFile, material.serverCertPem);
  await writeFile(files.serverKeyFile, material.serverKeyPem, { mode: 0o600 });
  await writeFile(files.clientCertFile, material.clientCertPem);
  await writeFile(files.clientKeyFile, material.clientKeyPem, { mode: 0o600 });
  return { dir, caDir, ...files, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
