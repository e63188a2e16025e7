/** A MountConfig parsed from a minimal driver request plus `params`, for tests of what comes after parsing. */
import { parseMountRequest } from '../../src/config/mount-request.js';
import type { MountConfig } from '../../src/config/types.js';

/** The least a mount request's attributes hold: a pod, its ServiceAccount, a role and one object. */
export const MINIMAL_ATTRIBUTES: Readonly<Record<string, string>> = {
  'csi.storage.k8s.io/pod.name': 'p',
  'csi.storage.k8s.io/pod.namespace': 'ns',
  'csi.storage.k8s.io/pod.uid': 'u',
  'csi.storage.k8s.io/serviceAccount.name': 'sa',
  roleName: 'r',
  objects: '- objectName: a\n  secretPath: secret/data/a\n',
};

export function mountConfigWith(params: Readonly<Record<string, string>>): MountConfig {
  const attributes = { ...MINIMAL_ATTRIBUTES, ...params };
  return parseMountRequest({ attributes: JSON.stringify(attributes), secrets: 'null', targetPath: '/t', permission: '420' });
}
