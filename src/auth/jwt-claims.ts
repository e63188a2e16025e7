/**
 * Does a driver-supplied JWT belong to the pod that asks? A pod author can put a token into its volumeAttributes or
 * nodePublishSecretRef, and the token cache is keyed by the pod's identity. Vault verifies the signature; here the
 * claims are only read and compared, and nothing of the token is ever quoted.
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
 * The subject must be the pod's ServiceAccount, and a token bound to a pod must be bound to this one. An unbound
 * token of the right ServiceAccount is accepted: the secrets-store-sync-controller sends those for its own pod.
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
