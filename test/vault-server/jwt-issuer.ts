// Signs Kubernetes-style projected ServiceAccount JWTs for tests, with a key pair whose public half
// is configured into the test Vault's kubernetes/jwt auth methods.
import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { Clock, JsonObject } from './types.js';

export const DEFAULT_K8S_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ServiceAccountTokenOptions {
  readonly namespace: string;
  readonly serviceAccountName: string;
  readonly serviceAccountUid?: string;
  readonly podName?: string;
  readonly podUid?: string;
  /** No pod binding (no `kubernetes.io.pod` claim), as the secrets-store-sync-controller's tokens are. */
  readonly unbound?: boolean;
  /** A `kubernetes.io.node` claim, as tokens bound to a Node (the secrets-store-sync-controller's) carry. */
  readonly node?: { readonly name: string; readonly uid: string };
  /** Default `['vault']`, the audience the CSI driver requests for the provider. */
  readonly audience?: string | readonly string[];
  /** Lifetime from the clock's now; default 600 s. Ignored when `expiresAtMs` is given. */
  readonly ttlSeconds?: number;
  readonly expiresAtMs?: number;
  readonly issuedAtMs?: number;
  readonly notBeforeMs?: number;
  readonly issuer?: string;
  /** Sign with a key the server does not know, to provoke a signature failure. */
  readonly wrongKey?: boolean;
  /** Extra or overriding claims. */
  readonly extraClaims?: JsonObject;
  /** Drop time claims, e.g. to exercise the "no exp" paths. */
  readonly omitClaims?: readonly ('exp' | 'iat' | 'nbf')[];
}

export interface SignOptions {
  readonly wrongKey?: boolean;
}

interface KeyPair { readonly privateKey: KeyObject; readonly publicKey: KeyObject; readonly kid: string }

function makeKeyPair(keyType: 'rsa' | 'ec'): KeyPair {
  const { privateKey, publicKey } = keyType === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // Kubernetes derives kid from the SHA-256 of the DER public key; same idea here.
  const kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
  return { privateKey, publicKey, kid };
}

export class ServiceAccountJwtIssuer {
  readonly issuer: string;
  readonly alg: 'RS256' | 'ES256';
  private readonly keys: KeyPair;
  private otherKeys: KeyPair | undefined;
  private readonly keyType: 'rsa' | 'ec';
  private readonly clock: Clock;

  constructor(options: { issuer?: string; now?: Clock; keyType?: 'rsa' | 'ec' } = {}) {
    this.issuer = options.issuer ?? DEFAULT_K8S_ISSUER;
    this.clock = options.now ?? Date.now;
    this.keyType = options.keyType ?? 'rsa';
    this.alg = this.keyType === 'rsa' ? 'RS256' : 'ES256';
    this.keys = makeKeyPair(this.keyType);
  }

  /** PEM (SPKI) of the signing key: pass it to `enableKubernetesAuth({ publicKeysPem: [...] })`. */
  get publicKeyPem(): string {
    return this.keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** Signs arbitrary claims (for JWT/OIDC auth tests). */
  signClaims(claims: JsonObject, options: SignOptions = {}): string {
    const pair = options.wrongKey ? (this.otherKeys ??= makeKeyPair(this.keyType)) : this.keys;
    const header = { alg: this.alg, kid: pair.kid, typ: 'JWT' };
    const head = Buffer.from(JSON.stringify(header)).toString('base64url');
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const data = Buffer.from(`${head}.${body}`, 'ascii');
    const signature = this.keyType === 'rsa'
      ? sign('sha256', data, pair.privateKey)
      : sign('sha256', data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${head}.${body}.${signature.toString('base64url')}`;
  }

  /** The claims a projected ServiceAccount token would carry, before signing. */
  serviceAccountClaims(opts: ServiceAccountTokenOptions): JsonObject {
    const nowMs = opts.issuedAtMs ?? this.clock();
    const iat = Math.floor(nowMs / 1000);
    const exp = opts.expiresAtMs !== undefined ? Math.floor(opts.expiresAtMs / 1000) : iat + (opts.ttlSeconds ?? 600);
    const nbf = opts.notBeforeMs !== undefined ? Math.floor(opts.notBeforeMs / 1000) : iat;
    const audience = opts.audience === undefined ? ['vault'] : typeof opts.audience === 'string' ? [opts.audience] : [...opts.audience];
    const claims: JsonObject = {
      aud: audience,
      exp,
      iat,
      iss: opts.issuer ?? this.issuer,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace: opts.namespace,
        ...(opts.unbound === true ? {} : { pod: { name: opts.podName ?? `${opts.serviceAccountName}-pod`, uid: opts.podUid ?? randomUUID() } }),
        serviceaccount: { name: opts.serviceAccountName, uid: opts.serviceAccountUid ?? randomUUID() },
        ...(opts.node === undefined ? {} : { node: { ...opts.node } }),
      },
      nbf,
      sub: `system:serviceaccount:${opts.namespace}:${opts.serviceAccountName}`,
      ...opts.extraClaims,
    };
    for (const name of opts.omitClaims ?? []) delete claims[name];
    return claims;
  }

  signServiceAccountJwt(opts: ServiceAccountTokenOptions): string {
    return this.signClaims(this.serviceAccountClaims(opts), { wrongKey: opts.wrongKey ?? false });
  }
}
