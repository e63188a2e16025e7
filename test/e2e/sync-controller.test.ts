/**
 * The provider as the secrets-store-sync-controller's (kubernetes-sigs/secrets-store-sync-controller): it calls Mount
 * from a sidecar with the attributes its reconciler builds — the SecretProviderClass parameters, the controller's
 * own pod name and UID (SYNC_CONTROLLER_POD_NAME/UID), the SecretSync's namespace and ServiceAccount, and tokens of
 * that ServiceAccount for its audiences, 600 s, bound to the controller's Node rather than to a pod — with secrets
 * `{}`, permission 0644 and the target path `/mnt/secrets-store` for every SecretSync.
 */
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';

const CONTROLLER = { name: 'secrets-store-sync-controller-7c9f8d-q2x9z', uid: '7f3e2d1c-0b9a-4c8d-9e7f-6a5b4c3d2e1f' };
const NODE = { name: 'node-a', uid: '1a2b3c4d-0000-4000-8000-00000000000a' };

describe('e2e: serving the secrets-store-sync-controller', function () {
  this.timeout(30_000);
  let h: Harness;

  /** The request the controller's prepareCSIProviderParams and MountContent build for one SecretSync. */
  function syncRequest(
    secretSync: { namespace: string; serviceAccountName: string },
    objects: ReadonlyArray<Record<string, unknown>>,
    token: { namespace: string; serviceAccountName: string; podUid?: string } = secretSync,
  ): MountRequest {
    const jwt = h.issuer.signServiceAccountJwt({
      namespace: token.namespace,
      serviceAccountName: token.serviceAccountName,
      audience: 'vault',
      ttlSeconds: 600,
      ...(token.podUid === undefined ? { unbound: true, node: NODE } : { podUid: token.podUid, podName: 'some-pod' }),
    });
    const attributes = {
      roleName: 'web',
      objects: JSON.stringify(objects),
      'csi.storage.k8s.io/pod.name': CONTROLLER.name,
      'csi.storage.k8s.io/pod.uid': CONTROLLER.uid,
      'csi.storage.k8s.io/pod.namespace': secretSync.namespace,
      'csi.storage.k8s.io/serviceAccount.name': secretSync.serviceAccountName,
      'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ vault: { token: jwt, expirationTimestamp: new Date(Date.now() + 600_000).toISOString() } }),
    };
    return { attributes: JSON.stringify(attributes), secrets: '{}', target_path: '/mnt/secrets-store', permission: '420', current_object_version: [] };
  }

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'sync-pw' });
    h.vault.addKubernetesRole('kubernetes', 'web', {
      boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod', 'staging'], audience: 'vault', policies: ['web'], ttlSeconds: 3600,
    });
    await h.startProvider();
  });
  after(async () => h.close());

  const kv = [{ objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' }];
  const db = [{ objectName: 'user', secretPath: 'database/creds/web', secretKey: 'username' }];

  it('serves a SecretSync with the unbound token of its ServiceAccount, and shares the Vault token as for pods', async () => {
    const before = h.vault.countRequests({ kind: 'login' });
    const res = await h.client.mount(syncRequest({ namespace: 'prod', serviceAccountName: 'web' }, kv));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'sync-pw');
    await h.client.mount(syncRequest({ namespace: 'prod', serviceAccountName: 'web' }, kv));
    assert.equal(h.vault.countRequests({ kind: 'login' }), before + 1);
  });

  it('never hands one SecretSync the database credential minted for another behind the same controller pod UID', async () => {
    const users = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await h.client.mount(syncRequest({ namespace: 'prod', serviceAccountName: 'web' }, db));
      users.add(Buffer.from(res.files[0]!.contents).toString());
    }
    // Requests of two SecretSyncs of one ServiceAccount are byte for byte alike: nothing can be kept per "pod".
    assert.equal(users.size, 3);
    const staging = await h.client.mount(syncRequest({ namespace: 'staging', serviceAccountName: 'web' }, db));
    assert.ok(!users.has(Buffer.from(staging.files[0]!.contents).toString()));
  });

  it('still keeps credentialScope: workload credentials for the ServiceAccount, as it does for pods', async () => {
    const shared = [{ ...db[0], credentialScope: 'workload' }];
    const a = await h.client.mount(syncRequest({ namespace: 'prod', serviceAccountName: 'web' }, shared));
    const b = await h.client.mount(syncRequest({ namespace: 'prod', serviceAccountName: 'web' }, shared));
    assert.equal(Buffer.from(a.files[0]!.contents).toString(), Buffer.from(b.files[0]!.contents).toString());
  });

  it('refuses a token of another SecretSync\'s ServiceAccount, and one bound to a pod other than the controller', async () => {
    const other = await h.client.mountError(syncRequest({ namespace: 'staging', serviceAccountName: 'web' }, kv, { namespace: 'prod', serviceAccountName: 'web' }));
    assert.match(other.details, /^FOREIGN_TOKEN: .*not the pod's ServiceAccount staging\/web/);
    const bound = await h.client.mountError(
      syncRequest({ namespace: 'prod', serviceAccountName: 'web' }, kv, { namespace: 'prod', serviceAccountName: 'web', podUid: '99999999-0000-4000-8000-000000000009' }),
    );
    assert.match(bound.details, /^FOREIGN_TOKEN: .*bound to another pod/);
  });
});
