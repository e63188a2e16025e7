/**
 * The memory-pressure workload, shared by the suite's counted form (test/e2e/memory-budget.slow.ts) and the heavy
 * form (`npm run memory-soak`, scripts/memory-soak.ts): many pods at once, each naming several large KV secrets,
 * so that the mounts in flight together name far more bytes than the DaemonSet's memory limit. The provider runs
 * as its own process with the image's NODE_OPTIONS; its resident memory is sampled from /proc while the mounts run.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { status, type ServiceError } from '@grpc/grpc-js';
import { parseAllDocuments } from 'yaml';
import { TOKENS_KEY } from '../../src/config/mount-request.js';
import type { DriverClient } from './grpc-client.js';
import type { ServiceAccountJwtIssuer, TestVault } from '../vault-server/index.js';

export const PRESSURE_ROLE = 'pressure';
export const PRESSURE_NAMESPACE = 'pressure';

export interface PressureSecrets {
  /** How many distinct large secrets Vault holds. */
  readonly secrets: number;
  /** Bytes of the one value each of them holds. */
  readonly valueBytes: number;
}

/** Large KV v2 secrets `pressure/big-<i>` (one key `blob`), a small one, and a role any SA of the namespace may use. */
export function preparePressureVault(vault: TestVault, spec: PressureSecrets): void {
  for (let i = 0; i < spec.secrets; i++) {
    // ASCII, and different per secret so no layer can share one value between them.
    vault.putKv('secret', `pressure/big-${i}`, { blob: String.fromCharCode(97 + (i % 26)).repeat(spec.valueBytes) });
  }
  vault.putKv('secret', 'pressure/small', { password: 'pressure-small-password' });
  vault.putPolicy(PRESSURE_ROLE, 'path "secret/data/pressure/*" { capabilities = ["read"] }');
  vault.addKubernetesRole('kubernetes', PRESSURE_ROLE, {
    boundServiceAccountNames: ['*'],
    boundServiceAccountNamespaces: [PRESSURE_NAMESPACE],
    policies: [PRESSURE_ROLE],
    ttlSeconds: 86_400,
  });
}

export function pressureRequest(issuer: ServiceAccountJwtIssuer, pod: number, objects: ReadonlyArray<Record<string, unknown>>, targetDir: string) {
  const jwt = issuer.signServiceAccountJwt({ namespace: PRESSURE_NAMESPACE, serviceAccountName: `sa-${pod}`, podName: `pod-${pod}`, podUid: `uid-${pod}`, ttlSeconds: 86_400 });
  const attributes = {
    'csi.storage.k8s.io/pod.name': `pod-${pod}`,
    'csi.storage.k8s.io/pod.namespace': PRESSURE_NAMESPACE,
    'csi.storage.k8s.io/pod.uid': `uid-${pod}`,
    'csi.storage.k8s.io/serviceAccount.name': `sa-${pod}`,
    [TOKENS_KEY]: JSON.stringify({ vault: { token: jwt, expirationTimestamp: new Date(Date.now() + 86_400_000).toISOString() } }),
    secretProviderClass: 'pressure',
    roleName: PRESSURE_ROLE,
    objects: JSON.stringify(objects),
  };
  return { attributes: JSON.stringify(attributes), secrets: 'null', target_path: `${targetDir}/pod-${pod}`, permission: '420', current_object_version: [] };
}

/** The objects one pod names: `perMount` of the large secrets, starting at `first`, each as a file of its own. */
export function largeObjects(first: number, perMount: number, secrets: number): Array<Record<string, unknown>> {
  return Array.from({ length: perMount }, (_, k) => {
    const i = (first + k) % secrets;
    return { objectName: `big-${k}`, secretPath: `secret/data/pressure/big-${i}`, secretKey: 'blob' };
  });
}

export const SMALL_OBJECTS: ReadonlyArray<Record<string, unknown>> = [{ objectName: 'password', secretPath: 'secret/data/pressure/small', secretKey: 'password' }];

export interface PressureOutcome {
  readonly ok: number;
  /** Mounts refused for a budget: gRPC RESOURCE_EXHAUSTED. */
  readonly exhausted: number;
  /** Anything else, with its status and message (at most 20 kept). */
  readonly other: number;
  readonly otherDetails: readonly string[];
  /** The messages of the RESOURCE_EXHAUSTED answers (at most 20 kept). */
  readonly exhaustedDetails: readonly string[];
  /** Bytes the mounts named in all (objects × value size). */
  readonly namedBytes: number;
}

