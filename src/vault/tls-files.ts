/** As Vault's Go client (go-rootcerts): a CA file takes precedence over a CA directory of certificate files. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, ProviderError } from '../errors.js';
import type { ConnectionSettings } from '../config/types.js';
import type { TlsMaterial } from './transport.js';

/** The file reads this module needs, so tests can point it elsewhere. */
export interface TlsFileReader {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  isFile(path: string): Promise<boolean>;
}

export const nodeTlsFileReader: TlsFileReader = {
  readFile: (path) => readFile(path, 'utf8'),
  readdir: (path) => readdir(path),
  isFile: async (path) => (await stat(path)).isFile(),
};

const BEGIN_CERT = '-----BEGIN CERTIFICATE-----';
const END_CERT = '-----END CERTIFICATE-----';

/** By indexOf, each search starting where the last ended: a lazy regex was quadratic in the file's size. */
export function pemCertificates(pem: string): string[] {
  const certs: string[] = [];
  let from = 0;
  for (;;) {
    const begin = pem.indexOf(BEGIN_CERT, from);
    if (begin === -1) return certs;
    const end = pem.indexOf(END_CERT, begin + BEGIN_CERT.length + 1);
    // No END after this BEGIN: none after any later one either.
    if (end === -1) return certs;
    from = end + END_CERT.length;
    certs.push(pem.slice(begin, from));
  }
}

async function readNamed(reader: TlsFileReader, path: string, parameter: string): Promise<string> {
  try {
    return await reader.readFile(path);
  } catch (err: unknown) {
    throw new ProviderError('LOCAL_FILE_ERROR', `cannot read ${parameter} "${path}" (${errnoCode(err) ?? 'error'})`, {
      parameter,
    });
  }
}

function certificatesIn(pem: string, path: string, parameter: string): string[] {
  const certs = pemCertificates(pem);
  if (certs.length === 0) {
    throw new ProviderError('LOCAL_FILE_ERROR', `${parameter} "${path}" holds no PEM certificate`, { parameter });
  }
  return certs;
}

async function loadCaDirectory(reader: TlsFileReader, dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await reader.readdir(dir);
  } catch (err: unknown) {
    throw new ProviderError('LOCAL_FILE_ERROR', `cannot read vaultCADirectory "${dir}" (${errnoCode(err) ?? 'error'})`, {
      parameter: 'vaultCADirectory',
    });
  }
  const certs: string[] = [];
  // Hidden entries are skipped: a ConfigMap or Secret volume keeps `..data` and timestamped directories there.
  for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
    const path = join(dir, name);
    if (!(await reader.isFile(path).catch(() => false))) continue;
    certs.push(...certificatesIn(await readNamed(reader, path, 'vaultCADirectory'), path, 'vaultCADirectory'));
  }
  if (certs.length === 0) {
    throw new ProviderError('LOCAL_FILE_ERROR', `vaultCADirectory "${dir}" holds no PEM certificate`, {
      parameter: 'vaultCADirectory',
    });
  }
  return certs;
}

export async function loadTlsMaterial(
  tls: ConnectionSettings['tls'],
  reader: TlsFileReader = nodeTlsFileReader,
): Promise<TlsMaterial> {
  let ca: string[] | undefined;
  if (tls.caCertPath !== undefined) {
    ca = certificatesIn(await readNamed(reader, tls.caCertPath, 'vaultCACertPath'), tls.caCertPath, 'vaultCACertPath');
  } else if (tls.caDirectory !== undefined) {
    ca = await loadCaDirectory(reader, tls.caDirectory);
  }
  const cert =
    tls.clientCertPath === undefined ? undefined : await readNamed(reader, tls.clientCertPath, 'vaultTLSClientCertPath');
  const key =
    tls.clientKeyPath === undefined ? undefined : await readNamed(reader, tls.clientKeyPath, 'vaultTLSClientKeyPath');
  return { ca, cert, key, servername: tls.serverName, rejectUnauthorized: !tls.skipVerify };
}
