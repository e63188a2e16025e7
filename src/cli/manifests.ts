/**
 * Manifests → the MountRequest attributes the driver would send for a pod's volume, for `vault-csi-provider mount`:
 * parameters, the volume's attributes on top, the pod's identity. Non-string values are refused, as Kubernetes would.
 */
import { parseAllDocuments } from 'yaml';
import { isPlainObject } from '../shared/plain-object.js';

export const SECRETS_STORE_DRIVER = 'secrets-store.csi.k8s.io';
const SPC_API_GROUP = 'secrets-store.csi.x-k8s.io/';

/** A manifest that cannot stand for what the driver would see. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export interface SecretProviderClassManifest {
  readonly name: string;
  readonly namespace: string | undefined;
  readonly provider: string;
  readonly parameters: ReadonlyMap<string, string>;
}

export interface PodVolume {
  readonly volumeName: string;
  readonly secretProviderClass: string;
  readonly volumeAttributes: ReadonlyMap<string, string>;
}

export interface PodManifest {
  readonly name: string;
  readonly namespace: string | undefined;
  readonly uid: string | undefined;
  readonly serviceAccountName: string;
  /** The secrets-store CSI volumes of the pod (or of a workload's pod template). */
  readonly volumes: readonly PodVolume[];
}

function documents(text: string, file: string): unknown[] {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) throw new ManifestError(`${file} is not YAML`);
  return docs.map((doc, i) => {
    const first = doc.errors[0];
    if (first !== undefined) throw new ManifestError(`${file}: document ${i + 1} is not valid YAML (${first.code})`);
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  });
}

/** A map of strings, as Kubernetes stores parameters and volumeAttributes. */
function stringMap(value: unknown, what: string): Map<string, string> {
  if (value === undefined || value === null) return new Map();
  if (!isPlainObject(value)) throw new ManifestError(`${what} must be a map of strings`);
  const out = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new ManifestError(`${what}.${key} must be a string (quote it: Kubernetes would refuse the manifest)`);
    }
    out.set(key, v);
  }
  return out;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Every SecretProviderClass in a (possibly multi-document) YAML file. */
export function parseSecretProviderClasses(source: string, file: string): SecretProviderClassManifest[] {
  const found: SecretProviderClassManifest[] = [];
  for (const doc of documents(source, file)) {
    if (!isPlainObject(doc) || doc['kind'] !== 'SecretProviderClass') continue;
    const apiVersion = text(doc['apiVersion']) ?? '';
    if (!apiVersion.startsWith(SPC_API_GROUP)) {
      throw new ManifestError(`${file}: apiVersion ${JSON.stringify(apiVersion)} is not ${SPC_API_GROUP}v1`);
    }
    const metadata = isPlainObject(doc['metadata']) ? doc['metadata'] : {};
    const name = text(metadata['name']);
    if (name === undefined) throw new ManifestError(`${file}: a SecretProviderClass has no metadata.name`);
    const spec = isPlainObject(doc['spec']) ? doc['spec'] : {};
    const provider = text(spec['provider']) ?? '';
    found.push({
      name,
      namespace: text(metadata['namespace']),
      provider,
      parameters: stringMap(spec['parameters'], `SecretProviderClass ${name}: spec.parameters`),
    });
  }
  if (found.length === 0) throw new ManifestError(`${file} holds no SecretProviderClass`);
  return found;
}

/** The pod spec and metadata of a Pod, or of a workload's pod template (Deployment, StatefulSet, Job, …). */
function podParts(doc: Record<string, unknown>): { metadata: Record<string, unknown>; spec: Record<string, unknown> } | undefined {
  const spec = isPlainObject(doc['spec']) ? doc['spec'] : undefined;
  if (spec === undefined) return undefined;
  if (doc['kind'] === 'Pod') return { metadata: isPlainObject(doc['metadata']) ? doc['metadata'] : {}, spec };
  // CronJob: spec.jobTemplate.spec.template; the others: spec.template.
  const jobTemplate = isPlainObject(spec['jobTemplate']) && isPlainObject(spec['jobTemplate']['spec']) ? spec['jobTemplate']['spec'] : undefined;
  const template = jobTemplate?.['template'] ?? spec['template'];
  if (!isPlainObject(template) || !isPlainObject(template['spec'])) return undefined;
  const own = isPlainObject(doc['metadata']) ? doc['metadata'] : {};
  const templateMeta = isPlainObject(template['metadata']) ? template['metadata'] : {};
  // The pods get the workload's namespace; their names are generated, so the workload's name stands in.
  return { metadata: { ...templateMeta, name: own['name'], namespace: own['namespace'] }, spec: template['spec'] };
}

