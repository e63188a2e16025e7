/**
 * The provider's DaemonSet as a kustomization renders it (deploy/base by default), turned into the `podman run`
 * arguments that run its container the way a kubelet would: its user and group, read-only root filesystem (and no
 * tmpfs podman would add), capabilities, no-new-privileges, seccomp, resource limits, environment (downward-API
 * fields resolved), hostPath volumes bind-mounted at their mount paths, the projected ServiceAccount token at the
 * in-cluster path, the arguments, and the grace period on stop. Nothing is restated here: a field this mapping
 * does not know fails the test instead of being dropped.
 */
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { renderKustomization } from '../../helpers/kustomize.js';

/** The in-cluster path of the projected ServiceAccount volume (what the kubelet mounts into every container). */
export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ProviderDaemonSet {
  readonly daemonSet: IDaemonSet;
  readonly namespace: string;
  readonly serviceAccountName: string;
  readonly container: IContainer;
  /** The container port named `health` (probes and metrics). */
  readonly healthPort: number;
  readonly terminationGracePeriodSeconds: number;
}

export async function providerDaemonSet(kustomization: string): Promise<ProviderDaemonSet> {
  const objects = await renderKustomization(kustomization);
  const daemonSets = objects.filter((o) => o['kind'] === 'DaemonSet') as unknown as IDaemonSet[];
  if (daemonSets.length !== 1) throw new Error(`${kustomization}: ${daemonSets.length} DaemonSets, expected one`);
  const daemonSet = daemonSets[0]!;
  const pod = daemonSet.spec?.template.spec;
  const container = pod?.containers[0];
  if (pod === undefined || container === undefined || pod.containers.length !== 1) throw new Error(`${kustomization}: the DaemonSet needs one container`);
  const health = container.ports?.find((p) => p.name === 'health')?.containerPort;
  if (health === undefined) throw new Error(`${kustomization}: no container port named health`);
  return {
    daemonSet,
    namespace: daemonSet.metadata?.namespace ?? 'default',
    serviceAccountName: pod.serviceAccountName ?? 'default',
    container,
    healthPort: health,
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds ?? 30,
  };
}

export interface RunAs {
  readonly name: string;
  readonly image: string;
  /** The host directory of each hostPath volume, by volume name (a test's own directories, not the node's). */
  readonly hostPaths: Readonly<Record<string, string>>;
  /** The projected ServiceAccount files (token, ca.crt, namespace), or undefined when the pod mounts none. */
  readonly serviceAccountDir: string | undefined;
  /** What the kubelet adds to the environment: KUBERNETES_SERVICE_HOST/PORT. */
  readonly kubeletEnv: Readonly<Record<string, string>>;
  /** The pod's name, for the downward API. */
  readonly podName: string;
  /** Names the cluster's DNS would resolve (e.g. vault.vault.svc), to an address of the test's network namespace. */
  readonly hosts: Readonly<Record<string, string>>;
}

/** Kubernetes quantities as the DaemonSet writes them: memory in Ki/Mi/Gi or plain bytes, CPU in millicores or cores. */
export function memoryBytes(q: string | number): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(q));
  if (m === null) throw new Error(`memory quantity ${q}: not understood here`);
  return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as 'Ki' | 'Mi' | 'Gi'] ?? 1);
}

export function cpus(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(String(q));
  if (m === null) throw new Error(`cpu quantity ${q}: not understood here`);
  return Number(m[1]) / (m[2] === 'm' ? 1000 : 1);
}

/** `podman run` arguments (without `podman run`) for the DaemonSet's container, as a kubelet would run it. */
export function podmanRunArgs(ds: ProviderDaemonSet, run: RunAs): string[] {
  const pod = ds.daemonSet.spec!.template.spec!;
  const c = ds.container;
  const sc = c.securityContext ?? {};
  const args = ['--name', run.name, '--rm', '--pull=never', '--network=host', `--stop-timeout=${ds.terminationGracePeriodSeconds}`];

  const user = sc.runAsUser ?? pod.securityContext?.runAsUser;
  const group = sc.runAsGroup ?? pod.securityContext?.runAsGroup;
  if ((sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot) === true && user === 0) throw new Error('runAsNonRoot with runAsUser 0: the kubelet would refuse it');
  if (user !== undefined) args.push(`--user=${user}:${group ?? user}`);
  else if (group !== undefined) throw new Error('runAsGroup without runAsUser: not mapped');
  if (pod.securityContext?.fsGroup !== undefined || pod.securityContext?.supplementalGroups !== undefined) throw new Error('fsGroup/supplementalGroups: not mapped');

  // A kubelet gives a read-only root no tmpfs anywhere; podman's --read-only would add them on /tmp, /var/tmp and /run.
  if (sc.readOnlyRootFilesystem === true) args.push('--read-only', '--read-only-tmpfs=false');
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt=no-new-privileges');
  if (sc.privileged === true) throw new Error('privileged: not mapped');
  for (const cap of sc.capabilities?.drop ?? []) args.push(`--cap-drop=${cap}`);
  for (const cap of sc.capabilities?.add ?? []) args.push(`--cap-add=${cap}`);
  const seccomp = sc.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
  // RuntimeDefault is podman's default profile; Unconfined would be said explicitly.
  if (seccomp === 'Unconfined') args.push('--security-opt=seccomp=unconfined');
  else if (seccomp !== undefined && seccomp !== 'RuntimeDefault') throw new Error(`seccompProfile ${seccomp}: not mapped`);

  const limits = c.resources?.limits ?? {};
  if (limits['memory'] !== undefined) args.push(`--memory=${memoryBytes(limits['memory'])}`);
  if (limits['cpu'] !== undefined) args.push(`--cpus=${cpus(limits['cpu'])}`);

  for (const [name, value] of Object.entries(run.kubeletEnv)) args.push('--env', `${name}=${value}`);
  for (const e of c.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (e.value !== undefined) args.push('--env', `${e.name}=${e.value}`);
    else if (field === 'metadata.namespace') args.push('--env', `${e.name}=${ds.namespace}`);
    else if (field === 'metadata.name') args.push('--env', `${e.name}=${run.podName}`);
    else throw new Error(`env ${e.name}: its source is not mapped`);
  }
  if ((c.envFrom ?? []).length > 0) throw new Error('envFrom: not mapped');

  for (const m of c.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === m.name);
    const host = run.hostPaths[m.name];
    if (volume?.hostPath === undefined || host === undefined) throw new Error(`volume ${m.name}: only hostPath volumes with a test directory are mapped`);
    args.push('--volume', `${host}:${m.mountPath}${m.readOnly === true ? ':ro' : ''}`);
  }
  if (pod.automountServiceAccountToken !== false && run.serviceAccountDir !== undefined) {
    args.push('--volume', `${run.serviceAccountDir}:${SERVICE_ACCOUNT_PATH}:ro`);
  }
  for (const [name, address] of Object.entries(run.hosts)) args.push(`--add-host=${name}:${address}`);
  if (c.command !== undefined) args.push(`--entrypoint=${JSON.stringify(c.command)}`);
  args.push(run.image, ...(c.args ?? []));
  return args;
}