/** `mounts` pods mount at once (each naming `perMount` large secrets); every answer is sorted by its status. */
export async function runPressure(options: {
  readonly client: DriverClient;
  readonly issuer: ServiceAccountJwtIssuer;
  readonly mounts: number;
  readonly perMount: number;
  readonly spec: PressureSecrets;
  readonly targetDir: string;
  readonly deadlineMs?: number;
}): Promise<PressureOutcome> {
  let ok = 0;
  let exhausted = 0;
  let other = 0;
  const otherDetails: string[] = [];
  const exhaustedDetails: string[] = [];
  await Promise.all(
    Array.from({ length: options.mounts }, async (_, pod) => {
      const request = pressureRequest(options.issuer, pod, largeObjects(pod, options.perMount, options.spec.secrets), options.targetDir);
      try {
        await options.client.mount(request, options.deadlineMs ?? 60_000);
        ok++;
      } catch (err: unknown) {
        const e = err as ServiceError;
        if (e.code === status.RESOURCE_EXHAUSTED) {
          exhausted++;
          if (exhaustedDetails.length < 20) exhaustedDetails.push(e.details);
        } else {
          other++;
          if (otherDetails.length < 20) otherDetails.push(`${status[e.code] ?? String(e.code)}: ${e.details ?? String(err)}`);
        }
      }
    }),
  );
  return { ok, exhausted, other, otherDetails, exhaustedDetails, namedBytes: options.mounts * options.perMount * options.spec.valueBytes };
}

/**
 * Samples a process's resident memory every few milliseconds; `peak` is the highest VmRSS seen (and VmHWM),
 * `anonPeak` the highest RssAnon seen: what the kernel cannot reclaim, without the binary's file-backed pages.
 */
export class RssSampler {
  readonly #pid: number;
  #timer: NodeJS.Timeout | undefined;
  #peakKb = 0;
  #anonPeakKb = 0;

  constructor(pid: number) {
    this.#pid = pid;
  }

  start(periodMs = 5): void {
    this.#timer = setInterval(() => {
      this.sample().catch(() => undefined);
    }, periodMs);
    this.#timer.unref();
  }

  async sample(): Promise<number> {
    const text = await readFile(`/proc/${this.#pid}/status`, 'utf8');
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? NaN);
    // VmHWM is the kernel's own high-water mark: it catches a peak between two samples.
    const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(text)?.[1] ?? NaN);
    // A process that has exited (a zombie until reaped) has no Vm lines: its last figures stand.
    this.#peakKb = Math.max(this.#peakKb, Number.isNaN(rss) ? 0 : rss, Number.isNaN(hwm) ? 0 : hwm);
    const anon = Number(/^RssAnon:\s+(\d+) kB/m.exec(text)?.[1] ?? NaN);
    if (!Number.isNaN(anon)) this.#anonPeakKb = Math.max(this.#anonPeakKb, anon);
    return rss * 1024;
  }

  /** Bytes. */
  get anonPeak(): number {
    return this.#anonPeakKb * 1024;
  }

  /** Bytes. */
  get peak(): number {
    return this.#peakKb * 1024;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}

/** Kubernetes quantity (`160Mi`, `1Gi`, `100M`) in bytes. */
export function quantityBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(q.trim());
  if (m === null) throw new Error(`not a memory quantity: ${q}`);
  const units: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] === undefined ? 1 : units[m[2]]!);
}

/** The memory limit of the provider container in deploy/base/daemonset.yaml, in bytes. */
export function daemonSetMemoryLimit(): number {
  const text = readFileSync(new URL('../../deploy/base/daemonset.yaml', import.meta.url), 'utf8');
  for (const doc of parseAllDocuments(text)) {
    const value = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Array<{ resources?: { limits?: { memory?: string } } }> } } } };
    if (value?.kind !== 'DaemonSet') continue;
    const limit = value.spec?.template?.spec?.containers?.[0]?.resources?.limits?.memory;
    if (limit !== undefined) return quantityBytes(limit);
  }
  throw new Error('deploy/base/daemonset.yaml has no container memory limit');
}
