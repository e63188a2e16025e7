/**
 * Every manifest in deploy/ and examples/, and every kustomize rendering, validated offline: kubernetes-models'
 * schemas, a strict field check that catches misspelled fields, and the semantics that matter for this provider
 * (the DaemonSet's args are flags the binary accepts, probes and socket where the driver and kubelet look,
 * least-privilege RBAC that matches the flags).
 */
import assert from 'node:assert/strict';
import { imageNodeOptions } from '../../scripts/image/dockerfile.js';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { DEFAULT_LEASE_CACHE_BYTES, parseFlags, type ProviderSettings } from '../../src/cli/flags.js';
import { DEFAULT_NODE_MEMORY_BUDGET } from '../../src/admission/mount-admission.js';
import { TOKEN_CACHE_BYTES_PER_ENTRY } from '../../src/auth/authenticator.js';
import { DEFAULT_OBJECTS_CACHE_BYTES } from '../../src/config/objects.js';
import { DEFAULT_AUDIT_STATE_BYTES } from '../../src/observability/audit.js';
import { isObject, kustomizationDirs, objectId, readYamlDocuments, renderKustomization, KustomizeError, type KubeObject } from '../helpers/kustomize.js';
import { extraType, kubeType, schemaProblems, strictFieldProblems, type CheckedDocument } from '../helpers/manifest-check.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const DEPLOY = join(ROOT, 'deploy');
const EXAMPLES = join(ROOT, 'examples');

/** The Helm chart's templates are not YAML until helm renders them: helm-chart.test.ts and helm.real.ts check it. */
const HELM_CHARTS = join(DEPLOY, 'helm');

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name) && !`${e.parentPath}/`.startsWith(`${HELM_CHARTS}/`))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

const rel = (path: string): string => relative(ROOT, path);

interface Classified {
  readonly kubernetes: CheckedDocument[];
  readonly other: CheckedDocument[];
  readonly unknown: string[];
}

/** Every document of every file, with the type it is checked against. */
async function classify(files: readonly string[]): Promise<Classified> {
  const kubernetes: CheckedDocument[] = [];
  const other: CheckedDocument[] = [];
  const unknown: string[] = [];
  const patchFiles = new Set<string>();
  for (const dir of kustomizationDirs(ROOT, files)) {
    const [k] = await readYamlDocuments(join(dir, 'kustomization.yaml'));
    for (const p of Array.isArray(k?.patches) ? k.patches : []) if (isObject(p) && typeof p.path === 'string') patchFiles.add(join(dir, p.path));
  }
  for (const file of files) {
    const docs = await readYamlDocuments(file);
    docs.forEach((doc, i) => {
      const source = `${rel(file)}#${i + 1}`;
      if (basename(file) === 'kustomization.yaml') other.push({ source, doc, type: extraType('IKustomization') });
      else if (rel(file) === 'deploy/vault-helm/values.yaml') other.push({ source, doc, type: extraType('IVaultHelmValues') });
      else if (rel(file) === 'deploy/driver/helm-values.yaml') other.push({ source, doc, type: extraType('IDriverHelmValues') });
      else {
        const type = kubeType(doc);
        if (type === undefined) unknown.push(source);
        else if (patchFiles.has(file)) other.push({ source, doc, type: { ...type, patch: true } });
        else kubernetes.push({ source, doc, type });
      }
    });
  }
  return { kubernetes, other, unknown };
}

interface Rendering {
  readonly dir: string;
  readonly objects: KubeObject[];
}

interface Kinds {
  DaemonSet: IDaemonSet;
  ServiceAccount: IServiceAccount;
  Namespace: INamespace;
  ClusterRole: IClusterRole;
  ClusterRoleBinding: IClusterRoleBinding;
  Role: IRole;
  RoleBinding: IRoleBinding;
}

/** The one object of a kind in a rendering, typed (the schema test has checked its shape). */
function only<K extends keyof Kinds>(objects: readonly KubeObject[], kind: K): Kinds[K] {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as unknown as Kinds[K];
}

function podSpec(ds: IDaemonSet): IPodSpec {
  return ds.spec!.template.spec!;
}

