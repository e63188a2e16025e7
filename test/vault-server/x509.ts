// X.509 building blocks on @peculiar/x509 (pure JS over WebCrypto), shared by the PKI engine and
// the TLS fixtures, so no openssl binary is ever needed.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';

// WebCrypto types live in the DOM lib, which this project does not load; borrow the parameter type.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;

export type KeyType = 'rsa' | 'ec';

export interface KeyMaterial {
  readonly type: KeyType;
  readonly keys: CryptoKeyPair;
}

export async function generateKeys(type: KeyType, bits?: number): Promise<KeyMaterial> {
  const algorithm = type === 'rsa'
    ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: bits ?? 2048 }
    : { name: 'ECDSA', namedCurve: bits === 384 ? 'P-384' : bits === 521 ? 'P-521' : 'P-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  return { type, keys };
}

function signingAlgorithm(type: KeyType): Algorithm {
  return type === 'rsa'
    ? ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm)
    : ({ name: 'ECDSA', hash: 'SHA-256' } as Algorithm);
}

/**
 * PEM of a private key. `traditional` is PKCS#1 for RSA and SEC1 for EC, which is what Vault's PKI
 * returns by default (private_key_format=der/pem); `pkcs8` is the alternative.
 */
export async function privateKeyPem(material: KeyMaterial, format: 'traditional' | 'pkcs8' = 'traditional'): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', material.keys.privateKey));
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  if (format === 'pkcs8') return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  return key.export({ type: material.type === 'rsa' ? 'pkcs1' : 'sec1', format: 'pem' }).toString();
}

export async function privateKeyDerBase64(material: KeyMaterial, format: 'traditional' | 'pkcs8' = 'traditional'): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', material.keys.privateKey));
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const type = format === 'pkcs8' ? 'pkcs8' : material.type === 'rsa' ? 'pkcs1' : 'sec1';
  return key.export({ type, format: 'der' }).toString('base64');
}

/** 20 random bytes with the top bit cleared: a positive serial, as RFC 5280 asks. */
export function randomSerialHex(): string {
  const bytes = randomBytes(20);
  bytes[0] = bytes[0]! & 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes.toString('hex');
}

/** Vault prints serials as colon-separated lowercase hex pairs. */
export function colonHex(hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  return (even.match(/../g) ?? []).join(':').toLowerCase();
}

export interface Issuer {
  readonly cert: x509.X509Certificate;
  readonly key: KeyMaterial;
}

export interface CertSpec {
  readonly commonName: string;
  readonly organization?: string;
  readonly serialHex?: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly key: KeyMaterial;
  /** Absent: self-signed with `key`. */
  readonly issuer?: Issuer;
  readonly isCa?: boolean;
  readonly pathLength?: number;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly emails?: readonly string[];
  readonly serverAuth?: boolean;
  readonly clientAuth?: boolean;
}

export async function createCertificate(spec: CertSpec): Promise<x509.X509Certificate> {
  const subject: x509.JsonName = [{ CN: [spec.commonName] }, ...(spec.organization ? [{ O: [spec.organization] }] : [])];
  const extensions: x509.Extension[] = [];
  if (spec.isCa) {
    extensions.push(new x509.BasicConstraintsExtension(true, spec.pathLength, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true));
  } else {
    const usage = spec.key.type === 'rsa'
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement
      : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement;
    extensions.push(new x509.KeyUsagesExtension(usage, true));
    const eku: string[] = [];
    if (spec.serverAuth ?? true) eku.push(x509.ExtendedKeyUsage.serverAuth);
    if (spec.clientAuth ?? true) eku.push(x509.ExtendedKeyUsage.clientAuth);
    if (eku.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
  }
  const names: x509.JsonGeneralName[] = [
    ...(spec.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(spec.emails ?? []).map((value) => ({ type: 'email' as const, value })),
    ...(spec.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(spec.key.keys.publicKey));

  const serialNumber = spec.serialHex ?? randomSerialHex();
  if (!spec.issuer) {
    return x509.X509CertificateGenerator.createSelfSigned({
      serialNumber, name: subject, notBefore: spec.notBefore, notAfter: spec.notAfter,
      signingAlgorithm: signingAlgorithm(spec.key.type), keys: spec.key.keys, extensions,
    });
  }
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(spec.issuer.cert, false));
  return x509.X509CertificateGenerator.create({
    serialNumber, subject, issuer: spec.issuer.cert.subjectName, notBefore: spec.notBefore, notAfter: spec.notAfter,
    signingAlgorithm: signingAlgorithm(spec.issuer.key.type), publicKey: spec.key.keys.publicKey,
    signingKey: spec.issuer.key.keys.privateKey, extensions,
  });
}

export function certPem(cert: x509.X509Certificate): string {
  // Vault returns PEM without a trailing newline; keep that shape.
  return cert.toString('pem').trim();
}

export function certDerBase64(cert: x509.X509Certificate): string {
  return Buffer.from(cert.rawData).toString('base64');
}

/** The hex key id of a certificate's subject key identifier extension, if it has one. */
export function subjectKeyId(cert: x509.X509Certificate): string | undefined {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
}

/** The hex key id of a certificate's authority key identifier extension, if it has one. */
export function authorityKeyId(cert: x509.X509Certificate): string | undefined {
  return cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
}

export type { X509Certificate as PeculiarCertificate } from '@peculiar/x509';
