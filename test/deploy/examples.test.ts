/**
 * The examples and the chart values as the provider will meet them: every SecretProviderClass, mounted by every
 * pod that uses it, turns into attributes (as the driver builds them) that our own config parser, connection
 * resolution and trust boundary accept with the base DaemonSet's settings; synced Secrets name mounted objects;
 * the driver settings carry the token audience and rotation; vault-helm's csi section starts the provider.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { ICSIDriver } from 'kubernetes-models/storage.k8s.io/v1/CSIDriver';
import { parseFlags, type ProviderSettings } from '../../src/cli/flags.js';
import { driverAttributes, parsePod, parseSecretProviderClasses, type SecretProviderClassManifest } from '../../src/cli/manifests.js';
import { parseMountRequest } from '../../src/config/mount-request.js';
import { resolveConnection } from '../../src/config/connection.js';
import { buildTrustPolicy, checkMountParameters } from '../../src/config/connection.js';
import type { MountConfig } from '../../src/config/types.js';
import { isObject, readYamlDocuments, renderKustomization, type KubeObject } from '../helpers/kustomize.js';
import type { IDriverHelmValues, ISecretProviderClass, IVaultHelmValues } from './extra-types.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const EXAMPLES = join(ROOT, 'examples');

/** The provider's settings as deploy/base starts it. */
async function baseSettings(): Promise<ProviderSettings> {
  const ds = (await renderKustomization(join(ROOT, 'deploy', 'base'))).find((o) => o.kind === 'DaemonSet') as unknown as IDaemonSet;
  const container = ds.spec!.template.spec!.containers[0]!;
  const env = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
  const parsed = parseFlags(container.args ?? [], env);
  assert.equal(parsed.kind, 'run');
  return parsed.settings;
}

interface ExampleMount {
  readonly file: string;
  readonly spc: SecretProviderClassManifest;
  readonly pod: string;
  readonly config: MountConfig;
  readonly doc: ISecretProviderClass;
}

/** A Pod's spec, or a workload's pod template spec. */
function podSpecOf(doc: KubeObject): IPodSpec | undefined {
  if (!isObject(doc.spec)) return undefined;
  if (doc.kind === 'Pod') return doc.spec as unknown as IPodSpec;
  const template = doc.spec.template;
  return isObject(template) && isObject(template.spec) ? (template.spec as unknown as IPodSpec) : undefined;
}

function spcDoc(docs: readonly KubeObject[], name: string, namespace: string): ISecretProviderClass {
  const found = docs
    .filter((d) => d.kind === 'SecretProviderClass')
    .map((d) => d as unknown as ISecretProviderClass)
    .find((d) => d.metadata.name === name && (d.metadata.namespace ?? 'default') === namespace);
  assert.ok(found, `SecretProviderClass ${namespace}/${name}`);
  return found;
}

/** Each pod (or workload) volume that uses a SecretProviderClass, parsed as the provider would parse its Mount. */
async function exampleMounts(settings: ProviderSettings): Promise<{ mounts: ExampleMount[]; unused: ExampleMount[] }> {
  const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml')).sort();
  const mounts: ExampleMount[] = [];
  const unused: ExampleMount[] = [];
  const policy = buildTrustPolicy(settings.trust ?? { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false }, settings.defaults, []);
  const noRoots = { tlsDirectories: [], operatorTlsFiles: [], protectedPaths: [] };
  const parseAs = (attributes: Record<string, string>, uid: string, volume: string): MountConfig => {
    const config = parseMountRequest({
      attributes: JSON.stringify(attributes),
      secrets: 'null',
      targetPath: `/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~csi/${volume}/mount`,
      permission: '420',
    });
    checkMountParameters(config, resolveConnection(config, settings.defaults), policy, noRoots);
    return config;
  };
  for (const file of files) {
    const path = join(EXAMPLES, file);
    const text = await readFile(path, 'utf8');
    const classes = parseSecretProviderClasses(text, file);
    const docs = await readYamlDocuments(path);
    const used = new Set<SecretProviderClassManifest>();
    let n = 0;
    for (const doc of docs) {
      if (podSpecOf(doc) === undefined) continue;
      const pod = parsePod(stringify(doc), file);
      const namespace = pod.namespace ?? 'default';
      for (const volume of pod.volumes) {
        const spc = classes.find((c) => c.name === volume.secretProviderClass && (c.namespace ?? 'default') === namespace);
        assert.ok(spc, `${file}: ${pod.name} mounts SecretProviderClass ${volume.secretProviderClass}, which is not in namespace ${namespace}`);
        used.add(spc);
        const uid = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
        const attributes = driverAttributes({ spc, volume }, { name: pod.name, namespace, uid, serviceAccountName: pod.serviceAccountName });
        mounts.push({ file, spc, pod: pod.name, config: parseAs(attributes, uid, volume.volumeName), doc: spcDoc(docs, spc.name, namespace) });
      }
    }
    for (const spc of classes.filter((c) => !used.has(c))) {
      const attributes = driverAttributes({ spc, volume: undefined }, { name: 'example', namespace: spc.namespace ?? 'default', uid: 'u', serviceAccountName: 'default' });
      unused.push({ file, spc, pod: '', config: parseAs(attributes, 'u', 'v'), doc: spcDoc(docs, spc.name, spc.namespace ?? 'default') });
    }
  }
  return { mounts, unused };
}