/** The first Pod (or workload with a pod template) in a YAML file. */
export function parsePod(source: string, file: string): PodManifest {
  for (const doc of documents(source, file)) {
    if (!isPlainObject(doc)) continue;
    const parts = podParts(doc);
    if (parts === undefined) continue;
    const { metadata, spec } = parts;
    const rawVolumes = Array.isArray(spec['volumes']) ? (spec['volumes'] as unknown[]) : [];
    const volumes: PodVolume[] = [];
    for (const volume of rawVolumes) {
      if (!isPlainObject(volume) || !isPlainObject(volume['csi']) || volume['csi']['driver'] !== SECRETS_STORE_DRIVER) continue;
      const volumeName = text(volume['name']) ?? '';
      const volumeAttributes = stringMap(volume['csi']['volumeAttributes'], `volume ${volumeName}: csi.volumeAttributes`);
      const secretProviderClass = volumeAttributes.get('secretProviderClass');
      if (secretProviderClass === undefined || secretProviderClass === '') {
        throw new ManifestError(`volume ${volumeName}: csi.volumeAttributes.secretProviderClass is missing (the driver needs it)`);
      }
      volumes.push({ volumeName, secretProviderClass, volumeAttributes });
    }
    return {
      name: text(metadata['name']) ?? 'pod',
      namespace: text(metadata['namespace']),
      uid: text(metadata['uid']),
      serviceAccountName: text(spec['serviceAccountName']) ?? 'default',
      volumes,
    };
  }
  throw new ManifestError(`${file} holds no Pod and no workload with a pod template`);
}

export interface Selection {
  readonly spc: SecretProviderClassManifest;
  readonly volume: PodVolume | undefined;
}

/** The volume named `volumeName`, else the one whose SecretProviderClass is in the file; or the one class. */
export function selectVolume(
  classes: readonly SecretProviderClassManifest[],
  pod: PodManifest | undefined,
  volumeName: string | undefined,
  className: string | undefined,
): Selection {
  const byName = (name: string): SecretProviderClassManifest | undefined => classes.find((c) => c.name === name);
  if (pod === undefined) {
    if (className !== undefined) {
      const spc = byName(className);
      if (spc === undefined) throw new ManifestError(`no SecretProviderClass named ${JSON.stringify(className)} in the file`);
      return { spc, volume: undefined };
    }
    if (classes.length > 1) {
      throw new ManifestError(`the file holds ${classes.length} SecretProviderClasses (${classes.map((c) => c.name).join(', ')}); choose one with --name`);
    }
    return { spc: classes[0]!, volume: undefined };
  }
  if (pod.volumes.length === 0) throw new ManifestError(`pod ${pod.name} has no ${SECRETS_STORE_DRIVER} volume`);
  let candidates: readonly PodVolume[];
  if (volumeName !== undefined) {
    candidates = pod.volumes.filter((v) => v.volumeName === volumeName);
    if (candidates.length === 0) throw new ManifestError(`pod ${pod.name} has no ${SECRETS_STORE_DRIVER} volume named ${JSON.stringify(volumeName)}`);
  } else {
    candidates = pod.volumes.filter((v) => byName(v.secretProviderClass) !== undefined && (className === undefined || v.secretProviderClass === className));
    if (candidates.length > 1) {
      throw new ManifestError(`pod ${pod.name} has ${candidates.length} volumes for these SecretProviderClasses; choose one with --volume`);
    }
  }
  const volume = candidates[0];
  const spc = volume === undefined ? undefined : byName(volume.secretProviderClass);
  if (volume === undefined || spc === undefined) {
    const wanted = pod.volumes.map((v) => v.secretProviderClass).join(', ');
    throw new ManifestError(`pod ${pod.name} mounts SecretProviderClass ${wanted}, which the file does not hold`);
  }
  return { spc, volume };
}

export interface PodIdentity {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

/** The SecretProviderClass must be in the pod's namespace, as the driver looks it up there. */
export function driverAttributes(selection: Selection, pod: PodIdentity): Record<string, string> {
  const { spc, volume } = selection;
  if (spc.provider !== 'vault') {
    throw new ManifestError(`SecretProviderClass ${spc.name} is for provider ${JSON.stringify(spc.provider)}; this provider serves "vault"`);
  }
  if (spc.namespace !== undefined && spc.namespace !== pod.namespace) {
    throw new ManifestError(`SecretProviderClass ${spc.name} is in namespace ${spc.namespace}, the pod in ${pod.namespace}: the driver only looks in the pod's namespace`);
  }
  return {
    ...Object.fromEntries(spc.parameters),
    ...(volume === undefined ? { secretProviderClass: spc.name } : Object.fromEntries(volume.volumeAttributes)),
    'csi.storage.k8s.io/pod.name': pod.name,
    'csi.storage.k8s.io/pod.namespace': pod.namespace,
    'csi.storage.k8s.io/pod.uid': pod.uid,
    'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccountName,
    'csi.storage.k8s.io/ephemeral': 'true',
  };
}
