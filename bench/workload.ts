// What the benches mount and the Vault they mount it from: the SecretProviderClasses of a node's pods, the Mount
// requests the driver sends for them (with a pod-bound ServiceAccount token per pod, as the kubelet asks for), and
// the Vault-compatible test server in a process of its own (bench/vault-process.ts), counting requests by kind.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { MountRequest } from '../src/generated/v1alpha1/MountRequest.js';
import { ServiceAccountJwtIssuer, type RequestKind } from '../test/vault-server/index.js';
import type { BenchReply, BenchRequest } from './vault-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const NAMESPACE = 'bench';
export const ROLE = 'bench';
export const KV_SECRETS = 10;

// ---- what the pods mount ------------------------------------------------------------------------------------

export interface Spc {
  readonly name: string;
  readonly objects: ReadonlyArray<Record<string, unknown>>;
  /** The `objects` parameter as the SecretProviderClass holds it: YAML text the driver forwards unchanged. */
  readonly objectsYaml: string;
}

const kvObjects = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ objectName: `kv/app-${i}`, secretPath: `secret/data/app-${i}`, secretKey: 'password' }));
const PKI_ARGS = { common_name: 'app.bench.svc', ttl: '24h' };
const DB_OBJECTS = [
  { objectName: 'db/username', secretPath: 'database/creds/bench', secretKey: 'username' },
  { objectName: 'db/password', secretPath: 'database/creds/bench', secretKey: 'password' },
];
const PKI_OBJECTS = [
  { objectName: 'tls/tls.crt', secretPath: 'pki/issue/bench', secretKey: 'certificate', method: 'PUT', secretArgs: PKI_ARGS },
  { objectName: 'tls/tls.key', secretPath: 'pki/issue/bench', secretKey: 'private_key', method: 'PUT', secretArgs: PKI_ARGS },
];
const spc = (name: string, objects: ReadonlyArray<Record<string, unknown>>): Spc => ({ name, objects, objectsYaml: stringify(objects) });
export const KV1 = spc('kv1', kvObjects(1));
/** Ten objects, ten keys of one secret: one read when a mount reads each path once. */
export const KV10_ONE_PATH = spc(
  'kv10-one-path',
  Array.from({ length: KV_SECRETS }, (_, i) => ({ objectName: `wide/key-${i}`, secretPath: 'secret/data/wide', secretKey: `key-${i}` })),
);
export const KV10_PATHS = spc('kv10-paths', kvObjects(KV_SECRETS));
export const KV_DB = spc('kv-db', [...kvObjects(1), ...DB_OBJECTS]);
/** A new pod's class: one static secret, a database credential and a certificate. */
export const APP = spc('app', [...kvObjects(1), ...DB_OBJECTS, ...PKI_OBJECTS]);
export const RESIDENT_VOLUMES = [KV1, KV10_ONE_PATH, KV10_PATHS, KV_DB];

export interface Pod {
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: string;
  readonly jwt: string;
}

export function mountRequest(pod: Pod, spc: Spc, dir: string): MountRequest {
  const tokens = JSON.stringify({ vault: { token: pod.jwt, expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() } });
  const attributes = {
    'csi.storage.k8s.io/ephemeral': 'false',
    'csi.storage.k8s.io/pod.name': pod.name,
    'csi.storage.k8s.io/pod.namespace': NAMESPACE,
    'csi.storage.k8s.io/pod.uid': pod.uid,
    'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
    'csi.storage.k8s.io/serviceAccount.tokens': tokens,
    secretProviderClass: spc.name,
    roleName: ROLE,
    objects: spc.objectsYaml,
  };
  return {
    attributes: JSON.stringify(attributes),
    secrets: 'null',
    target_path: join(dir, 'pods', pod.uid, 'volumes', spc.name),
    permission: '420',
    current_object_version: [],
  };
}

/** Pods with their own ServiceAccount token each, bound to the pod (the provider refuses a token bound to another pod). */
export class PodFactory {
  readonly issuer = new ServiceAccountJwtIssuer();
  #counter = 0;

  newPod(serviceAccount: string): Pod {
    this.#counter += 1;
    const name = `pod-${this.#counter}`;
    const uid = `00000000-0000-4000-8000-${String(this.#counter).padStart(12, '0')}`;
    const jwt = this.issuer.signServiceAccountJwt({ namespace: NAMESPACE, serviceAccountName: serviceAccount, podName: name, podUid: uid, ttlSeconds: 3600 });
    return { name, uid, serviceAccount, jwt };
  }
}

// ---- the Vault process -------------------------------------------------------------------------------------------

export class BenchVault {
  readonly #child: ChildProcess;
  #waiters: Array<(reply: BenchReply) => void> = [];

  get pid(): number {
    return this.#child.pid!;
  }

  constructor() {
    this.#child = fork(join(ROOT, 'bench', 'vault-process.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (reply: BenchReply) => this.#waiters.shift()?.(reply));
  }

  #ask(message: BenchRequest): Promise<BenchReply> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#child.send(message);
    });
  }

  async setup(publicKeyPem: string): Promise<string> {
    const reply = await this.#ask({ type: 'setup', publicKeyPem, kvSecrets: KV_SECRETS });
    if (reply.type !== 'ready') throw new Error('bench vault did not start');
    return reply.address;
  }

  async clear(): Promise<void> {
    await this.#ask({ type: 'clear' });
  }

  async counts(): Promise<Record<RequestKind, number>> {
    const reply = await this.#ask({ type: 'counts' });
    if (reply.type !== 'counts') throw new Error('unexpected reply');
    return reply.counts;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.send({ type: 'stop' } satisfies BenchRequest);
    await exited;
  }
}

