/**
 * The pieces the Kubernetes suites share: Vault's Kubernetes auth pointed at the real API server (a reviewer
 * ServiceAccount bound to system:auth-delegator, the cluster CA, no local CA or token), Pods as the kubelet would
 * know them, and the pod-bound tokens the kubelet asks the TokenRequest API for.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DriverAnswer, RealDriverClient } from './driver-client.js';
import type { KubeControlPlane } from './kube.js';
import { RealVault } from './vault-dev.js';
import { readTarget } from './world.js';

export interface PodRef {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

export const REVIEWER_BINDING = 'vault-auth-delegator';

/** A ServiceAccount in namespace `vault` allowed to create TokenReviews, as vault-helm sets it up; returns its token. */
export async function createReviewer(kube: KubeControlPlane): Promise<string> {
  await kube.must('POST', '/api/v1/namespaces', { metadata: { name: 'vault' } });
  await kube.must('POST', '/api/v1/namespaces/vault/serviceaccounts', { metadata: { name: 'vault' } });
  await bindReviewer(kube);
  const reviewer = (await kube.must('POST', '/api/v1/namespaces/vault/serviceaccounts/vault/token', { spec: { expirationSeconds: 7200 } })) as {
    status: { token: string };
  };
  return reviewer.status.token;
}

export async function bindReviewer(kube: KubeControlPlane): Promise<void> {
  await kube.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: REVIEWER_BINDING },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
    subjects: [{ kind: 'ServiceAccount', name: 'vault', namespace: 'vault' }],
  });
}

/** Vault's Kubernetes auth at `mount` reviewing logins through the real API server with the reviewer's token. */
export async function configureKubernetesAuth(vault: RealVault, kube: KubeControlPlane, reviewerJwt: string, mount = 'kubernetes'): Promise<void> {
  await vault.must('POST', `sys/auth/${mount}`, { type: 'kubernetes' });
  await vault.must('POST', `auth/${mount}/config`, {
    kubernetes_host: kube.server,
    kubernetes_ca_cert: kube.caPem,
    token_reviewer_jwt: reviewerJwt,
    // Vault runs outside the cluster here: it must not read a pod's CA or token files of its own.
    disable_local_ca_jwt: true,
  });
}

/**
 * The kube suites' common Vault identity: policy `web` reading `secret/data/web`, and role `web` at the Kubernetes
 * auth mount binding ServiceAccount prod/web with audience `vault`; `morePolicy` adds rules to the policy.
 */
export async function configureWebRole(vault: RealVault, morePolicy = ''): Promise<void> {
  await vault.must('POST', 'sys/policies/acl/web', { policy: `path "secret/data/web" { capabilities = ["read"] }${morePolicy === '' ? '' : `\n${morePolicy}`}` });
  await vault.must('POST', 'auth/kubernetes/role/web', {
    bound_service_account_names: ['web'],
    bound_service_account_namespaces: ['prod'],
    audience: 'vault',
    token_policies: ['web'],
    token_ttl: '1h',
  });
}

/** The pod attributes the driver puts in a Mount's volume context for `pod`. */
export function podAttributes(pod: PodRef, ephemeral = true): Record<string, string> {
  return {
    'csi.storage.k8s.io/pod.name': pod.name,
    'csi.storage.k8s.io/pod.namespace': pod.namespace,
    'csi.storage.k8s.io/pod.uid': pod.uid,
    'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccountName,
    'csi.storage.k8s.io/ephemeral': String(ephemeral),
  };
}

/**
 * Namespace `prod` with Pods web-0 and worker-0 of ServiceAccounts web and worker, and a real Vault whose Kubernetes
 * auth reviews through `kube`: `secret/data/web` holds `password`; roles `web` and `worker` (a role of its own, so
 * that no Vault token cached for web can answer worker's mounts) both get policy `web`.
 */
export async function startProdWorkloads(kube: KubeControlPlane, password: string): Promise<{ web: PodRef; worker: PodRef; vault: RealVault }> {
  await kube.must('POST', '/api/v1/namespaces', { metadata: { name: 'prod' } });
  for (const sa of ['web', 'worker']) await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts', { metadata: { name: sa } });
  const web = await createPod(kube, 'prod', 'web-0', 'web');
  const worker = await createPod(kube, 'prod', 'worker-0', 'worker');
  const reviewerJwt = await createReviewer(kube);
  const vault = await RealVault.start();
  await vault.must('POST', 'secret/data/web', { data: { password } });
  await configureKubernetesAuth(vault, kube, reviewerJwt);
  await configureWebRole(vault);
  await vault.must('POST', 'auth/kubernetes/role/worker', {
    bound_service_account_names: ['worker'],
    bound_service_account_namespaces: ['prod'],
    audience: 'vault',
    token_policies: ['web'],
    token_ttl: '1h',
  });
  return { web, worker, vault };
}