describe('examples: SecretProviderClasses and pods', function () {
  this.timeout(30_000);
  let settings: ProviderSettings;
  let mounts: ExampleMount[];
  let unused: ExampleMount[];

  before(async () => {
    settings = await baseSettings();
    ({ mounts, unused } = await exampleMounts(settings));
  });

  it('covers the use cases: SSH keys, prod/test credentials, a dotfile, TLS from PKI, registry credentials, basic-auth, a synced Secret', () => {
    const files = new Set(mounts.map((m) => m.file));
    for (const f of ['ssh-key-pair.yaml', 'prod-test-credentials.yaml', 'dotfile.yaml', 'tls-from-pki.yaml', 'registry-credentials.yaml', 'basic-auth.yaml', 'synced-secret.yaml']) {
      assert.ok(files.has(f), `${f} has a pod that mounts its SecretProviderClass`);
    }
    assert.ok(mounts.length >= 8);
    // Only the demo's class is mounted by `npm run demo` rather than by a pod of its file.
    assert.deepEqual(unused.map((u) => u.file), ['demo-secretproviderclass.yaml']);
  });

  it('every mount parses with our config parser and passes the trust boundary of deploy/base', () => {
    for (const m of [...mounts, ...unused]) {
      assert.ok(m.config.objects.length > 0, `${m.file}: ${m.spc.name}`);
      assert.equal(m.config.ignoredParameters.length, 0, `${m.file}: ${m.spc.name} has parameters the provider ignores: ${m.config.ignoredParameters.join(', ')}`);
      assert.equal(m.spc.provider, 'vault');
    }
  });

  it('says what each use case needs', () => {
    const of = (file: string) => mounts.filter((m) => m.file === file).map((m) => m.config);
    const ssh = of('ssh-key-pair.yaml')[0]!;
    assert.deepEqual(ssh.objects.map((o) => [o.objectName, o.filePermission]), [['ssh-privatekey', 0o400], ['ssh-publickey', undefined]]);

    const [prod, test] = of('prod-test-credentials.yaml');
    assert.deepEqual([prod!.pod.namespace, prod!.roleName, test!.pod.namespace, test!.roleName], ['prod', 'app-prod', 'test', 'app-test']);
    assert.notEqual(prod!.objects[0]!.requestPath, test!.objects[0]!.requestPath);
    assert.deepEqual(prod!.objects.map((o) => o.objectName), test!.objects.map((o) => o.objectName), 'one pod template reads the same files');

    assert.equal(of('dotfile.yaml')[0]!.objects[0]!.objectName, '.secret-file');

    const tls = of('tls-from-pki.yaml')[0]!;
    assert.deepEqual(tls.objects.map((o) => o.objectName), ['tls.crt', 'tls.key', 'ca.crt']);
    const requests = new Set(tls.objects.map((o) => JSON.stringify([o.method, o.requestPath, o.query, o.secretArgs])));
    assert.equal(requests.size, 1, 'certificate, key and CA come from one issue request');
    assert.equal(tls.objects[0]!.method, 'PUT');

    assert.equal(of('registry-credentials.yaml')[0]!.objects[0]!.objectName, '.dockerconfigjson');
  });

  it('syncs Secrets only from mounted objects, with the keys their type needs, and pods use only synced Secrets', async () => {
    const synced = new Map<string, string>();
    for (const m of mounts) {
      const names = new Set(m.config.objects.map((o) => o.objectName));
      for (const so of m.doc.spec.secretObjects ?? []) {
        synced.set(`${m.config.pod.namespace}/${so.secretName}`, so.type);
        const keys = (so.data ?? []).map((d) => d.key);
        for (const d of so.data ?? []) assert.ok(names.has(d.objectName), `${m.file}: secretObjects names ${d.objectName}, which is not mounted`);
        if (so.type === 'kubernetes.io/dockerconfigjson') assert.deepEqual(keys, ['.dockerconfigjson']);
        if (so.type === 'kubernetes.io/tls') assert.deepEqual([...keys].sort(), ['tls.crt', 'tls.key']);
        if (so.type === 'kubernetes.io/basic-auth') assert.deepEqual([...keys].sort(), ['password', 'username']);
      }
    }
    assert.deepEqual([...synced.entries()].sort(), [
      ['apps/app-db', 'Opaque'],
      ['apps/upstream-basic-auth', 'kubernetes.io/basic-auth'],
      ['ci/regcred', 'kubernetes.io/dockerconfigjson'],
    ]);

    for (const file of (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of await readYamlDocuments(join(EXAMPLES, file))) {
        const spec = podSpecOf(doc);
        if (spec === undefined) continue;
        const meta = isObject(doc.metadata) ? doc.metadata : {};
        const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
        const used = [
          ...(spec.imagePullSecrets ?? []).map((s) => s.name ?? ''),
          ...spec.containers.flatMap((c) => (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef === undefined ? [] : [e.valueFrom.secretKeyRef.name ?? '']))),
        ];
        for (const name of used) assert.ok(synced.has(`${namespace}/${name}`), `${file}: Secret ${name} is not synced by any example`);
      }
    }
  });

  it('a pod that uses a synced Secret in env also mounts the volume that creates it', async () => {
    for (const doc of await readYamlDocuments(join(EXAMPLES, 'synced-secret.yaml'))) {
      const spec = podSpecOf(doc);
      if (spec === undefined) continue;
      const mounted = (spec.containers[0]!.volumeMounts ?? []).map((m) => m.name);
      const csi = (spec.volumes ?? []).filter((v) => v.csi !== undefined).map((v) => v.name);
      assert.ok(csi.length > 0 && csi.every((v) => mounted.includes(v)));
    }
  });
});

