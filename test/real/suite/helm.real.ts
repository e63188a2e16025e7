/**
 * The Helm chart deploy/helm/vault-csi-provider with the real helm (built from its Go module): linted, rendered with
 * default and non-default values, compared with `kubectl kustomize deploy/base` on every part that must agree, and
 * the renderings applied server-side to the real API server, whose authoriser then answers for the ServiceAccount
 * and RBAC the chart created.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { parseFlags } from '../../../src/cli/flags.js';
import { KubeControlPlane } from '../harness/kube.js';
import { toolPath } from '../harness/tools.js';

const execFileAsync = promisify(execFile);
const REPO = new URL('../../../', import.meta.url).pathname;
const CHART = join(REPO, 'deploy/helm/vault-csi-provider');

interface Obj {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
}

interface Kinds {
  DaemonSet: IDaemonSet;
  ServiceAccount: IServiceAccount;
  ClusterRole: IClusterRole;
  ClusterRoleBinding: IClusterRoleBinding;
  Role: IRole;
  RoleBinding: IRoleBinding;
}

function parseObjects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

function one<K extends keyof Kinds>(objects: readonly Obj[], kind: K): Kinds[K] {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}, found ${found.length}`);
  return found[0] as unknown as Kinds[K];
}

function maybe<K extends keyof Kinds>(objects: readonly Obj[], kind: K): Kinds[K] | undefined {
  return objects.find((o) => o.kind === kind) as Kinds[K] | undefined;
}

function podSpec(ds: IDaemonSet): IPodSpec {
  return ds.spec!.template.spec!;
}

function provider(ds: IDaemonSet): IContainer {
  return podSpec(ds).containers.find((c) => c.name === 'provider')!;
}

/**
 * What the chart and deploy/base must agree on, by object: everything but the labels (the chart adds Helm's) and
 * the order of args and env (Go-style flags and env vars are order-free; the chart renders them sorted).
 */
function agreeingParts(objects: readonly Obj[]): unknown {
  const ds = one(objects, 'DaemonSet');
  const pod = podSpec(ds);
  const c = provider(ds);
  const sa = one(objects, 'ServiceAccount');
  const clusterRole = maybe(objects, 'ClusterRole');
  const clusterRoleBinding = maybe(objects, 'ClusterRoleBinding');
  const role = maybe(objects, 'Role');
  const roleBinding = maybe(objects, 'RoleBinding');
  return {
    daemonSet: {
      name: ds.metadata?.name,
      namespace: ds.metadata?.namespace,
      updateStrategy: ds.spec?.updateStrategy,
      podAnnotations: ds.spec?.template.metadata?.annotations,
      serviceAccountName: pod.serviceAccountName,
      terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds,
      nodeSelector: pod.nodeSelector,
      tolerations: pod.tolerations,
      podSecurityContext: pod.securityContext,
      volumes: pod.volumes,
      containers: pod.containers.map((x) => x.name),
      provider: {
        image: c.image,
        imagePullPolicy: c.imagePullPolicy,
        args: [...(c.args ?? [])].sort(),
        env: [...(c.env ?? [])].sort((a, b) => a.name.localeCompare(b.name)),
        ports: c.ports,
        livenessProbe: c.livenessProbe,
        readinessProbe: c.readinessProbe,
        resources: c.resources,
        securityContext: c.securityContext,
        volumeMounts: c.volumeMounts,
      },
    },
    serviceAccount: { name: sa.metadata?.name, namespace: sa.metadata?.namespace },
    clusterRole: clusterRole === undefined ? undefined : { name: clusterRole.metadata?.name, rules: clusterRole.rules },
    clusterRoleBinding: clusterRoleBinding === undefined ? undefined : { roleRef: clusterRoleBinding.roleRef, subjects: clusterRoleBinding.subjects },
    role: role === undefined ? undefined : { name: role.metadata?.name, namespace: role.metadata?.namespace, rules: role.rules },
    roleBinding: roleBinding === undefined ? undefined : { namespace: roleBinding.metadata?.namespace, roleRef: roleBinding.roleRef, subjects: roleBinding.subjects },
  };
}

