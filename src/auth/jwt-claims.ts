/**
 * Does a driver-supplied JWT belong to the pod that asks? The token cache is keyed by the pod's namespace and
 * ServiceAccount (from the driver's attributes), so a token for another identity — a pod author can put a
 * `csi.storage.k8s.io/serviceAccount.tokens` key into its volumeAttributes, and from Kubernetes 1.35 the real token
 * travels in `secrets` instead — must never log in under this pod's key. Vault verifies the signature; here only
 * the claims are read (unverified) and compared, and nothing of the token is ever quoted.
 */
import type { PodInfo } from '../config/types.js';

function payloadOf(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const value = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
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
  const pod = typeof k8s === 'object' && k8s !== null ? (k8s as { pod?: unknown }).pod : undefined;
  if (typeof pod === 'object' && pod !== null) {
    const { name, uid } = pod as { name?: unknown; uid?: unknown };
    if (typeof name === 'string') identity.podName = name;
    if (typeof uid === 'string') identity.podUid = uid;
  }
  return identity;
}

/** A reason the token is not the pod's, or undefined when its claims agree (or it carries none we can read). */
export function tokenMismatch(jwt: string, pod: PodInfo): string | undefined {
  const claims = payloadOf(jwt);
  // Not a JWT we can read: Vault will judge it; there is no identity in it to confuse.
  if (claims === undefined) return undefined;
  const sub = claims['sub'];
  if (typeof sub === 'string' && sub.startsWith('system:serviceaccount:')) {
    const expected = `system:serviceaccount:${pod.namespace}:${pod.serviceAccountName}`;
    if (sub !== expected) return `the token's subject is not the pod's ServiceAccount ${pod.namespace}/${pod.serviceAccountName}`;
  }
  const k8s = claims['kubernetes.io'];
  if (typeof k8s === 'object' && k8s !== null) {
    const boundPod = (k8s as { pod?: unknown }).pod;
    const uid = typeof boundPod === 'object' && boundPod !== null ? (boundPod as { uid?: unknown }).uid : undefined;
    if (typeof uid === 'string' && pod.uid !== '' && uid !== pod.uid) return 'the token is bound to another pod';
  }
  return undefined;
}
