/**
 * The provider as it runs in a pod, without a cluster's kubelet: in a private mount namespace (`unshare -m`) whose
 * /run is a tmpfs holding the in-cluster ServiceAccount directory (/var/run/secrets/kubernetes.io/serviceaccount,
 * /var/run being /run) as a link to a directory of the test's own. Needs root, as the real suite and the kube
 * memory bench run.
 */
const SCRIPT = 'mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io && ln -s "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"';

/** `unshare`'s arguments that run `command` (a program and its arguments) with `serviceAccountDir` in place. */
export function inClusterArgs(serviceAccountDir: string, command: readonly string[]): string[] {
  return ['--mount', '--propagation', 'private', 'sh', '-c', SCRIPT, serviceAccountDir, ...command];
}