/** Non-default values: several flags of each kind (numbers from a values file, booleans, lists), and the rest. */
const CUSTOM_VALUES = `
image:
  repository: registry.example.com/platform/vault-csi-provider-ts
  tag: "0.1.1"
flags:
  log-level: debug
  health-addr: ":9090"
  hmac-secret-name: team-hmac
  cache-size: 2000
  lease-cache-max-bytes: 16777216
  lease-reuse-fraction: "1/2"
  vault-mount: jwt
  audience: "vault,https://kubernetes.default.svc"
  vault-request-timeout: 1m
  write-files: true
  allowed-vault-addresses: "https://vault-a.example.com:8200,https://vault-b.example.com:8200"
  vault-tls-ca-cert: /vault/tls/ca.crt
  state-dir: ""
  token-request-fallback: true
env:
  VAULT_ADDR: https://vault-a.example.com:8200
  VAULT_NAMESPACE: team-a
resources:
  requests: { cpu: 100m, memory: 120Mi }
  limits: { cpu: "1", memory: 200Mi }
nodeSelector:
  kubernetes.io/os: linux
  pool: secrets
tolerations:
  - key: dedicated
    operator: Equal
    value: secrets
    effect: NoSchedule
providerSocket:
  hostPath: /run/csi-providers
  type: Directory
extraVolumes:
  - name: vault-ca
    configMap: { name: vault-ca }
extraVolumeMounts:
  - name: vault-ca
    mountPath: /vault/tls
    readOnly: true
`;

const CUSTOM_ARGS = [
  '--allowed-vault-addresses=https://vault-a.example.com:8200,https://vault-b.example.com:8200',
  '--audience=vault,https://kubernetes.default.svc',
  '--cache-size=2000',
  '--endpoint=/provider/vault.sock',
  '--health-addr=:9090',
  '--hmac-secret-name=team-hmac',
  '--lease-cache-max-bytes=16777216',
  '--lease-reuse-fraction=1/2',
  '--log-level=debug',
  '--token-request-fallback',
  '--vault-mount=jwt',
  '--vault-request-timeout=1m',
  '--vault-tls-ca-cert=/vault/tls/ca.crt',
  '--write-files',
];

