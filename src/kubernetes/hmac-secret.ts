/**
 * The HMAC key in a Kubernetes Secret, shared by every node so object versions agree across nodes and restarts.
 * Read once (the reference reads it on every mount): the Secret is immutable.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { ProviderError } from '../errors.js';
import type { HmacKeySource } from '../mount/hmac-key.js';
import { DEFAULT_KUBE_REQUEST_TIMEOUT_MS, describeApiFailure, safeCause, withRequestTimeout, type ApiFailure } from './api.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { KubeClient, type KubeConfig } from './kube-client.js';
import { isPlainObject } from '../shared/plain-object.js';

interface SecretObject {
  readonly data?: Readonly<Record<string, string>>;
}

/** The data key, length and label the reference's Secret has (plus the label), so either provider can read it. */
export const HMAC_SECRET_DATA_KEY = 'key';
export const HMAC_KEY_LENGTH = 32;
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'vault-csi-provider';
/** The reference's `--hmac-secret-name` default. */
export const DEFAULT_HMAC_SECRET_NAME = 'vault-csi-provider-hmac-key';

export interface KubeSecretHmacKeySourceOptions {
  readonly timeoutMs?: number;
  readonly randomBytes?: (size: number) => Buffer;
  /** For tests: the request timeout's timer. */
  readonly timer?: Clock['after'];
}

export class KubeSecretHmacKeySource implements HmacKeySource {
  readonly description: string;
  readonly #api: KubeClient;
  readonly #namespace: string;
  readonly #name: string;
  readonly #timeoutMs: number;
  readonly #randomBytes: (size: number) => Buffer;
  readonly #timer: Clock['after'];
  /** The one load in flight or done; cleared when it fails so the next mount tries again. */
  #key: Promise<Buffer> | undefined;

  constructor(api: KubeClient | KubeConfig, namespace: string, secretName: string, options: KubeSecretHmacKeySourceOptions = {}) {
    this.#api = api instanceof KubeClient ? api : new KubeClient(api);
    this.#namespace = namespace;
    this.#name = secretName;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_KUBE_REQUEST_TIMEOUT_MS;
    this.#randomBytes = options.randomBytes ?? cryptoRandomBytes;
    this.#timer = options.timer ?? systemClock.after;
    this.description = `Kubernetes Secret ${namespace}/${secretName}`;
  }

  getKey(): Promise<Buffer> {
    if (this.#key === undefined) {
      // No caller signal: the load is shared by every mount waiting for it, so one mount giving up must not fail
      // the others; the request timeout bounds it instead.
      const loading = this.#load();
      this.#key = loading;
      loading.catch(() => {
        if (this.#key === loading) this.#key = undefined;
      });
    }
    return this.#key;
  }

  async #load(): Promise<Buffer> {
    // Fast path: the Secret nearly always exists already.
    const existing = await this.#read();
    if (existing !== undefined) return this.#keyFrom(existing);

    const candidate = this.#randomBytes(HMAC_KEY_LENGTH);
    let created: SecretObject;
    try {
      const secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: this.#name, namespace: this.#namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
        type: 'Opaque',
        // Immutable: a changed key would change every object version on every node at once.
        immutable: true,
        data: { [HMAC_SECRET_DATA_KEY]: candidate.toString('base64') },
      };
      const path = `/api/v1/namespaces/${encodeURIComponent(this.#namespace)}/secrets`;
      created = asSecret(await this.#call((signal) => this.#api.request('POST', path, secret, signal)));
    } catch (err: unknown) {
      const failure = describeApiFailure(err, this.#timeoutMs);
      if (failure.httpStatus !== 409) throw this.#apiError('create', failure, err);
      // Another node's provider created it between our read and our create: its key is the one everybody uses.
      const winner = await this.#read();
      if (winner === undefined) {
        throw new ProviderError(
          'KUBERNETES_API_ERROR',
          `${this.description} was created by another provider at the same moment but is not visible yet; the next mount reads it again`,
          { parameter: 'hmac-secret-name' },
        );
      }
      return this.#keyFrom(winner);
    }
    // The API server echoes the data it stored; fall back to ours if a webhook stripped it from the answer.
    return created.data?.[HMAC_SECRET_DATA_KEY] === undefined ? candidate : this.#keyFrom(created);
  }

  async #read(): Promise<SecretObject | undefined> {
    try {
      const path = `/api/v1/namespaces/${encodeURIComponent(this.#namespace)}/secrets/${encodeURIComponent(this.#name)}`;
      return asSecret(await this.#call((signal) => this.#api.request('GET', path, undefined, signal)));
    } catch (err: unknown) {
      const failure = describeApiFailure(err, this.#timeoutMs);
      if (failure.httpStatus === 404) return undefined;
      throw this.#apiError('read', failure, err);
    }
  }

  /** One call under the request timeout (no caller signal: see getKey). */
  #call<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withRequestTimeout(undefined, this.#timeoutMs, work, this.#timer);
  }

  #keyFrom(secret: SecretObject): Buffer {
    const encoded = secret.data?.[HMAC_SECRET_DATA_KEY];
    const key = typeof encoded === 'string' ? Buffer.from(encoded, 'base64') : undefined;
    if (key === undefined || key.length === 0) {
      const problem = key === undefined ? `has no data key "${HMAC_SECRET_DATA_KEY}"` : `has an empty "${HMAC_SECRET_DATA_KEY}"`;
      // Same remedy as the reference: the provider recreates a deleted Secret with a fresh key.
      throw new ProviderError(
        'LOCAL_FILE_ERROR',
        `${this.description} ${problem}; delete the Secret so the provider generates a new HMAC key`,
        { parameter: 'hmac-secret-name' },
      );
    }
    return key;
  }

  /** None of these is a provider bug, so none is INTERNAL; a failure is not cached, the next mount asks again. */
  #apiError(action: 'read' | 'create', failure: ApiFailure, err: unknown): ProviderError {
    // Found by the real suite against a real API server: a missing RBAC rule was reported as INTERNAL ("a bug").
    return new ProviderError(
      'KUBERNETES_API_ERROR',
      `cannot ${action} the HMAC key ${this.description}: ${failure.detail}; ${this.#remedy(failure)}`,
      { parameter: 'hmac-secret-name', ...(failure.httpStatus === undefined ? {} : { httpStatus: failure.httpStatus }) },
      safeCause(err),
    );
  }

  #remedy(failure: ApiFailure): string {
    if (failure.httpStatus === 401) {
      return "the API server does not accept the provider's ServiceAccount token (check the pod's automountServiceAccountToken and the token's audience); the next mount tries again";
    }
    if (failure.httpStatus === 403) {
      return `the provider's ServiceAccount needs get and create on secrets in ${this.#namespace} (get on "${this.#name}", create on secrets: the Role and RoleBinding in deploy/base/rbac.yaml); the next mount tries again`;
    }
    if (failure.httpStatus !== undefined && failure.httpStatus >= 500) {
      return 'the Kubernetes API server is failing; the next mount tries again';
    }
    if (failure.httpStatus === undefined) {
      return 'the Kubernetes API server cannot be reached or did not answer; check it and the network from this node; the next mount tries again';
    }
    return 'see the API server\'s message; the next mount tries again';
  }
}

function asSecret(answer: unknown): SecretObject {
  const data = isPlainObject(answer) ? answer['data'] : undefined;
  if (!isPlainObject(data)) return {};
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) if (typeof v === 'string') strings[k] = v;
  return { data: strings };
}
