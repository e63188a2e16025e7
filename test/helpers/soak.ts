/**
 * The soak workload, shared by `npm run soak` (the provider as its own process, 10,000 mounts) and the short version
 * in the test suite (in process, a few hundred): many pods, each with its own ServiceAccount, republishing the same
 * SecretProviderClass at a fixed concurrency through one gRPC channel, as the driver on a busy node does. Every
 * mount's files are checked against what Vault holds.
 */
import { stringify } from 'yaml';
import type { ServiceError } from '@grpc/grpc-js';
import { TOKENS_KEY } from '../../src/config/mount-request.js';
import type { DriverClient } from './grpc-client.js';
import type { ServiceAccountJwtIssuer, TestVault } from '../vault-server/index.js';

export const SOAK_ROLE = 'soak';
export const SOAK_NAMESPACE = 'soak';

/** What each pod mounts: three files from two distinct Vault requests (KV v2 and KV v1). */
export const SOAK_OBJECTS = [
  { objectName: 'db/password', secretPath: 'secret/data/soak/db', secretKey: 'password' },
  { objectName: 'db/user', secretPath: 'secret/data/soak/db', secretKey: 'user' },
  { objectName: '.env', secretPath: 'kv/soak/env', secretKey: 'env' },
];
export const SOAK_DISTINCT_REQUESTS = 2;
export const SOAK_VALUES = { password: 'soak-db-password-1d9f', user: 'soak-user', env: 'SOAK_ENV=on' } as const;

/** Mounts, policy, role and secrets the workload needs (on a Vault with `secret` KV v2, `kv` KV v1 and k8s auth). */
export function prepareSoakVault(vault: TestVault): void {
  vault.putKv('secret', 'soak/db', { password: SOAK_VALUES.password, user: SOAK_VALUES.user });
  vault.putKv('kv', 'soak/env', { env: SOAK_VALUES.env });
  vault.putPolicy('soak', 'path "secret/data/soak/*" { capabilities = ["read"] }\npath "kv/soak/*" { capabilities = ["read"] }');
  vault.addKubernetesRole('kubernetes', SOAK_ROLE, { boundServiceAccountNames: ['*'], boundServiceAccountNamespaces: [SOAK_NAMESPACE], policies: ['soak'], ttlSeconds: 86_400 });
}

export interface SoakOptions {
  readonly client: DriverClient;
  readonly issuer: ServiceAccountJwtIssuer;
  readonly mounts: number;
  readonly concurrency: number;
  readonly pods: number;
  readonly targetDir: string;
  /** Called after each completed mount (index, counts so far), e.g. to sample memory at the end of warm-up. */
  readonly onProgress?: (done: number) => void | Promise<void>;
}

export interface SoakResult {
  readonly ok: number;
  readonly failed: number;
  /** Error details of failed mounts, at most 20. */
  readonly failures: readonly string[];
  /** Mounts whose files did not match Vault's values. */
  readonly wrongContent: number;
  readonly latenciesMs: readonly number[];
  readonly elapsedMs: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const objects = stringify(SOAK_OBJECTS);
  const jwts = Array.from({ length: options.pods }, (_, i) =>
    options.issuer.signServiceAccountJwt({ namespace: SOAK_NAMESPACE, serviceAccountName: `sa-${i}`, podName: `pod-${i}`, podUid: `uid-${i}`, ttlSeconds: 86_400 }),
  );
  const expected = new Map<string, string>([
    ['db/password', SOAK_VALUES.password],
    ['db/user', SOAK_VALUES.user],
    ['.env', SOAK_VALUES.env],
  ]);
  let next = 0;
  let ok = 0;
  let failed = 0;
  let wrongContent = 0;
  let done = 0;
  const failures: string[] = [];
  const latencies: number[] = [];
  const started = performance.now();

  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= options.mounts) return;
      const pod = i % options.pods;
      const attributes = {
        'csi.storage.k8s.io/pod.name': `pod-${pod}`,
        'csi.storage.k8s.io/pod.namespace': SOAK_NAMESPACE,
        'csi.storage.k8s.io/pod.uid': `uid-${pod}`,
        'csi.storage.k8s.io/serviceAccount.name': `sa-${pod}`,
        [TOKENS_KEY]: JSON.stringify({ vault: { token: jwts[pod], expirationTimestamp: new Date(Date.now() + 86_400_000).toISOString() } }),
        roleName: SOAK_ROLE,
        objects,
      };
      const t0 = performance.now();
      try {
        const res = await options.client.mount(
          { attributes: JSON.stringify(attributes), secrets: 'null', target_path: `${options.targetDir}/pod-${pod}`, permission: '420', current_object_version: [] },
          60_000,
        );
        latencies.push(performance.now() - t0);
        ok++;
        const files = new Map(res.files.map((f) => [f.path, Buffer.from(f.contents).toString()]));
        if (files.size !== expected.size || [...expected].some(([path, value]) => files.get(path) !== value)) wrongContent++;
      } catch (err: unknown) {
        failed++;
        if (failures.length < 20) failures.push((err as ServiceError).details ?? String(err));
      }
      done++;
      await options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  return { ok, failed, failures, wrongContent, latenciesMs: latencies, elapsedMs: performance.now() - started };
}

/** A soak script's verdict table: one row per figure, name, value and "ok"/"MISSED" (or nothing), aligned. */
export function printVerdicts(rows: ReadonlyArray<readonly [string, string, string]>): void {
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [name, value, verdict] of rows) console.log(`${name.padEnd(width)}  ${value.padEnd(28)}  ${verdict}`);
}

/** Runs a soak script's `main` and exits with its code (1 when it throws), however many handles it left open. */
export function runScript(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