describe('real helm: the chart against deploy/base and the real API server', function () {
  let home: string;
  let kube: KubeControlPlane | undefined;
  let base: Obj[];
  let defaults: string;
  let custom: string;
  let customValues: string;

  async function helm(args: readonly string[]): Promise<string> {
    try {
      const { stdout } = await execFileAsync(toolPath('helm'), args, {
        // helm keeps its cache and config under HOME: a fresh one per run, and the admin kubeconfig when there is one.
        env: { PATH: process.env['PATH'] ?? '', HOME: home, ...(kube === undefined ? {} : { KUBECONFIG: kube.adminKubeconfig }) },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 120_000,
      });
      return stdout;
    } catch (err: unknown) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`helm ${args.join(' ')}: ${[e.stdout, e.stderr].filter(Boolean).join('\n')}`, { cause: err });
    }
  }

  before(async function () {
    this.timeout(600_000);
    home = await mkdtemp(join(tmpdir(), 'helm-real-'));
    customValues = join(home, 'custom-values.yaml');
    await writeFile(customValues, CUSTOM_VALUES);
    const { stdout } = await execFileAsync(toolPath('kubectl'), ['kustomize', join(REPO, 'deploy/base')], { maxBuffer: 16 * 1024 * 1024 });
    base = parseObjects(stdout);
    defaults = await helm(['template', 'vault-csi-provider', CHART, '--namespace', 'csi']);
    custom = await helm(['template', 'secrets', CHART, '--namespace', 'csi-custom', '-f', customValues]);
  });

  after(async () => {
    await kube?.stop();
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  it('helm lint --strict passes, with default and non-default values', async () => {
    assert.match(await helm(['lint', '--strict', CHART]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.match(await helm(['lint', '--strict', CHART, '-f', customValues]), /0 chart\(s\) failed/);
  });

  it('renders with the defaults what deploy/base renders: args, env, probes, volumes, securityContext, resources, RBAC, ServiceAccount', () => {
    const chart = parseObjects(defaults);
    assert.deepEqual(agreeingParts(chart), agreeingParts(base));
    // The chart leaves the namespace to the release (helm's way); deploy/base creates it with its PSA label.
    assert.deepEqual(chart.map((o) => o.kind).sort(), base.map((o) => o.kind).filter((k) => k !== 'Namespace').sort());
    // Helm's labels come on top of the base's, which the chart keeps.
    for (const o of chart) {
      const b = base.find((x) => x.kind === o.kind)!;
      for (const [k, v] of Object.entries(b.metadata.labels ?? {})) assert.equal(o.metadata.labels?.[k], v, `${o.kind} label ${k}`);
    }
    const selector = one(chart, 'DaemonSet').spec?.selector.matchLabels ?? {};
    for (const [k, v] of Object.entries(one(base, 'DaemonSet').spec?.selector.matchLabels ?? {})) assert.equal(selector[k], v, `selector ${k}`);
  });

  it('the comparison fails on a difference (a probe, an RBAC verb, an arg)', () => {
    for (const spoil of [
      (objs: Obj[]): void => void (provider(one(objs, 'DaemonSet')).readinessProbe!.failureThreshold = 3),
      (objs: Obj[]): void => void (one(objs, 'Role').rules![1]!.verbs = ['create', 'list']),
      (objs: Obj[]): void => void provider(one(objs, 'DaemonSet')).args!.push('--cache-size=1000'),
    ]) {
      const chart = parseObjects(defaults);
      spoil(chart);
      assert.notDeepEqual(agreeingParts(chart), agreeingParts(base));
    }
  });

  it('renders non-default values into flags the daemon accepts, probes on the health port, RBAC on the custom Secret', () => {
    const objs = parseObjects(custom);
    const ds = one(objs, 'DaemonSet');
    const c = provider(ds);
    assert.equal(ds.metadata?.name, 'secrets-vault-csi-provider');
    assert.deepEqual([...(c.args ?? [])].sort(), CUSTOM_ARGS);
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const parsed = parseFlags(c.args ?? [], env);
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    assert.equal(parsed.settings.cacheSize, 2000);
    assert.equal(parsed.settings.leaseCacheMaxBytes, 16777216);
    assert.equal(parsed.settings.leaseReuseFraction, 0.5);
    assert.equal(parsed.settings.requestTimeoutMs, 60_000);
    assert.equal(parsed.settings.healthAddr, ':9090');
    assert.equal(parsed.settings.defaults.vaultMount, 'jwt');
    assert.equal(parsed.settings.defaults.audience, 'vault,https://kubernetes.default.svc');
    assert.equal(parsed.settings.defaults.vaultNamespace, 'team-a');
    assert.equal(parsed.settings.defaults.tls.caCertPath, '/vault/tls/ca.crt');
    assert.equal(c.image, 'registry.example.com/platform/vault-csi-provider-ts:0.1.1');
    for (const probe of [c.livenessProbe, c.readinessProbe]) assert.equal(probe?.httpGet?.port, 9090);
    assert.deepEqual(c.ports, [{ name: 'health', containerPort: 9090, protocol: 'TCP' }]);
    assert.equal(ds.spec?.template.metadata?.annotations?.['prometheus.io/port'], '9090');
    assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '120Mi' }, limits: { cpu: '1', memory: '200Mi' } });
    const pod = podSpec(ds);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux', pool: 'secrets' });
    assert.deepEqual(pod.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'secrets', effect: 'NoSchedule' }]);
    assert.deepEqual(pod.volumes, [
      { name: 'providervol', hostPath: { path: '/run/csi-providers', type: 'Directory' } },
      { name: 'vault-ca', configMap: { name: 'vault-ca' } },
    ]);
    assert.deepEqual(c.volumeMounts, [{ name: 'providervol', mountPath: '/provider' }, { name: 'vault-ca', mountPath: '/vault/tls', readOnly: true }]);
    assert.deepEqual(one(objs, 'Role').rules?.[0], { apiGroups: [''], resources: ['secrets'], resourceNames: ['team-hmac'], verbs: ['get'] });
  });

  it('drops the Role with hmac-key-file, adds the ClusterRole with the fallback, and refuses -version, an endpoint or state directory under the wrong path and a bad health-addr', async () => {
    const keyFile = parseObjects(await helm(['template', 'x', CHART, '--set', 'flags.hmac-key-file=/hmac/key']));
    assert.deepEqual(keyFile.map((o) => o.kind).sort(), ['DaemonSet', 'ServiceAccount']);
    assert.ok(provider(one(keyFile, 'DaemonSet')).args?.includes('--hmac-key-file=/hmac/key'));
    await assert.rejects(helm(['template', 'x', CHART, '--set', 'flags.version=true']), /flags\.version: -version and -output make the binary print its version and exit/);
    await assert.rejects(helm(['template', 'x', CHART, '--set', 'flags.endpoint=/tmp/vault.sock']), /the socket must be under \/provider\//);
    await assert.rejects(helm(['template', 'x', CHART, '--set', 'flags.health-addr=8080']), /use host:port or :port/);
    await assert.rejects(helm(['template', 'x', CHART, '--set', 'flags.state-dir=/provider/state']), /flags\.state-dir "\/provider\/state": an absolute path of its own, not under \/provider/);
    // With the fallback on, and only then, the ClusterRole that allows it.
    const fallback = parseObjects(await helm(['template', 'x', CHART, '--set', 'flags.token-request-fallback=true']));
    assert.deepEqual(one(fallback, 'ClusterRole').rules, [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] }]);
    assert.ok(provider(one(fallback, 'DaemonSet')).args?.includes('--token-request-fallback'));
  });

  describe('applied to the real API server', () => {
    before(async function () {
      this.timeout(600_000);
      kube = await KubeControlPlane.start();
      for (const ns of ['csi', 'csi-custom']) {
        await kube.must('POST', '/api/v1/namespaces', { metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
      }
    });

    async function canI(ns: string, sa: string, what: readonly string[]): Promise<string> {
      return (await kube!.kubectl(['auth', 'can-i', ...what, '-n', ns, '--as', `system:serviceaccount:${ns}:${sa}`]).catch((err: unknown) => String(err))).trim();
    }

    it('the default rendering, server-side: the objects are created as rendered, and the RBAC holds', async () => {
      const out = await kube!.kubectl(['apply', '--server-side', '--field-manager=real-suite', '-f', '-'], { input: defaults });
      assert.match(out, /daemonset.apps\/vault-csi-provider serverside-applied/);
      assert.match(out, /role.rbac.authorization.k8s.io\/vault-csi-provider serverside-applied/);
      const ds = (await kube!.must('GET', '/apis/apps/v1/namespaces/csi/daemonsets/vault-csi-provider')) as IDaemonSet;
      assert.deepEqual(provider(ds).args, provider(one(parseObjects(defaults), 'DaemonSet')).args);
      assert.equal(await canI('csi', 'vault-csi-provider', ['get', 'secrets/vault-csi-provider-hmac-key']), 'yes');
      assert.match(await canI('csi', 'vault-csi-provider', ['list', 'secrets']), /no/);
      // No cluster-wide token minting by default.
      assert.match(await canI('csi', 'vault-csi-provider', ['create', 'serviceaccounts', '--subresource=token', '--all-namespaces']), /no/);
      assert.doesNotMatch(out, /clusterrole/);
      // The kept state on a node directory of its own.
      assert.ok(provider(ds).args?.includes('--state-dir=/state'));
      assert.deepEqual(podSpec(ds).volumes?.find((v) => v.name === 'state')?.hostPath, { path: '/var/run/vault-csi-provider', type: 'DirectoryOrCreate' });
      assert.deepEqual(ds.spec?.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    });

    it('the non-default rendering, server-side: its own names, the custom Secret granted and no other', async () => {
      const out = await kube!.kubectl(['apply', '--server-side', '--field-manager=real-suite', '-f', '-'], { input: custom });
      assert.match(out, /daemonset.apps\/secrets-vault-csi-provider serverside-applied/);
      assert.match(out, /clusterrole.rbac.authorization.k8s.io\/secrets-vault-csi-provider-token-request serverside-applied/);
      const ds = (await kube!.must('GET', '/apis/apps/v1/namespaces/csi-custom/daemonsets/secrets-vault-csi-provider')) as IDaemonSet;
      assert.deepEqual([...(provider(ds).args ?? [])].sort(), CUSTOM_ARGS);
      assert.equal(provider(ds).readinessProbe?.httpGet?.port, 9090);
      assert.equal(await canI('csi-custom', 'secrets-vault-csi-provider', ['get', 'secrets/team-hmac']), 'yes');
      assert.match(await canI('csi-custom', 'secrets-vault-csi-provider', ['get', 'secrets/vault-csi-provider-hmac-key']), /no/);
      assert.equal(await canI('csi-custom', 'secrets-vault-csi-provider', ['create', 'serviceaccounts', '--subresource=token', '--all-namespaces']), 'yes');
    });

    it('helm install, as docs/operations.md says, into a namespace of its own', async () => {
      await kube!.must('POST', '/api/v1/namespaces', { metadata: { name: 'csi-helm', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
      const out = await helm(['install', 'vault-csi-provider', CHART, '--namespace', 'csi-helm', '--set', 'fullnameOverride=vault-csi-provider-helm']);
      assert.match(out, /STATUS: deployed/);
      const ds = (await kube!.must('GET', '/apis/apps/v1/namespaces/csi-helm/daemonsets/vault-csi-provider-helm')) as IDaemonSet;
      assert.equal(podSpec(ds).serviceAccountName, 'vault-csi-provider-helm');
      assert.equal(await canI('csi-helm', 'vault-csi-provider-helm', ['get', 'secrets/vault-csi-provider-hmac-key']), 'yes');
    });
  });
});