function provider(ds: IDaemonSet): IContainer {
  return podSpec(ds).containers.find((c) => c.name === 'provider')!;
}

/** The provider's settings as the DaemonSet's container would start it: its args over its literal env. */
function settingsOf(container: IContainer): ProviderSettings {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  const parsed = parseFlags(container.args ?? [], env);
  assert.equal(parsed.kind, 'run');
  return parsed.settings;
}


/** Copies with one mistake each, to show the strict check fails on them (and names the field). */
function brokenDocuments(base: readonly KubeObject[]): CheckedDocument[] {
  const ds = structuredClone(only(base, 'DaemonSet'));
  Object.assign(provider(ds), { imagePullPolicyy: 'Always' });
  // TypeScript reports the first unknown field of a document, so the misplaced one gets its own copy.
  const misplaced = structuredClone(only(base, 'DaemonSet'));
  Object.assign(podSpec(misplaced), { readOnlyRootFilesystem: true });
  const spc = { apiVersion: 'secrets-store.csi.x-k8s.io/v1', kind: 'SecretProviderClass', metadata: { name: 'x' }, spec: { provider: 'vault', secretObject: [] } };
  const kustomization = { resources: ['a.yaml'], patchesStrategicMerge: ['p.yaml'] };
  const values = { csi: { enabled: true, extraArg: [] } };
  const badType = structuredClone(only(base, 'DaemonSet'));
  Object.assign(provider(badType).ports![0]!, { containerPort: '8080' });
  return [
    { source: 'broken: ds', doc: ds, type: kubeType(ds)! },
    { source: 'broken: misplaced', doc: misplaced, type: kubeType(misplaced)! },
    { source: 'broken: spc', doc: spc, type: kubeType(spc)! },
    { source: 'broken: kustomization', doc: kustomization, type: extraType('IKustomization') },
    { source: 'broken: values', doc: values, type: extraType('IVaultHelmValues') },
    { source: 'broken: port', doc: badType, type: kubeType(badType)! },
  ];
}

