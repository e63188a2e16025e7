/**
 * deploy/ and examples/ applied for real: kubectl applies them server-side to the real API server (with the
 * driver's own CRDs and our CSIDriver), and the real RBAC authoriser says what the ServiceAccount they create may
 * do: by default nothing cluster-wide — no token for any ServiceAccount, asked and attempted — and with the
 * token-request-fallback overlay exactly that added. The provider's identity asks for itself (SelfSubjectAccessReview with its own pod-bound token), so the
 * answers are the ones the provider gets on a node.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { goModuleDir, KubeControlPlane } from '../harness/kube.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const PROVIDER_NS = 'csi';
const PROVIDER_SA = 'vault-csi-provider';
const HMAC_SECRET = 'vault-csi-provider-hmac-key';

interface Access {
  readonly verb: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly group?: string;
}

/** What the provider needs by default: its one HMAC Secret. Nothing cluster-wide. */
const NEEDED: readonly Access[] = [
  { verb: 'get', resource: 'secrets', namespace: PROVIDER_NS, name: HMAC_SECRET },
  { verb: 'create', resource: 'secrets', namespace: PROVIDER_NS },
];

/** A token for any ServiceAccount: only with the token-request-fallback overlay. */
const TOKEN_REQUESTS: readonly Access[] = [
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'prod', name: 'web' },
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'kube-system', name: 'default' },
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: PROVIDER_NS, name: PROVIDER_SA },
];

