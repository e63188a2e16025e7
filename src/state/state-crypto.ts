/**
 * The kept state's envelope: AES-256-GCM under a key derived (HKDF-SHA256) from the HMAC key. The header and the
 * socket's name are authenticated data: a file of another endpoint or version does not open. Pure.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const MAGIC = Buffer.from('VCPSTATE', 'latin1');
const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1;
/** What the envelope adds to the plaintext. */
export const ENVELOPE_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

/** Fixed, public: HKDF's salt only separates this use of the HMAC key from any other. */
const SALT = Buffer.from('vault-csi-provider kept state', 'utf8');

export interface StateKeys {
  /** AES-256-GCM key of the state file. */
  readonly encryption: Buffer;
  /** Key of the credential digests in the token cache's keys (approle, userpass, cert), stable across restarts. */
  readonly credentialDigest: Buffer;
}

/** Independent keys for each use, from the HMAC key (32 random bytes in a Kubernetes Secret, or a file). */
export function deriveStateKeys(hmacKey: Buffer): StateKeys {
  const derive = (info: string): Buffer => Buffer.from(hkdfSync('sha256', hmacKey, SALT, Buffer.from(info, 'utf8'), 32));
  return { encryption: derive('state file v1: aes-256-gcm'), credentialDigest: derive('token cache v1: credential digests') };
}

export type UnreadableReason = 'not-a-state-file' | 'unsupported-version' | 'authentication-failed';

/** Why a state file cannot be used. Says nothing of its contents. */
export class StateUnreadable extends Error {
  override readonly name = 'StateUnreadable';
  constructor(readonly reason: UnreadableReason) {
    super(
      reason === 'authentication-failed'
        ? 'the state file was written under another key (another HMAC key) or altered since: its authentication tag does not match'
        : reason === 'unsupported-version'
          ? 'the state file was written by a version of the provider this one does not read'
          : 'the file is not a state file (or is truncated)',
    );
  }
}

function aad(header: Buffer, context: string): Buffer {
  return Buffer.concat([header, Buffer.from(context, 'utf8')]);
}

export function sealState(plaintext: Buffer, key: Buffer, context: string): Buffer {
  const header = Buffer.concat([MAGIC, Buffer.from([VERSION])]);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(header, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
}

/** The plaintext, or StateUnreadable: not ours, another version, another key, a flipped byte, a truncation. */
export function openState(sealed: Buffer, key: Buffer, context: string): Buffer {
  if (sealed.length < ENVELOPE_BYTES || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) throw new StateUnreadable('not-a-state-file');
  if (sealed[MAGIC.length] !== VERSION) throw new StateUnreadable('unsupported-version');
  const header = sealed.subarray(0, HEADER_BYTES);
  const nonce = sealed.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const body = sealed.subarray(HEADER_BYTES + NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(header, context));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new StateUnreadable('authentication-failed');
  }
}
