/**
 * A pod-bound ServiceAccount token from the TokenRequest API, for mounts whose driver sent no token (a CSIDriver
 * without `tokenRequests`). As the reference does: the pod's ServiceAccount, the configured audience, 15 minutes,
 * bound to the pod by name and UID so the token dies with the pod.
 *
 * The call goes through @kubernetes/client-node 1.4.x, imported on the first TokenRequest only: the library costs
 * about 75 MiB of resident memory, and a node whose driver sends tokens (the recommended set-up) never pays it.
 */
import type { ServiceAccountTokenRequester } from '../auth/token-requester.js';
import type { PodInfo } from '../config/types.js';
import { abortReason, ProviderError } from '../errors.js';
import { DEFAULT_KUBE_REQUEST_TIMEOUT_MS, describeApiFailure, requestSignal, safeCause } from './api.js';
import { KubeApiError, KubeClient, type KubeConfig } from './kube-client.js';

type ClientNode = typeof import('@kubernetes/client-node');
let clientNode: Promise<ClientNode> | undefined;

/** The library, loaded once, on first need. */
function loadClientNode(): Promise<ClientNode> {
  clientNode ??= import('@kubernetes/client-node');
  return clientNode;
}

/** client-node's ApiException (code + body) as our KubeApiError, so failures are described one way. */
function asKubeApiError(err: unknown): unknown {
  if (err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err) {
    const body = (err as { body: unknown }).body;
    return new KubeApiError((err as unknown as { code: number }).code, typeof body === 'string' ? body : JSON.stringify(body ?? ''));
  }
  return err;
}

/** Stops waiting when the signal aborts (client-node takes no AbortSignal; the request is left to finish). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error('request failed'));
      },
    );
  });
}

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
      const k8s = await loadClientNode();
      const [bearer, ca] = await Promise.all([this.#api.bearerToken(), this.#api.caPem()]);
      const config = new k8s.KubeConfig();
      const server = this.#api.server;
      config.loadFromOptions({
        // client-node refuses plain http unless verification is off; http only ever means a local proxy or test server.
        clusters: [{ name: 'cluster', server, skipTLSVerify: this.#api.skipTLSVerify || server.startsWith('http:'), ...(ca === undefined ? {} : { caData: Buffer.from(ca).toString('base64') }) }],
        users: [{ name: 'provider', ...(bearer === undefined ? {} : { token: bearer }) }],
        contexts: [{ name: 'provider', cluster: 'cluster', user: 'provider' }],
        currentContext: 'provider',
      });
      const response = await untilAborted(
        config.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
          name: pod.serviceAccountName,
          namespace: pod.namespace,
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              // An empty audience means the API server's default audiences, as in the reference.
              audiences: audience === '' ? [] : [audience],
              expirationSeconds: TOKEN_EXPIRATION_SECONDS,
              boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid: pod.uid },
            },
          },
        }),
        requestSignal(signal, this.#timeoutMs),
      );
      token = response.status?.token;
    } catch (caught: unknown) {
      const err = asKubeApiError(caught);
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
