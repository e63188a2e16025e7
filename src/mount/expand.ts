/**
 * `expand` (ours): `keys` (vault-csi-provider#192) writes one file per key, a key unfit as a file name being an error,
 * never dropped; `pki` (vault-csi-provider#372) writes the kubernetes.io/tls layout. Pure.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { ProviderError } from '../errors.js';
import type { ObjectConfig } from '../config/types.js';
import type { SecretResponse } from '../vault/responses.js';
import { MAX_COMPONENT_BYTES } from '../config/file-paths.js';
import { decodeValue, keyMap, responseData, valueBytes } from './extract.js';
import { quoted } from '../shared/message-text.js';

/** One file of an expanded object; `name` is relative to the object's directory. */
export interface ExpandedFile {
  readonly name: string;
  readonly contents: Buffer;
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /\p{Cs}/u;

/** One component, not `.`, `..` or `..*` (the writer's names), no control characters, valid Unicode, ≤ 255 bytes. */
export function keyFileNameProblem(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.includes('/')) return 'it contains "/"';
  if (key === '.' || key === '..') return `it is "${key}"`;
  if (key.startsWith('..')) return 'it starts with ".."';
  if (CONTROL.test(key)) return 'it contains a control character';
  if (LONE_SURROGATE.test(key)) return 'it is not valid Unicode';
  if (Buffer.byteLength(key, 'utf8') > MAX_COMPONENT_BYTES) return `it is longer than ${MAX_COMPONENT_BYTES} bytes`;
  return undefined;
}

/** Every key of the key map as a file, sorted by name so the order (and the version) never depends on Vault's. */
export function expandKeys(obj: ObjectConfig, response: SecretResponse): ExpandedFile[] {
  const map = keyMap(responseData(response));
  const keys = Object.keys(map).sort();
  for (const key of keys) {
    const problem = keyFileNameProblem(key);
    if (problem !== undefined) {
      throw new ProviderError(
        'INVALID_CONFIG',
        `key ${quoted(key)} of the secret cannot be a file name under "${obj.objectName}/": ${problem}; read it with secretKey or jsonPointer in an object of its own`,
        {},
      );
    }
  }
  return keys.map((key) => ({ name: key, contents: decodeValue(valueBytes(map[key]), obj, `key ${quoted(key)}`) }));
}

const KEY_LABELS: ReadonlySet<string> = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);

export interface PemBlock {
  readonly label: string;
  readonly text: string;
}

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';

/** A PEM label character: A-Z, 0-9 or a space. */
function isLabelChar(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) || code === 0x20;
}

/** The label of a `<marker><LABEL>-----` at `at`, and where it ends; undefined when there is none. */
function labelAt(text: string, at: number, marker: string): { label: string; after: number } | undefined {
  const start = at + marker.length;
  let end = start;
  while (end < text.length && isLabelChar(text.charCodeAt(end))) end++;
  if (end === start || !text.startsWith(DASHES, end)) return undefined;
  return { label: text.slice(start, end), after: end + DASHES.length };
}

