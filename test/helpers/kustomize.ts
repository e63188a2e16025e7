/**
 * A test-only kustomize renderer for the subset our kustomizations use: `resources` (files and directories),
 * `namespace`, `patches` (strategic merge, from a file or inline) and `images`. Anything else in a kustomization
 * is refused, which keeps deploy/ inside what this renderer (and any kustomize since v4) agrees on. The test suite
 * compares it with `kubectl kustomize` where kubectl is installed.
 *
 * Written from kustomize's documented behaviour: the namespace is set on namespaced objects, renames a Namespace
 * object, and fills RoleBinding/ClusterRoleBinding subjects named "default"; a strategic merge patch merges maps,
 * replaces scalar lists, and merges object lists by their Kubernetes merge key (patch entries first, then the
 * entries only the target had); `null` deletes a key.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type KubeObject = Record<string, unknown>;

export class KustomizeError extends Error {
  override readonly name = 'KustomizeError';
}

const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'images']);
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** Kinds that have no namespace (the ones a deployment of ours could contain). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CSIDriver',
  'CustomResourceDefinition',
  'PriorityClass',
  'StorageClass',
  'PersistentVolume',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

/** Kubernetes' patchMergeKey of the object lists a pod template has; any other object list in a patch is refused. */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
};
/** Object lists that have no merge key: a patch replaces them whole. */
const REPLACED_LISTS = new Set(['tolerations', 'envFrom', 'subjects', 'rules', 'data', 'secretObjects']);

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function readYamlDocuments(file: string): Promise<KubeObject[]> {
  const text = await readFile(file, 'utf8');
  const out: KubeObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new KustomizeError(`${file}: document ${i + 1}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (!isObject(value)) throw new KustomizeError(`${file}: document ${i + 1} is not a map`);
    out.push(value);
  }
  return out;
}

async function kustomizationFile(dir: string): Promise<string> {
  for (const name of KUSTOMIZATION_FILES) {
    const path = join(dir, name);
    if (await stat(path).then((s) => s.isFile(), () => false)) return path;
  }
  throw new KustomizeError(`${dir} has no kustomization.yaml`);
}

function strings(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new KustomizeError(`${what} must be a list of strings`);
  return value;
}

/** Renders the kustomization in `dir` into its objects, in resource order. */
export async function renderKustomization(dir: string): Promise<KubeObject[]> {
  const file = await kustomizationFile(dir);
  const docs = await readYamlDocuments(file);
  if (docs.length !== 1) throw new KustomizeError(`${file} must hold exactly one document`);
  const k = docs[0]!;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(key)) throw new KustomizeError(`${file}: field "${key}" is outside the supported subset (${[...SUPPORTED_FIELDS].join(', ')})`);
  }
  if (k.apiVersion !== undefined && k.apiVersion !== 'kustomize.config.k8s.io/v1beta1') throw new KustomizeError(`${file}: unknown apiVersion`);
  if (k.kind !== undefined && k.kind !== 'Kustomization') throw new KustomizeError(`${file}: kind must be Kustomization`);

  let objects: KubeObject[] = [];
  for (const entry of strings(k.resources, `${file}: resources`)) {
    const path = resolve(dir, entry);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new KustomizeError(`${file}: resource ${entry} does not exist`);
    objects.push(...(info.isDirectory() ? await renderKustomization(path) : await readYamlDocuments(path)));
  }
  objects = objects.map((o) => structuredClone(o));

  if (k.namespace !== undefined) {
    if (typeof k.namespace !== 'string' || k.namespace === '') throw new KustomizeError(`${file}: namespace must be a name`);
    for (const o of objects) setNamespace(o, k.namespace);
  }
  for (const patch of await patchesOf(k.patches, dir, file)) applyPatch(objects, patch, file);
  if (k.images !== undefined) {
    if (!Array.isArray(k.images)) throw new KustomizeError(`${file}: images must be a list`);
    for (const image of k.images) {
      if (!isObject(image) || typeof image.name !== 'string') throw new KustomizeError(`${file}: each image needs a name`);
      for (const key of Object.keys(image)) {
        if (!['name', 'newName', 'newTag', 'digest'].includes(key)) throw new KustomizeError(`${file}: image field "${key}" is not supported`);
      }
      for (const o of objects) retag(o, image);
    }
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const id = objectId(o);
    if (seen.has(id)) throw new KustomizeError(`${file}: ${id} appears twice`);
    seen.add(id);
  }
  return objects;
}

export function objectId(o: KubeObject): string {
  const meta = isObject(o.metadata) ? o.metadata : {};
  const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? '');
  return `${text(o.apiVersion)} ${text(o.kind)} ${text(meta.namespace ?? '')}/${text(meta.name)}`;
}

function setNamespace(o: KubeObject, namespace: string): void {
  const meta: Record<string, unknown> = isObject(o.metadata) ? o.metadata : (o.metadata = {});
  if (o.kind === 'Namespace') {
    meta.name = namespace;
    return;
  }
  if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
    for (const s of Array.isArray(o.subjects) ? o.subjects : []) {
      if (isObject(s) && s.kind === 'ServiceAccount' && s.name === 'default') s.namespace = namespace;
    }
  }
  if (typeof o.kind !== 'string' || !CLUSTER_SCOPED.has(o.kind)) meta.namespace = namespace;
}

async function patchesOf(value: unknown, dir: string, file: string): Promise<KubeObject[]> {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new KustomizeError(`${file}: patches must be a list`);
  const out: KubeObject[] = [];
  for (const entry of value) {
    if (!isObject(entry)) throw new KustomizeError(`${file}: each patch must be a map`);
    for (const key of Object.keys(entry)) {
      // `target` selects JSON 6902 patches and multi-object patches: not part of the subset.
      if (key !== 'path' && key !== 'patch') throw new KustomizeError(`${file}: patch field "${key}" is not supported`);
    }
    if (typeof entry.path === 'string') {
      const path = resolve(dir, entry.path);
      if (relative(dir, path).startsWith('..')) throw new KustomizeError(`${file}: patch ${entry.path} is outside the kustomization`);
      out.push(...(await readYamlDocuments(path)));
    } else if (typeof entry.patch === 'string') {
      for (const doc of parseAllDocuments(entry.patch)) {
        const v = doc.toJS() as unknown;
        if (isObject(v)) out.push(v);
      }
    } else {
      throw new KustomizeError(`${file}: a patch needs path or patch`);
    }
  }
  return out;
}

function applyPatch(objects: KubeObject[], patch: KubeObject, file: string): void {
  const meta = isObject(patch.metadata) ? patch.metadata : {};
  const targets = objects.filter((o) => {
    const m = isObject(o.metadata) ? o.metadata : {};
    return o.kind === patch.kind && o.apiVersion === patch.apiVersion && m.name === meta.name && (meta.namespace === undefined || m.namespace === meta.namespace);
  });
  if (targets.length !== 1) {
    throw new KustomizeError(`${file}: patch for ${String(patch.kind)} ${String(meta.name)} matches ${targets.length} objects`);
  }
  const target = targets[0]!;
  const merged = strategicMerge(target, patch, String(patch.kind));
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, merged);
}

/** A strategic merge of `patch` into `base` (neither is modified). */
export function strategicMerge(base: Record<string, unknown>, patch: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) throw new KustomizeError(`${where}: patch directive ${key} is not supported`);
    if (value === null) {
      delete out[key];
    } else if (isObject(value) && isObject(out[key])) {
      out[key] = strategicMerge(out[key], value, `${where}.${key}`);
    } else if (Array.isArray(value) && value.some(isObject)) {
      out[key] = mergeList(key, Array.isArray(out[key]) ? (out[key] as unknown[]) : [], value, `${where}.${key}`);
    } else {
      out[key] = structuredClone(value);
    }
  }
  return out;
}

function mergeList(field: string, base: unknown[], patch: unknown[], where: string): unknown[] {
  if (REPLACED_LISTS.has(field)) return structuredClone(patch);
  const key = MERGE_KEYS[field];
  if (key === undefined) throw new KustomizeError(`${where}: no merge key known for the list "${field}"`);
  const keyOf = (item: unknown): unknown => (isObject(item) ? item[key] : undefined);
  const patchKeys = new Set(patch.map(keyOf));
  const merged = patch.map((item) => {
    if (!isObject(item) || item[key] === undefined) throw new KustomizeError(`${where}: every entry needs ${key}`);
    const existing = base.find((b) => keyOf(b) === item[key]);
    return isObject(existing) ? strategicMerge(existing, item, `${where}[${JSON.stringify(item[key])}]`) : structuredClone(item);
  });
  return [...merged, ...base.filter((b) => !patchKeys.has(keyOf(b)))];
}

/** The pod specs of an object: a Pod's own, or a workload's template. */
function podSpecs(o: KubeObject): Record<string, unknown>[] {
  const spec = isObject(o.spec) ? o.spec : undefined;
  if (spec === undefined) return [];
  if (o.kind === 'Pod') return [spec];
  const jobTemplate = isObject(spec.jobTemplate) && isObject(spec.jobTemplate.spec) ? spec.jobTemplate.spec : undefined;
  const template = (jobTemplate ?? spec).template;
  return isObject(template) && isObject(template.spec) ? [template.spec] : [];
}

function splitImage(image: string): { name: string; tag: string | undefined; digest: string | undefined } {
  const at = image.indexOf('@');
  const digest = at === -1 ? undefined : image.slice(at + 1);
  const rest = at === -1 ? image : image.slice(0, at);
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, tag: undefined, digest };
}

function retag(o: KubeObject, image: Record<string, unknown>): void {
  for (const spec of podSpecs(o)) {
    for (const list of [spec.containers, spec.initContainers]) {
      for (const c of Array.isArray(list) ? list : []) {
        if (!isObject(c) || typeof c.image !== 'string') continue;
        const current = splitImage(c.image);
        if (current.name !== image.name) continue;
        const name = typeof image.newName === 'string' ? image.newName : current.name;
        if (typeof image.digest === 'string') c.image = `${name}@${image.digest}`;
        else if (typeof image.newTag === 'string') c.image = `${name}:${image.newTag}`;
        else c.image = `${name}${current.tag === undefined ? '' : `:${current.tag}`}${current.digest === undefined ? '' : `@${current.digest}`}`;
      }
    }
  }
}

/** Every directory under `root` that holds a kustomization file. */
export function kustomizationDirs(root: string, files: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const f of files) if (KUSTOMIZATION_FILES.some((n) => f.endsWith(`/${n}`))) dirs.add(dirname(f));
  return [...dirs].filter((d) => d.startsWith(root)).sort();
}