/** A Pod object on `nodeName` (never run: there is no kubelet), optionally with the CSI inline volume. */
export async function createPod(
  kube: KubeControlPlane,
  namespace: string,
  name: string,
  serviceAccountName: string,
  options: { nodeName?: string; secretProviderClass?: string } = {},
): Promise<PodRef> {
  const volume =
    options.secretProviderClass === undefined
      ? {}
      : {
          volumes: [
            { name: 'secrets-store', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: options.secretProviderClass } } },
          ],
        };
  const pod = (await kube.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
    metadata: { name },
    spec: {
      serviceAccountName,
      nodeName: options.nodeName ?? 'node1',
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'app',
          image: 'app:1',
          ...(options.secretProviderClass === undefined ? {} : { volumeMounts: [{ name: 'secrets-store', mountPath: '/mnt/secrets', readOnly: true }] }),
        },
      ],
      ...volume,
    },
  })) as { metadata: { uid: string } };
  return { name, namespace, uid: pod.metadata.uid, serviceAccountName };
}

/** A SecretProviderClass for provider `vault` (`spec` holds its parameters and secretObjects), as its author applies it. */
export async function createSecretProviderClass(kube: KubeControlPlane, namespace: string, name: string, spec: Readonly<Record<string, unknown>>): Promise<void> {
  await kube.must('POST', `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${namespace}/secretproviderclasses`, {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: { name },
    spec: { provider: 'vault', ...spec },
  });
}

/** SecretProviderClass prod/web-secrets for role `web`: WEB_OBJECTS and then `moreObjects` (lines of YAML), with `spec`'s other fields. */
export async function createWebSecretProviderClass(kube: KubeControlPlane, moreObjects: readonly string[], spec: Readonly<Record<string, unknown>> = {}): Promise<void> {
  await createSecretProviderClass(kube, 'prod', 'web-secrets', { parameters: { roleName: 'web', objects: `${WEB_OBJECTS}${moreObjects.join('\n')}` }, ...spec });
}

/** The token the kubelet requests for a CSIDriver's tokenRequests entry: bound to the pod, for one audience. */
export async function podToken(kube: KubeControlPlane, pod: PodRef, audience = 'vault', expirationSeconds = 3600): Promise<{ token: string; expirationTimestamp: string }> {
  const answer = (await kube.must('POST', `/api/v1/namespaces/${pod.namespace}/serviceaccounts/${pod.serviceAccountName}/token`, {
    spec: { audiences: [audience], expirationSeconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid } },
  })) as { status: { token: string; expirationTimestamp: string } };
  return answer.status;
}

/** What the prod workloads' roles may read: `password` of secret/data/web, as one file. */
export const WEB_OBJECTS = stringify([{ objectName: 'password', secretPath: 'secret/data/web', secretKey: 'password' }]);

/**
 * One Mount of WEB_OBJECTS for `pod` as `roleName` through the driver's client, into a new directory under `dir`.
 * `token` sends the pod's token from the real TokenRequest API, as a CSIDriver with tokenRequests does; without it
 * the provider must ask for one itself (the fallback).
 */
export async function mountWebSecrets(
  driver: RealDriverClient,
  kube: KubeControlPlane,
  dir: string,
  pod: PodRef,
  options: { readonly token: boolean; readonly roleName?: string; readonly timeoutMs?: number },
): Promise<DriverAnswer & { files: Map<string, { text: string }> }> {
  const target = await mkdtemp(join(dir, 'target-'));
  const attributes: Record<string, string> = {
    roleName: options.roleName ?? 'web',
    objects: WEB_OBJECTS,
    secretProviderClass: 'web-secrets',
    ...podAttributes(pod),
  };
  if (options.token) attributes['csi.storage.k8s.io/serviceAccount.tokens'] = JSON.stringify({ vault: await podToken(kube, pod) });
  const answer = await driver.mount({ attributes, secrets: null, targetPath: target, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
  return { ...answer, files: await readTarget(target) };
}
