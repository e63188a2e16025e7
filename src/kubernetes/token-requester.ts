/**
 * The TokenRequest fallback (`--token-request-fallback`, off: it needs `create` on every ServiceAccount's token). As
 * the reference: the pod's ServiceAccount, the audience, 15 minutes, bound to the pod so the token dies with it.
 */
import type { ServiceAccountTokenRequester } from '../auth/authenticator.js';
import type { PodInfo } from '../config/types.js';
import { ProviderError } from '../errors.js';
import { DEFAULT_KUBE_REQUEST_TIMEOUT_MS, describeApiFailure, safeCause, withRequestTimeout, type ApiFailure } from './api.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { KubeClient, type KubeConfig } from './kube-client.js';
import { isPlainObject } from '../shared/plain-object.js';

/** A TokenRequest answer is one JWT and a few names: far below this, whatever a misbehaving server sends. */
const MAX_TOKEN_ANSWER_BYTES = 256 * 1024;

/** 15 minutes, the reference's lifetime; the API server's minimum is 10 minutes. */
export const TOKEN_EXPIRATION_SECONDS = 900;

/** PodInfo fields and the volume attribute each comes from, for an error that tells the operator what is missing. */
const POD_ATTRIBUTES = [
  ['name', 'csi.storage.k8s.io/pod.name'],
  ['namespace', 'csi.storage.k8s.io/pod.namespace'],
  ['uid', 'csi.storage.k8s.io/pod.uid'],
  ['serviceAccountName', 'csi.storage.k8s.io/serviceAccount.name'],
] as const satisfies readonly (readonly [keyof PodInfo, string])[];

export interface KubeTokenRequesterOptions {
  /** Per-request timeout in milliseconds (default 10 s); the caller's signal may end it sooner. */
  readonly timeoutMs?: number;
  /** For tests: the request timeout's timer. */
  readonly timer?: Clock['after'];
}

export class KubeTokenRequester implements ServiceAccountTokenRequester {
  readonly #api: KubeClient;
  readonly #timeoutMs: number;
  readonly #timer: Clock['after'];

  /** @param api the provider's client (shared with the HMAC Secret), or the config to make one from */
  constructor(api: KubeClient | KubeConfig, options: KubeTokenRequesterOptions = {}) {
    this.#api = api instanceof KubeClient ? api : new KubeClient(api);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_KUBE_REQUEST_TIMEOUT_MS;
    this.#timer = options.timer ?? systemClock.after;
  }

  async requestToken(pod: PodInfo, audience: string, signal?: AbortSignal): Promise<string> {
    for (const [field, attribute] of POD_ATTRIBUTES) {
      // Checked here too, not only by the parser: a token bound to no pod (or to the wrong one) must never be asked for.
      if (typeof pod[field] !== 'string' || pod[field].trim() === '') {
        throw new ProviderError('INVALID_CONFIG', `cannot request a ServiceAccount token: the mount request has no ${attribute}`, {
          parameter: attribute,
        });
      }
    }
    const who = `pod ${pod.namespace}/${pod.name} (ServiceAccount "${pod.serviceAccountName}", audience "${audience}")`;

    const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/serviceaccounts/${encodeURIComponent(pod.serviceAccountName)}/token`;
    const body = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        // An empty audience means the API server's default audiences, as in the reference.
        audiences: audience === '' ? [] : [audience],
        expirationSeconds: TOKEN_EXPIRATION_SECONDS,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid: pod.uid },
      },
    };
    let token: unknown;
    try {
      const answer = await withRequestTimeout(signal, this.#timeoutMs, (bounded) => this.#api.request('POST', path, body, bounded, { maxBytes: MAX_TOKEN_ANSWER_BYTES }), this.#timer);
      token = tokenOf(answer);
    } catch (err: unknown) {
      const failure = describeApiFailure(err, this.#timeoutMs);
      if (signal?.aborted === true) {
        throw new ProviderError('DEADLINE_EXCEEDED', `the caller's deadline passed while requesting a ServiceAccount token for ${who}`, {}, safeCause(err));
      }
      throw new ProviderError(
        'TOKEN_UNAVAILABLE',
        `cannot request a ServiceAccount token for ${who}: ${failure.detail}${remedy(failure, pod)}`,
        failure.httpStatus === undefined ? {} : { httpStatus: failure.httpStatus },
        safeCause(err),
      );
    }
    if (typeof token !== 'string' || token === '') {
      throw new ProviderError('TOKEN_UNAVAILABLE', `cannot request a ServiceAccount token for ${who}: the Kubernetes API answered without a token`);
    }
    return token;
  }
}

/** `status.token` of a TokenRequest answer, or undefined. */
function tokenOf(answer: unknown): unknown {
  return isPlainObject(answer) && isPlainObject(answer['status']) ? answer['status']['token'] : undefined;
}

/** What the operator does about a failure the message alone does not make obvious; empty when nothing to add. */
function remedy(failure: ApiFailure, pod: PodInfo): string {
  switch (failure.httpStatus) {
    case 403:
      return `; the provider's ServiceAccount needs create on serviceaccounts/token for ServiceAccount "${pod.serviceAccountName}" in ${pod.namespace} (the ClusterRole and ClusterRoleBinding of deploy/overlays/token-request-fallback, or the chart's flags.token-request-fallback), or, better, the CSIDriver can send the pod's token itself (tokenRequests) and the fallback be turned off`;
    case 404:
      return `; the pod or its ServiceAccount does not exist (any more) in ${pod.namespace}`;
    case 409:
      // The real API server's answer when the pod's UID is not the mount's.
      return '; the pod was deleted and created again under the same name, and the mount names the old one';
    case 401:
      return "; the API server does not accept the provider's own ServiceAccount token (check the provider pod's automountServiceAccountToken)";
    default:
      return failure.httpStatus !== undefined && failure.httpStatus >= 500 ? '; the Kubernetes API server is failing, the kubelet retries the mount' : '';
  }
}