/** The first of the ascending `positions` at or after `from`, or -1. */
function firstAtOrAfter(positions: readonly number[], from: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (positions[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < positions.length ? positions[lo]! : -1;
}

/** Linear in a tenant's text: every END marker is found in one pass, then each BEGIN looks its END up by label. */
export function pemBlocks(text: string): PemBlock[] {
  const ends = new Map<string, number[]>();
  for (let at = text.indexOf(END); at !== -1; at = text.indexOf(END, at + 1)) {
    const found = labelAt(text, at, END);
    if (found === undefined) continue;
    const list = ends.get(found.label);
    if (list === undefined) ends.set(found.label, [at]);
    else list.push(at);
  }
  const blocks: PemBlock[] = [];
  if (ends.size === 0) return blocks;
  let from = 0;
  for (let at = text.indexOf(BEGIN, from); at !== -1; at = text.indexOf(BEGIN, from)) {
    const found = labelAt(text, at, BEGIN);
    let body = found?.after ?? -1;
    if (body !== -1 && text.charCodeAt(body) === 0x0d) body++;
    if (found === undefined || text.charCodeAt(body) !== 0x0a) {
      from = at + 1;
      continue;
    }
    const end = firstAtOrAfter(ends.get(found.label) ?? [], body + 1);
    if (end === -1) {
      from = at + 1;
      continue;
    }
    from = end + END.length + found.label.length + DASHES.length;
    blocks.push({ label: found.label, text: text.slice(at, from) });
  }
  return blocks;
}

function bad(message: string): ProviderError {
  return new ProviderError('DECODE_FAILED', message, {});
}

function stringField(map: Record<string, unknown>, field: string): string | undefined {
  if (!Object.hasOwn(map, field)) return undefined;
  const value = map[field];
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw bad(`field "${field}" is not a PEM string`);
  return value;
}

/** Certificates of one PEM text; anything but CERTIFICATE blocks is refused (a pem_bundle would hide a key). */
function certificates(text: string, field: string): X509Certificate[] {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw bad(`field "${field}" holds no PEM certificate (ask the PKI for format "pem")`);
  return blocks.map((block) => {
    if (block.label !== 'CERTIFICATE') {
      throw bad(`field "${field}" holds a PEM "${block.label}" block where only certificates belong (ask the PKI for format "pem")`);
    }
    try {
      return new X509Certificate(block.text);
    } catch {
      throw bad(`field "${field}" holds a PEM block that is not a valid X.509 certificate`);
    }
  });
}

function privateKey(text: string): { pem: string; key: KeyObject } {
  const blocks = pemBlocks(text);
  const only = blocks[0];
  if (blocks.length !== 1 || only === undefined || !KEY_LABELS.has(only.label)) {
    throw bad('field "private_key" must hold exactly one PEM private key (ask the PKI for format "pem")');
  }
  try {
    return { pem: `${only.text}\n`, key: createPrivateKey(only.text) };
  } catch {
    throw bad('field "private_key" is not a valid PEM private key');
  }
}

function selfSigned(cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    // A key type OpenSSL cannot verify with: not provably a root, so it is treated as an intermediate.
    return false;
  }
}

/** The CA certificates of the response: ca_chain (Vault's full chain, issuer first) or else issuing_ca. */
function chainOf(map: Record<string, unknown>): X509Certificate[] {
  const raw = Object.hasOwn(map, 'ca_chain') ? map['ca_chain'] : undefined;
  if (Array.isArray(raw) && raw.length > 0) {
    return raw.flatMap((entry: unknown) => {
      if (typeof entry !== 'string') throw bad('field "ca_chain" must be a list of PEM strings');
      return certificates(entry, 'ca_chain');
    });
  }
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) throw bad('field "ca_chain" must be a list of PEM strings');
  const issuing = stringField(map, 'issuing_ca');
  if (issuing === undefined) {
    throw new ProviderError('KEY_NOT_FOUND', 'the response has neither "ca_chain" nor "issuing_ca", so there is no ca.crt to write', {});
  }
  return certificates(issuing, 'issuing_ca');
}

function required(map: Record<string, unknown>, field: string): string {
  const value = stringField(map, field);
  if (value === undefined) throw new ProviderError('KEY_NOT_FOUND', `the response has no "${field}" for the PKI bundle`, {});
  return value;
}

/** `tls.crt`: the certificate and intermediates (roots left out, as servers send); `ca.crt`: the root(s), else the topmost. */
export function expandPki(response: SecretResponse): ExpandedFile[] {
  const map = keyMap(responseData(response));
  const leafCerts = certificates(required(map, 'certificate'), 'certificate');
  const leaf = leafCerts[0]!;
  const { pem: keyPem, key } = privateKey(required(map, 'private_key'));
  if (!leaf.checkPrivateKey(key)) throw bad('the private key does not belong to the certificate');

  const seen = new Set<string>([leaf.fingerprint256]);
  const chain: X509Certificate[] = [];
  for (const cert of [...leafCerts.slice(1), ...chainOf(map)]) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    chain.push(cert);
  }
  if (chain.length === 0) throw new ProviderError('KEY_NOT_FOUND', 'the response holds no CA certificate for ca.crt', {});
  const roots = chain.filter(selfSigned);
  const intermediates = chain.filter((cert) => !roots.includes(cert));
  const pem = (certs: readonly X509Certificate[]): Buffer => Buffer.from(certs.map((c) => c.toString()).join(''), 'utf8');
  return [
    { name: 'tls.crt', contents: pem([leaf, ...intermediates]) },
    { name: 'tls.key', contents: Buffer.from(keyPem, 'utf8') },
    { name: 'ca.crt', contents: pem(roots.length > 0 ? roots : [chain[chain.length - 1]!]) },
  ];
}

/** Each name and content length-prefixed, so no two file sets give the same input. */
export function expandedVersionInput(files: readonly ExpandedFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const name = Buffer.from(file.name, 'utf8');
    const lengths = Buffer.alloc(16);
    lengths.writeBigUInt64BE(BigInt(name.length), 0);
    lengths.writeBigUInt64BE(BigInt(file.contents.length), 8);
    parts.push(lengths, name, file.contents);
  }
  return Buffer.concat(parts);
}
