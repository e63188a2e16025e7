/**
 * Does a driver-supplied JWT belong to the pod that asks? The token cache is keyed by the pod's namespace and
 * ServiceAccount (from the driver's attributes), so a token for another identity must never log in under this pod's
 * key: a pod author can put a `csi.storage.k8s.io/serviceAccount.tokens` key into its volumeAttributes (the driver
 * passes it on when the CSIDriver has no tokenRequests) or into its nodePublishSecretRef, which the driver forwards as
 * `secrets`. Vault verifies the signature; here only the claims are read (unverified) and compared, and nothing of
 * the token is ever quoted.
 */
import type { PodInfo } from '../config/types.js';
import { isPlainObject } from '../shared/plain-object.js';

function payloadOf(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const value = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** What a ServiceAccount JWT says of whom it was issued for (unverified; for defaults, never for trust). */
export interface JwtIdentity {
  readonly namespace?: string;
  readonly serviceAccountName?: string;
  readonly podName?: string;
  readonly podUid?: string;
}

export function jwtIdentity(jwt: string): JwtIdentity {
  const claims = payloadOf(jwt);
  if (claims === undefined) return {};
  const identity: { -readonly [K in keyof JwtIdentity]: JwtIdentity[K] } = {};
  const sub = claims['sub'];
  const match = typeof sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(sub) : null;
  if (match !== null) {
    identity.namespace = match[1];
    identity.serviceAccountName = match[2];
  }
  const k8s = claims['kubernetes.io'];
  const pod = isPlainObject(k8s) ? k8s['pod'] : undefined;
  if (isPlainObject(pod)) {
    const { name, uid } = pod;
    if (typeof name === 'string') identity.podName = name;
    if (typeof uid === 'string') identity.podUid = uid;
  }
  return identity;
}

/** What the driver's token is, once it is known to be the pod's own. */
export interface OwnToken {
  /** The pod the token is bound to (`kubernetes.io.pod.uid`), or undefined for an unbound token. */
  readonly boundPodUid: string | undefined;
}

export type TokenCheck = { readonly ok: true; readonly token: OwnToken } | { readonly ok: false; readonly reason: string };

/**
 * Is this the pod's own ServiceAccount token? Its subject must be exactly the pod's ServiceAccount, and when it is
 * bound to a pod, that pod must be the one asking. Anything else is refused: a token of another ServiceAccount or
 * pod, a JWT that is no ServiceAccount token (an OIDC token, a hand-made one), or no JWT at all. The namespace and
 * ServiceAccount come from the driver (the kubelet's pod info wins over volumeAttributes), so they are what the
 * token cache key is made of; a token that does not agree with them must never log in under that key.
 *
 * An unbound token of the right ServiceAccount is accepted: the secrets-store-sync-controller sends those for its
 * own pod. Reasons name the pod's identity, never anything of the token.
 */
export function checkOwnToken(jwt: string, pod: PodInfo): TokenCheck {
  const own = `${pod.namespace}/${pod.serviceAccountName}`;
  const claims = payloadOf(jwt);
  if (claims === undefined) return { ok: false, reason: `the token is not a JWT, so it cannot be the pod's ServiceAccount token (${own})` };
  const sub = claims['sub'];
  if (typeof sub !== 'string' || !sub.startsWith('system:serviceaccount:')) {
    return { ok: false, reason: `the token is not a Kubernetes ServiceAccount token (its subject is no system:serviceaccount:…); the pod's ServiceAccount is ${own}` };
  }
  if (pod.namespace === '' || pod.serviceAccountName === '' || sub !== `system:serviceaccount:${pod.namespace}:${pod.serviceAccountName}`) {
    return { ok: false, reason: `the token's subject is not the pod's ServiceAccount ${own}` };
  }
  const k8s = claims['kubernetes.io'];
  const boundPod = isPlainObject(k8s) ? k8s['pod'] : undefined;
  const uid = isPlainObject(boundPod) ? boundPod['uid'] : undefined;
  if (boundPod !== undefined && typeof uid !== 'string') return { ok: false, reason: 'the token names a bound pod without a UID' };
  if (typeof uid === 'string' && pod.uid !== '' && uid !== pod.uid) return { ok: false, reason: 'the token is bound to another pod' };
  return { ok: true, token: { boundPodUid: typeof uid === 'string' ? uid : undefined } };
}