describe('deploy and examples: manifests', function () {
  this.timeout(60_000);
  let files: string[];
  let classified: Classified;
  let renderings: Rendering[];
  /** Problems the strict check found, by source: the real documents and the deliberately broken ones. */
  let strict: { real: string[]; broken: string[] };

  before(async () => {
    files = [...(await yamlFiles(DEPLOY)), ...(await yamlFiles(EXAMPLES))];
    classified = await classify(files);
    renderings = [];
    for (const dir of kustomizationDirs(DEPLOY, files)) renderings.push({ dir, objects: await renderKustomization(dir) });
    // One TypeScript program for everything (a program takes seconds to build): the real documents, and broken
    // copies that prove the check can fail.
    const rendered: CheckedDocument[] = renderings.flatMap((r) => r.objects.map((o) => ({ source: `${rel(r.dir)} → ${objectId(o)}`, doc: o, type: kubeType(o)! })));
    const problems = strictFieldProblems([...classified.kubernetes, ...classified.other, ...rendered, ...brokenDocuments(renderings[0]!.objects)]);
    strict = { real: problems.filter((p) => !p.startsWith('broken:')), broken: problems.filter((p) => p.startsWith('broken:')) };
  });

  it('knows the type of every document in deploy/ and examples/', () => {
    assert.ok(files.length >= 15, `found ${files.length} YAML files`);
    assert.deepEqual(classified.unknown, []);
    assert.deepEqual(renderings.map((r) => rel(r.dir)), ['deploy/base', 'deploy/overlays/external-vault-tls', 'deploy/overlays/non-root', 'deploy/overlays/openbao', 'deploy/overlays/token-request-fallback', 'deploy/overlays/vault-namespace']);
  });

  it('passes the Kubernetes schemas (kubernetes-models), files and kustomize renderings alike', async () => {
    const problems: string[] = [];
    for (const d of classified.kubernetes) problems.push(...(await schemaProblems(d.doc, d.source)));
    for (const r of renderings) for (const o of r.objects) problems.push(...(await schemaProblems(o, `${rel(r.dir)} → ${objectId(o)}`)));
    assert.deepEqual(problems, []);
  });

  it('has no field its type does not know: manifests, renderings, patches, kustomizations, Helm values', () => {
    assert.deepEqual(strict.real, []);
  });

  it('the strict check names a misspelled field, a misplaced field and a wrong type (and the schemas catch the type)', async () => {
    const text = strict.broken.join('\n');
    assert.match(text, /^broken: ds: .*"imagePullPolicyy"' does not exist in type 'IContainer'/m);
    assert.match(text, /^broken: misplaced: .*"readOnlyRootFilesystem"' does not exist in type 'IPodSpec'/m);
    assert.match(text, /^broken: spc: .*"secretObject"' does not exist/m);
    assert.match(text, /^broken: kustomization: .*"patchesStrategicMerge"' does not exist in type 'IKustomization'/m);
    assert.match(text, /^broken: values: .*"extraArg"' does not exist/m);
    assert.match(text, /^broken: port: Type 'string' is not assignable to type 'number'/m);
    assert.equal(strict.broken.length, 6);

    const badType = brokenDocuments(renderings[0]!.objects).find((d) => d.source === 'broken: port')!.doc;
    assert.equal((await schemaProblems(badType, 'bad')).length, 1);
  });

  describe('the DaemonSet in every rendering', () => {
    it('starts the provider with flags the binary accepts, its socket where the driver looks', () => {
      for (const { dir, objects } of renderings) {
        const ds = only(objects, 'DaemonSet');
        const pod = podSpec(ds);
        const container = provider(ds);
        const settings = settingsOf(container);
        // `spec.provider: vault` finds vault.sock; the openbao overlay serves `spec.provider: openbao`.
        assert.equal(settings.endpoint, rel(dir) === 'deploy/overlays/openbao' ? '/provider/openbao.sock' : '/provider/vault.sock', rel(dir));
        const mount = container.volumeMounts?.find((m) => m.mountPath === '/provider');
        const volume = pod.volumes?.find((v) => v.name === mount?.name);
        assert.equal(volume?.hostPath?.path, '/var/run/secrets-store-csi-providers', rel(dir));
        for (const m of container.volumeMounts ?? []) assert.ok(pod.volumes?.some((v) => v.name === m.name), `${rel(dir)}: volume ${m.name}`);
        // The kept state on a node directory of its own (not the socket directory other providers share).
        assert.equal(settings.stateDir, '/state', rel(dir));
        const stateMount = container.volumeMounts?.find((m) => m.mountPath === settings.stateDir);
        assert.equal(pod.volumes?.find((v) => v.name === stateMount?.name)?.hostPath?.path, '/var/run/vault-csi-provider', rel(dir));
        for (const probe of [container.livenessProbe, container.readinessProbe]) {
          assert.equal(probe?.httpGet?.path, '/health/ready');
          assert.equal(`:${String(probe?.httpGet?.port)}`, settings.healthAddr, `${rel(dir)}: probes on the health port`);
        }
        const annotations = ds.spec!.template.metadata!.annotations!;
        assert.equal(`:${annotations['prometheus.io/port']}`, settings.healthAddr);
        assert.equal(annotations['prometheus.io/path'], '/metrics');
      }
    });

    it('is locked down: no capabilities, read-only root, no escalation, seccomp, limits, on every Linux node', () => {
      for (const { dir, objects } of renderings) {
        const ds = only(objects, 'DaemonSet');
        const pod = podSpec(ds);
        const container = provider(ds);
        assert.deepEqual(container.securityContext?.capabilities, { drop: ['ALL'] }, rel(dir));
        assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
        assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
        assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
        for (const kind of ['requests', 'limits'] as const) {
          for (const r of ['cpu', 'memory']) assert.ok(container.resources?.[kind]?.[r], `${rel(dir)}: ${kind}.${r}`);
        }
        // The limit holds what the image lets V8 take (old space + three semi-spaces), Node itself (its binary,
        // native memory and the dependencies as published, ~68 MiB measured: docs/benchmark.md, "Memory") and the provider's
        // memory budget, which is mostly outside V8's heap
        // (Buffers: file contents, serialised answers), so admission control and V8's cap, not the kernel's OOM
        // killer, are what bound it.
        const flag = (name: string) => Number(imageNodeOptions().find((o) => o.startsWith(`--${name}=`))?.split('=')[1]);
        const limitMi = Number(/^(\d+)Mi$/.exec(String(container.resources?.limits?.['memory']))?.[1]);
        const budgetMi = DEFAULT_NODE_MEMORY_BUDGET / (1024 * 1024);
        assert.ok(limitMi >= flag('max-old-space-size') + 3 * flag('max-semi-space-size') + 68 + budgetMi, `${rel(dir)}: memory limit ${limitMi}Mi`);
        // V8's old space holds the loaded code (~26 MiB live after start), every cache at its byte bound and the whole
        // memory budget (a parsed answer lives in the heap), with a quarter more to collect in: a heap filled to its
        // cap aborts the process (docs/benchmark.md, "Memory").
        const settings = settingsOf(container);
        const heldMi =
          26 +
          ((settings.objectsCacheMaxBytes ?? DEFAULT_OBJECTS_CACHE_BYTES) +
            (settings.leaseCacheMaxBytes ?? DEFAULT_LEASE_CACHE_BYTES) +
            (settings.auditStateMaxBytes ?? DEFAULT_AUDIT_STATE_BYTES) +
            settings.cacheSize * TOKEN_CACHE_BYTES_PER_ENTRY) /
            (1024 * 1024) +
          budgetMi;
        assert.ok(flag('max-old-space-size') >= 1.25 * heldMi, `${rel(dir)}: --max-old-space-size=${flag('max-old-space-size')} for ${heldMi.toFixed(0)} MiB held`);
        assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
        assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
        // A surge rollout: the new pod takes the socket over beside the old one, no node is ever without a provider.
        assert.equal(ds.spec?.updateStrategy?.type, 'RollingUpdate');
        assert.deepEqual(ds.spec?.updateStrategy?.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 }, rel(dir));
        assert.equal(pod.containers.length, 1, 'no sidecar');
      }
    });

    it('configures Vault as each overlay says', () => {
      const by = (name: string): KubeObject[] => renderings.find((r) => rel(r.dir) === name)!.objects;
      const container = (name: string): IContainer => provider(only(by(name), 'DaemonSet'));
      const base = settingsOf(container('deploy/base'));
      assert.equal(base.defaults.vaultAddress, 'http://vault.vault.svc:8200');
      assert.equal(container('deploy/base').securityContext?.runAsUser, 0);

      const tls = settingsOf(container('deploy/overlays/external-vault-tls'));
      assert.equal(tls.defaults.vaultAddress, 'https://vault.example.com:8200');
      assert.equal(tls.defaults.tls.serverName, 'vault.example.com');
      const caPath = tls.defaults.tls.caCertPath!;
      const caMount = container('deploy/overlays/external-vault-tls').volumeMounts?.find((m) => caPath.startsWith(`${m.mountPath}/`));
      assert.ok(caMount?.readOnly, 'the CA file is on a read-only mount');
      assert.match(container('deploy/overlays/external-vault-tls').image ?? '', /^registry\.example\.com\/platform\/vault-csi-provider-ts:0\.1\.0$/);

      assert.equal(settingsOf(container('deploy/overlays/vault-namespace')).defaults.vaultNamespace, 'team-a');

      const bao = settingsOf(container('deploy/overlays/openbao'));
      assert.equal(bao.defaults.vaultAddress, 'http://openbao.openbao.svc:8200');
      assert.deepEqual({ ...bao, endpoint: base.endpoint, defaults: { ...bao.defaults, vaultAddress: base.defaults.vaultAddress } }, base, 'only the socket and the address change');

      const nonRoot = only(by('deploy/overlays/non-root'), 'DaemonSet');
      const context = provider(nonRoot).securityContext;
      assert.deepEqual([context?.runAsNonRoot, context?.runAsUser], [true, 1000]);
      assert.equal(podSpec(nonRoot).volumes?.find((v) => v.name === 'providervol')?.hostPath?.type, 'Directory');
      assert.equal(podSpec(nonRoot).volumes?.find((v) => v.name === 'state')?.hostPath?.type, 'Directory');

      // The TokenRequest fallback: only its overlay turns it on, with the ClusterRole it needs (RBAC below).
      assert.equal(base.tokenRequestFallback, false);
      const fallback = settingsOf(container('deploy/overlays/token-request-fallback'));
      assert.deepEqual({ ...fallback, tokenRequestFallback: false }, base, 'only the fallback changes');
      assert.equal(fallback.tokenRequestFallback, true);
    });
  });

  describe('RBAC in every rendering', () => {
    it('grants the one HMAC Secret (get by name, create) in the provider\'s namespace, and TokenRequest cluster-wide only where the fallback is on', () => {
      for (const { dir, objects } of renderings) {
        const ds = only(objects, 'DaemonSet');
        const namespace = ds.metadata?.namespace;
        const settings = settingsOf(provider(ds));
        const sa = only(objects, 'ServiceAccount');
        assert.equal(sa.metadata?.name, podSpec(ds).serviceAccountName, rel(dir));
        assert.equal(sa.metadata?.namespace, namespace);
        assert.equal(only(objects, 'Namespace').metadata?.name, namespace);

        const clusterWide = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding');
        if (settings.tokenRequestFallback !== true) {
          assert.deepEqual(clusterWide.map(objectId), [], `${rel(dir)}: nothing cluster-wide without the fallback`);
        } else {
          assert.deepEqual(only(objects, 'ClusterRole').rules, [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] }]);
        }
        const role = only(objects, 'Role');
        assert.equal(role.metadata?.namespace, namespace);
        assert.deepEqual(role.rules, [
          { apiGroups: [''], resources: ['secrets'], resourceNames: [settings.hmacSecretName], verbs: ['get'] },
          { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
        ]);
        const bindings = settings.tokenRequestFallback === true ? ([['ClusterRoleBinding', 'ClusterRole'], ['RoleBinding', 'Role']] as const) : ([['RoleBinding', 'Role']] as const);
        for (const [binding, roleKind] of bindings) {
          const b = only(objects, binding);
          assert.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: only(objects, roleKind).metadata?.name });
          assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa.metadata?.name, namespace }], `${rel(dir)}: ${binding}`);
        }
      }
    });
  });

  describe('the kustomize renderer', () => {
    it('agrees with `kubectl kustomize` on every kustomization (where kubectl is installed)', async function () {
      const kubectl = await promisify(execFile)('kubectl', ['version', '--client'], { timeout: 20_000 }).catch(() => undefined);
      if (kubectl === undefined) this.skip();
      const outputs = await Promise.all(renderings.map((r) => promisify(execFile)('kubectl', ['kustomize', r.dir], { timeout: 30_000, maxBuffer: 1 << 22 })));
      const byId = (list: KubeObject[]) => new Map(list.map((o) => [objectId(o), o]));
      renderings.forEach(({ dir, objects }, i) => {
        const theirs = parseAllDocuments(outputs[i]!.stdout).map((d) => d.toJS() as KubeObject);
        assert.deepEqual(byId(objects), byId(theirs), rel(dir));
      });
    });

    it('refuses what is outside its subset instead of rendering it differently', async () => {
      const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const dir = await mkdtemp(join(tmpdir(), 'vcp-kustomize-'));
      try {
        await writeFile(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n');
        const attempt = async (kustomization: string): Promise<unknown> => {
          await writeFile(join(dir, 'kustomization.yaml'), kustomization);
          return renderKustomization(dir);
        };
        await assert.rejects(attempt('resources: [cm.yaml]\ncommonLabels: {a: b}\n'), /field "commonLabels" is outside the supported subset/);
        await assert.rejects(attempt('resources: [cm.yaml]\npatches:\n  - path: p.yaml\n    target: {kind: ConfigMap}\n'), /patch field "target"/);
        await assert.rejects(attempt('resources: [cm.yaml]\npatches:\n  - patch: "{apiVersion: v1, kind: ConfigMap, metadata: {name: b}}"\n'), /matches 0 objects/);
        await assert.rejects(attempt('resources: [cm.yaml, cm.yaml]\n'), KustomizeError);
        const rendered = (await attempt(
          'namespace: ns\nresources: [cm.yaml]\npatches:\n  - patch: "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {k: null, j: w}}"\n',
        )) as KubeObject[];
        assert.deepEqual(rendered, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns' }, data: { j: 'w' } }]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
