/**
 * A pod-bound ServiceAccount token from the TokenRequest API, for mounts whose driver sent no token (a CSIDriver
 * without `tokenRequests`). As the reference does: the pod's ServiceAccount, the configured audience, 15 minutes,
 * bound to the pod by name and UID so the token dies with the pod.
 */
import type { ServiceAccountTokenRequester } from '../auth/token-requester.js';
import type { PodInfo } from '../config/types.js';
import { ProviderError } from '../errors.js';
import { DEFAULT_KUBE_REQUEST_TIMEOUT_MS, describeApiFailure, requestSignal, safeCause } from './api.js';
import { KubeClient, type KubeConfig } from './kube-client.js';

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
}

export class KubeTokenRequester implements ServiceAccountTokenRequester {
  readonly #api: KubeClient;
  readonly #timeoutMs: number;

  constructor(kubeConfig: KubeConfig, options: KubeTokenRequesterOptions = {}) {
    this.#api = new KubeClient(kubeConfig);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_KUBE_REQUEST_TIMEOUT_MS;
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

    let token: unknown;
    try {
      const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/serviceaccounts/${encodeURIComponent(pod.serviceAccountName)}/token`;
      const response = await this.#api.request(
        'POST',
        path,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            // An empty audience means the API server's default audiences, as in the reference.
            audiences: audience === '' ? [] : [audience],
            expirationSeconds: TOKEN_EXPIRATION_SECONDS,
            boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid: pod.uid },
          },
        },
        requestSignal(signal, this.#timeoutMs),
      );
      token = (response as { status?: { token?: unknown } } | undefined)?.status?.token;
    } catch (err: unknown) {
      const failure = describeApiFailure(err);
      if (signal?.aborted === true) {
        throw new ProviderError('DEADLINE_EXCEEDED', `the caller's deadline passed while requesting a ServiceAccount token for ${who}`, {}, safeCause(err));
      }
      throw new ProviderError(
        'TOKEN_UNAVAILABLE',
        `cannot request a ServiceAccount token for ${who}: ${failure.detail}`,
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
