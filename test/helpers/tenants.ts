/** Pods of many namespaces for the fairness tests, and a promise the test settles when it chooses. */
import type { PodIdentity } from './provider-harness.js';

/** Pod `i` of `namespace`, ServiceAccount `web`, with a UID of its own. */
export function tenantPod(namespace: string, i: number): PodIdentity {
  return { name: `app-${i}`, namespace, uid: `00000000-0000-4000-8000-${namespace.length.toString(16)}${String(i).padStart(11, '0')}`, serviceAccountName: 'web' };
}

/** A promise and the function that settles it. */
export function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