describe('deploy: driver settings and vault-helm values', () => {
  it('the CSIDriver and the driver chart values give each Mount the pod token for audience "vault", and rotate', async () => {
    const [doc] = await readYamlDocuments(join(ROOT, 'deploy', 'driver', 'csidriver.yaml'));
    const csiDriver = doc as unknown as ICSIDriver;
    assert.deepEqual(csiDriver.spec.tokenRequests, [{ audience: 'vault' }]);
    assert.equal(csiDriver.spec.requiresRepublish, true);
    assert.deepEqual(csiDriver.spec.volumeLifecycleModes, ['Ephemeral']);
    const values = parse(await readFile(join(ROOT, 'deploy', 'driver', 'helm-values.yaml'), 'utf8')) as IDriverHelmValues;
    assert.deepEqual(values.tokenRequests, [{ audience: 'vault' }]);
    assert.equal(values.enableSecretRotation, true);
    assert.equal(values.syncSecret?.enabled, true, 'the secretObjects examples need it');
    assert.equal(values.linux?.providersDir, '/var/run/secrets-store-csi-providers');
  });

  it('vault-helm\'s csi section starts this provider: the chart\'s args and VAULT_ADDR are accepted', async () => {
    const values = parse(await readFile(join(ROOT, 'deploy', 'vault-helm', 'values.yaml'), 'utf8')) as IVaultHelmValues;
    const csi = values.csi;
    assert.equal(csi.enabled, true);
    // What templates/csi-daemonset.yaml of the chart passes (release "vault" in namespace "vault").
    const args = [
      '--endpoint=/provider/vault.sock',
      csi.debug === true ? '--log-level=debug' : `--log-level=${csi.logLevel ?? 'info'}`,
      `--hmac-secret-name=${csi.hmacSecretName || 'vault-csi-provider-hmac-key'}`,
      ...(csi.extraArgs ?? []),
    ];
    const vaultAddr = csi.agent?.enabled !== false ? 'unix:///var/run/vault/agent.sock' : values.global?.externalVaultAddr || 'http://vault.vault.svc:8200';
    const parsed = parseFlags(args, { VAULT_ADDR: vaultAddr });
    assert.equal(parsed.kind, 'run');
    assert.equal(parsed.settings.healthAddr, ':8080', 'the chart probes port 8080');
    assert.equal(parsed.settings.endpoint, '/provider/vault.sock');
    // Why the values turn the agent off: its socket address is not an http(s) URL.
    assert.throws(() => parseFlags(args, { VAULT_ADDR: 'unix:///var/run/vault/agent.sock' }), /VAULT_ADDR must use http:\/\/ or https:\/\//);
    // The image runs as UID 1000; the chart's root-owned hostPath needs root without capabilities.
    const container = csi.daemonSet?.securityContext?.container;
    assert.equal(container?.runAsUser, 0);
    assert.deepEqual(container?.capabilities, { drop: ['ALL'] });
    assert.equal(container?.readOnlyRootFilesystem, true);
  });

  it('keeps deploy/base and the vault-helm values on the same image, resources and HMAC Secret', async () => {
    const base = await renderKustomization(join(ROOT, 'deploy', 'base'));
    const ds = base.find((o) => o.kind === 'DaemonSet') as unknown as IDaemonSet;
    const container = ds.spec!.template.spec!.containers[0]!;
    const values = parse(await readFile(join(ROOT, 'deploy', 'vault-helm', 'values.yaml'), 'utf8')) as IVaultHelmValues;
    assert.deepEqual(values.csi.resources, container.resources);
    assert.equal(`vault-csi-provider-ts:${values.csi.image?.tag ?? ''}`, container.image?.replace(/^.*\//, ''));
    const role = base.find((o) => o.kind === 'Role') as unknown as IRole;
    assert.deepEqual(role.rules?.[0]?.resourceNames, ['vault-csi-provider-hmac-key'], 'the chart\'s default name for release "vault"');
  });
});
