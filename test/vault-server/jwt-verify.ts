// JWT verification with the semantics of hashicorp/cap's validator, which both the Kubernetes and
// the JWT auth plugins use: signature first, then iss/sub/aud, then time claims with 60s skew.
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { isJsonObject } from './util.js';
import type { JsonObject } from './types.js';

/** cap's default clock-skew leeway, applied to nbf, exp and iat. */
const CLOCK_SKEW_SECONDS = 60;
/** cap's default exp/nbf leeway, used only to synthesise a missing exp or nbf. */
const DEFAULT_LEEWAY_SECONDS = 150;

export interface VerifyOptions {
  readonly keys: readonly KeyObject[];
  readonly nowMs: number;
  readonly issuer?: string | undefined;
  readonly subject?: string | undefined;
  readonly audiences?: readonly string[] | undefined;
  /** The JWT plugin rejects tokens without any of iat/nbf/exp; the Kubernetes plugin allows them. */
  readonly requireTimeClaim: boolean;
}

export type VerifyResult =
  | { readonly ok: true; readonly claims: JsonObject }
  | { readonly ok: false; readonly error: string; readonly signatureError: boolean };

export function parsePublicKeys(pems: readonly string[]): KeyObject[] {
  return pems.map((pem) => createPublicKey(pem));
}

function b64urlJson(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

interface AlgSpec { readonly hash: string; readonly family: 'rsa' | 'rsa-pss' | 'ec' }

const ALGS: Record<string, AlgSpec> = {
  RS256: { hash: 'sha256', family: 'rsa' }, RS384: { hash: 'sha384', family: 'rsa' }, RS512: { hash: 'sha512', family: 'rsa' },
  PS256: { hash: 'sha256', family: 'rsa-pss' }, PS384: { hash: 'sha384', family: 'rsa-pss' }, PS512: { hash: 'sha512', family: 'rsa-pss' },
  ES256: { hash: 'sha256', family: 'ec' }, ES384: { hash: 'sha384', family: 'ec' }, ES512: { hash: 'sha512', family: 'ec' },
};

function verifyWith(key: KeyObject, spec: AlgSpec, data: Buffer, sig: Buffer): boolean {
  try {
    if (spec.family === 'ec') {
      if (key.asymmetricKeyType !== 'ec') return false;
      return verify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
    if (key.asymmetricKeyType !== 'rsa') return false;
    if (spec.family === 'rsa-pss') {
      return verify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
    }
    return verify(spec.hash, data, key, sig);
  } catch {
    // A malformed signature is just a failed verification.
    return false;
  }
}

function fail(error: string, signatureError = false): VerifyResult {
  return { ok: false, error, signatureError };
}

function numericClaim(claims: JsonObject, name: string): number {
  const v = claims[name];
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0;
}

export function audienceOf(claims: JsonObject): string[] {
  const aud = claims['aud'];
  if (typeof aud === 'string') return aud === '' ? [] : [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === 'string');
  return [];
}

export function verifyJwt(token: string, opts: VerifyOptions): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3) return fail('error verifying token signature: compact JWS format must have three parts', true);
  let header: unknown;
  let claims: unknown;
  try {
    header = b64urlJson(parts[0]!);
    claims = b64urlJson(parts[1]!);
  } catch {
    return fail('error verifying token signature: failed to decode token', true);
  }
  if (!isJsonObject(header) || !isJsonObject(claims)) return fail('error verifying token signature: malformed token', true);
  const alg = typeof header['alg'] === 'string' ? header['alg'] : '';
  const spec = ALGS[alg];
  const data = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  const sig = Buffer.from(parts[2]!, 'base64url');
  if (!spec || !opts.keys.some((k) => verifyWith(k, spec, data, sig))) {
    return fail('error verifying token signature: no known key successfully validated the token signature', true);
  }

  if (opts.issuer && claims['iss'] !== opts.issuer) return fail('invalid issuer (iss) claim');
  if (opts.subject && claims['sub'] !== opts.subject) return fail('invalid subject (sub) claim');
  if (opts.audiences && opts.audiences.length > 0) {
    const aud = audienceOf(claims);
    if (!opts.audiences.some((a) => aud.includes(a))) {
      return fail('invalid audience (aud) claim: audience claim does not match any expected audience');
    }
  }

  const iat = numericClaim(claims, 'iat');
  let exp = numericClaim(claims, 'exp');
  let nbf = numericClaim(claims, 'nbf');
  if (iat === 0 && exp === 0 && nbf === 0) {
    if (!opts.requireTimeClaim) return { ok: true, claims };
    return fail('no issued at (iat), not before (nbf), or expiration time (exp) claims in token');
  }
  if (exp === 0) exp = Math.max(iat, nbf) + DEFAULT_LEEWAY_SECONDS;
  if (nbf === 0) nbf = iat !== 0 ? iat : exp - DEFAULT_LEEWAY_SECONDS;
  const now = opts.nowMs / 1000;
  if (now + CLOCK_SKEW_SECONDS < nbf) return fail('invalid not before (nbf) claim: token not yet valid');
  if (now - CLOCK_SKEW_SECONDS > exp) return fail('invalid expiration time (exp) claim: token is expired');
  if (iat !== 0 && now + CLOCK_SKEW_SECONDS < iat) return fail('invalid issued at (iat) claim: token issued in the future');
  return { ok: true, claims };
}