/** Its neighbours, which it must not have. */
const DENIED: readonly Access[] = [
  { verb: 'list', resource: 'secrets', namespace: PROVIDER_NS },
  { verb: 'watch', resource: 'secrets', namespace: PROVIDER_NS },
  { verb: 'list', resource: 'secrets' },
  { verb: 'get', resource: 'secrets', namespace: PROVIDER_NS, name: 'another-secret' },
  { verb: 'get', resource: 'secrets', namespace: 'prod', name: HMAC_SECRET },
  { verb: 'create', resource: 'secrets', namespace: 'prod' },
  { verb: 'update', resource: 'secrets', namespace: PROVIDER_NS, name: HMAC_SECRET },
  { verb: 'patch', resource: 'secrets', namespace: PROVIDER_NS, name: HMAC_SECRET },
  { verb: 'delete', resource: 'secrets', namespace: PROVIDER_NS, name: HMAC_SECRET },
  { verb: 'get', resource: 'serviceaccounts', namespace: 'prod', name: 'web' },
  { verb: 'create', resource: 'serviceaccounts', namespace: 'prod' },
  { verb: 'get', resource: 'serviceaccounts', subresource: 'token', namespace: 'prod', name: 'web' },
  { verb: 'get', resource: 'pods', namespace: 'prod' },
  { verb: 'create', resource: 'pods', namespace: PROVIDER_NS },
  { verb: 'create', resource: 'tokenreviews', group: 'authentication.k8s.io' },
  { verb: 'impersonate', resource: 'serviceaccounts', namespace: 'prod', name: 'web' },
  { verb: 'get', resource: 'secretproviderclasses', group: 'secrets-store.csi.x-k8s.io', namespace: 'prod' },
  { verb: 'update', resource: 'daemonsets', group: 'apps', namespace: PROVIDER_NS, name: PROVIDER_SA },
  { verb: 'escalate', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', name: PROVIDER_SA },
];

function describeAccess(a: Access): string {
  const what = `${a.group === undefined ? '' : `${a.group}/`}${a.resource}${a.subresource === undefined ? '' : `/${a.subresource}`}`;
  return `${a.verb} ${what}${a.name === undefined ? '' : ` ${a.name}`} in ${a.namespace ?? 'the cluster'}`;
}

describe('real control plane: deploy/ and examples/ applied with kubectl', function () {
  let kube: KubeControlPlane;
  let providerToken: string;

  before(async function () {
    this.timeout(600_000);
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
    const driverDir = goModuleDir('test/real/csi-driver', 'sigs.k8s.io/secrets-store-csi-driver');
    for (const crd of ['secrets-store.csi.x-k8s.io_secretproviderclasses.yaml', 'secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml']) {
      await kube.kubectl(['apply', '--server-side', '-f', join(driverDir, 'deploy', crd)]);
    }
    await kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/secretproviderclasses.secrets-store.csi.x-k8s.io']);
    await kube.kubectl(['apply', '--server-side', '-f', join(REPO, 'deploy/driver/csidriver.yaml')]);
    for (const ns of ['prod', 'test', 'apps', 'ci']) await kube.must('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    // The examples' Pods without a serviceAccountName run as "default", which the controller manager's
    // ServiceAccount controller creates in every namespace; there is none here, and the real ServiceAccount
    // admission refuses a Pod whose ServiceAccount does not exist.
    for (const ns of ['default', 'prod', 'test', 'apps', 'ci']) await kube.must('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'default' } });
  });

  after(async () => {
    await kube?.stop();
  });

  it('applies deploy/base server-side and creates what it lists', async () => {
    const out = await kube.kubectl(['apply', '--server-side', '--field-manager=real-suite', '-k', join(REPO, 'deploy/base')]);
    assert.match(out, /namespace\/csi serverside-applied/);
    assert.match(out, /daemonset.apps\/vault-csi-provider serverside-applied/);
    const ns = (await kube.must('GET', '/api/v1/namespaces/csi')) as { metadata: { labels?: Record<string, string> } };
    assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    await kube.must('GET', `/api/v1/namespaces/${PROVIDER_NS}/serviceaccounts/${PROVIDER_SA}`);
    // Nothing cluster-wide (the TokenRequest fallback's ClusterRole is its overlay's).
    assert.equal((await kube.api('GET', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${PROVIDER_SA}`)).status, 404);
    assert.equal((await kube.api('GET', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${PROVIDER_SA}-token-request`)).status, 404);
    await kube.must('GET', `/apis/rbac.authorization.k8s.io/v1/namespaces/${PROVIDER_NS}/rolebindings/${PROVIDER_SA}`);
    const ds = (await kube.must('GET', `/apis/apps/v1/namespaces/${PROVIDER_NS}/daemonsets/${PROVIDER_SA}`)) as {
      spec: { template: { spec: { serviceAccountName: string } } };
    };
    assert.equal(ds.spec.template.spec.serviceAccountName, PROVIDER_SA);
  });

  for (const overlay of readdirSync(join(REPO, 'deploy/overlays')).sort()) {
    it(`overlay ${overlay}: accepted server-side by the real API server (dry run against the applied base)`, async () => {
      const out = await kube.kubectl(['apply', '--server-side', '--field-manager=real-suite', '--dry-run=server', '-k', join(REPO, 'deploy/overlays', overlay)]);
      assert.match(out, /daemonset.apps\/vault-csi-provider serverside-applied \(server dry run\)/);
    });
  }

  for (const example of readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.yaml')).sort()) {
    it(`example ${example}: applied server-side (SecretProviderClass against the driver's own CRD)`, async () => {
      const out = await kube.kubectl(['apply', '--server-side', '--field-manager=real-suite', '-f', join(REPO, 'examples', example)]);
      assert.match(out, /serverside-applied/);
    });
  }

  describe('the provider ServiceAccount, asking the real authoriser for itself', () => {
    before(async () => {
      // Like the kubelet does for the DaemonSet's pod: a token of the pod's ServiceAccount, bound to that pod.
      const pod = (await kube.must('POST', `/api/v1/namespaces/${PROVIDER_NS}/pods`, {
        metadata: { name: 'vault-csi-provider-node1' },
        spec: { serviceAccountName: PROVIDER_SA, nodeName: 'node1', containers: [{ name: 'provider', image: 'vault-csi-provider-ts:0.1.0' }] },
      })) as { metadata: { uid: string } };
      const answer = (await kube.must('POST', `/api/v1/namespaces/${PROVIDER_NS}/serviceaccounts/${PROVIDER_SA}/token`, {
        spec: { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'vault-csi-provider-node1', uid: pod.metadata.uid }, expirationSeconds: 3600 },
      })) as { status: { token: string } };
      providerToken = answer.status.token;
    });

    async function allowed(a: Access): Promise<boolean> {
      const review = (await kube.must(
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: a.verb,
              resource: a.resource,
              group: a.group ?? '',
              ...(a.subresource === undefined ? {} : { subresource: a.subresource }),
              ...(a.namespace === undefined ? {} : { namespace: a.namespace }),
              ...(a.name === undefined ? {} : { name: a.name }),
            },
          },
        },
        { token: providerToken },
      )) as { status: { allowed: boolean } };
      return review.status.allowed;
    }

    for (const a of NEEDED) {
      it(`may ${describeAccess(a)}`, async () => {
        assert.equal(await allowed(a), true);
      });
    }
    for (const a of [...DENIED, ...TOKEN_REQUESTS]) {
      it(`may not ${describeAccess(a)}`, async () => {
        assert.equal(await allowed(a), false);
      });
    }

    /** A real TokenRequest, as the provider would send it, with the provider's own token. */
    const requestToken = (namespace: string, name: string) =>
      kube.api('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, { spec: { audiences: ['vault'], expirationSeconds: 600 } }, { token: providerToken });

    it('cannot create a token for any ServiceAccount: a real TokenRequest is 403, and kubectl auth can-i --as says no', async () => {
      // (201, or 409 when an example created it already.)
      await kube.api('POST', '/api/v1/namespaces/prod/serviceaccounts', { metadata: { name: 'web' } });
      for (const [namespace, name] of [['prod', 'web'], ['kube-system', 'default'], [PROVIDER_NS, PROVIDER_SA]] as const) {
        assert.equal((await requestToken(namespace, name)).status, 403, `${namespace}/${name}`);
      }
      const as = ['--as', `system:serviceaccount:${PROVIDER_NS}:${PROVIDER_SA}`];
      // (`serviceaccounts/token` would ask about a ServiceAccount named "token": the subresource is a flag.)
      await assert.rejects(kube.kubectl(['auth', 'can-i', 'create', 'serviceaccounts', '--subresource=token', '-n', 'prod', ...as]), /no/);
      await assert.rejects(kube.kubectl(['auth', 'can-i', 'create', 'serviceaccounts', '--subresource=token', '--all-namespaces', ...as]), /no/);
    });

    it('kubectl auth can-i --as gives the same answers as the SelfSubjectAccessReviews', async () => {
      const as = ['--as', `system:serviceaccount:${PROVIDER_NS}:${PROVIDER_SA}`];
      assert.equal((await kube.kubectl(['auth', 'can-i', 'get', `secrets/${HMAC_SECRET}`, '-n', PROVIDER_NS, ...as])).trim(), 'yes');
      // can-i exits 1 on "no"
      await assert.rejects(kube.kubectl(['auth', 'can-i', 'list', 'secrets', '-n', PROVIDER_NS, ...as]), /no/);
    });

    it('reads the HMAC Secret through the real API only by name: the list and another Secret are 403', async () => {
      const missing = await kube.api('GET', `/api/v1/namespaces/${PROVIDER_NS}/secrets/${HMAC_SECRET}`, undefined, { token: providerToken });
      assert.equal(missing.status, 404, 'allowed, and not there before the first start');
      await kube.must('POST', `/api/v1/namespaces/${PROVIDER_NS}/secrets`, { metadata: { name: 'another-secret' }, stringData: { k: 'v' } });
      const other = await kube.api('GET', `/api/v1/namespaces/${PROVIDER_NS}/secrets/another-secret`, undefined, { token: providerToken });
      assert.equal(other.status, 403);
      const list = await kube.api('GET', `/api/v1/namespaces/${PROVIDER_NS}/secrets`, undefined, { token: providerToken });
      assert.equal(list.status, 403);
    });

    it('the opt-in: applied, the token-request-fallback overlay lets it create a token for a pod\'s ServiceAccount (and nothing else is added)', async () => {
      const out = await kube.kubectl(['apply', '--server-side', '--field-manager=real-suite', '-k', join(REPO, 'deploy/overlays/token-request-fallback')]);
      assert.match(out, /clusterrole.rbac.authorization.k8s.io\/vault-csi-provider-token-request serverside-applied/);
      for (const a of TOKEN_REQUESTS) assert.equal(await allowed(a), true, describeAccess(a));
      for (const a of DENIED) assert.equal(await allowed(a), false, describeAccess(a));
      const answer = await requestToken('prod', 'web');
      assert.equal(answer.status, 201);
      const as = ['--as', `system:serviceaccount:${PROVIDER_NS}:${PROVIDER_SA}`];
      assert.equal((await kube.kubectl(['auth', 'can-i', 'create', 'serviceaccounts', '--subresource=token', '-n', 'prod', ...as])).trim(), 'yes');
      assert.equal((await kube.kubectl(['auth', 'can-i', 'create', 'serviceaccounts', '--subresource=token', '--all-namespaces', ...as])).trim(), 'yes');
    });
  });
});
