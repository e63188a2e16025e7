/**
 * Whose token a mount uses, checked against real Vault's auth methods (docs/security.md, "Whose token a mount uses"): a
 * JWT role can bind a pod claim, and Vault does not tell the provider which kind of method a mount is, so a token
 * earned with one pod's JWT never serves another pod's mount, and each pod logs in once per token lifetime.
 */
import assert from 'node:assert/strict';
import { World, WEB_POD, type Pod } from '../harness/world.js';

const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/id', secretKey: 'password' }];
const POD_A: Pod = { ...WEB_POD, serviceAccountName: 'ident', name: 'ident-a', uid: 'aaaaaaaa-0000-4000-8000-00000000000a' };
const POD_B: Pod = { ...WEB_POD, serviceAccountName: 'ident', name: 'ident-b', uid: 'bbbbbbbb-0000-4000-8000-00000000000b' };

describe('real Vault: whose token a mount uses', function () {
  let w: World;

  before(async () => {
    w = await World.start();
    await w.vault.must('POST', 'secret/data/id', { data: { password: 'id-pass' } });
    await w.vault.must('POST', 'auth/kubernetes/role/ident', {
      bound_service_account_names: ['ident'], bound_service_account_namespaces: ['prod'], audience: 'vault', token_policies: ['web'], token_ttl: '1h',
    });
    // A JWT role that only pod A's token satisfies: bound_claims on the pod UID claim (a JSON pointer).
    await w.vault.must('POST', 'auth/jwt/role/pod-a', {
      role_type: 'jwt', bound_audiences: ['vault'], user_claim: 'sub', token_policies: ['web'], token_ttl: '1h',
      bound_claims: { '/kubernetes.io/pod/uid': POD_A.uid },
    });
    // A JWT role whose entity is the pod: each pod is its own Vault identity there.
    await w.vault.must('POST', 'auth/jwt/role/per-pod', {
      role_type: 'jwt', bound_audiences: ['vault'], user_claim: '/kubernetes.io/pod/name', user_claim_json_pointer: true, token_policies: ['web'], token_ttl: '1h',
    });
  });

  after(async () => {
    await w?.close();
  });

  it('does not say in a login answer which kind of auth method logged in (so the provider cannot tell)', async () => {
    const jwt = w.jwtFor(POD_A);
    for (const [mount, role] of [['kubernetes', 'ident'], ['jwt', 'pod-a']] as const) {
      const answer = (await w.vault.api('POST', `auth/${mount}/login`, { role, jwt }, null)).body as { mount_type?: string; auth: { client_token?: string } };
      assert.equal(typeof answer.auth.client_token, 'string');
      assert.equal(answer.mount_type, '', mount);
    }
  });

  it('logs in once per pod, not per mount, for the pods of one ServiceAccount', async () => {
    await w.mark();
    for (const pod of [POD_A, POD_B, POD_A, POD_B]) {
      const m = await w.mount({ pod, params: { roleName: 'ident' }, objects: OBJECTS });
      assert.equal(m.error, '', m.grpcMessage);
    }
    assert.equal((await w.vaultRequests('auth/kubernetes/login')).length, 2);
  });

  it('never serves another pod with a token a pod-bound JWT role gave one pod', async () => {
    await w.mark();
    const a = await w.mount({ pod: POD_A, params: { roleName: 'pod-a', vaultAuthMountPath: 'jwt' }, objects: OBJECTS });
    assert.equal(a.error, '', a.grpcMessage);
    assert.equal(a.files.get('p')?.text, 'id-pass');
    const b = await w.mount({ pod: POD_B, params: { roleName: 'pod-a', vaultAuthMountPath: 'jwt' }, objects: OBJECTS });
    assert.equal(b.grpcCode, 'PermissionDenied', `pod B got a mount with pod A's role: ${b.error}`);
    assert.equal(b.files.size, 0);
    // Pod B's own login was tried (and refused by Vault): it did not ride on pod A's token.
    assert.equal((await w.vaultRequests('auth/jwt/login')).length, 2);
  });

  it('credentialScope workload: one certificate for the pods of a ServiceAccount under Kubernetes auth, one per pod under JWT auth', async () => {
    // What the provider takes as Vault establishing the ServiceAccount: the Kubernetes auth plugin's login metadata.
    const answer = (await w.vault.api('POST', 'auth/kubernetes/login', { role: 'ident', jwt: w.jwtFor(POD_A) }, null)).body as { auth: { metadata: Record<string, string> } };
    assert.equal(answer.auth.metadata['service_account_name'], 'ident');
    assert.equal(answer.auth.metadata['service_account_namespace'], 'prod');
    assert.match(answer.auth.metadata['service_account_uid'] ?? '', /./);
    const jwtAnswer = (await w.vault.api('POST', 'auth/jwt/login', { role: 'per-pod', jwt: w.jwtFor(POD_A) }, null)).body as { auth: { metadata: Record<string, string> } };
    assert.deepEqual(Object.keys(jwtAnswer.auth.metadata), ['role']);
    const ISSUE = [{ objectName: 'crt', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'ident.prod.svc' }, secretKey: 'serial_number', credentialScope: 'workload' }];
    const cases = [
      [{ roleName: 'ident' }, 1],
      // Whatever the mount says of its method: Vault's answer decides.
      [{ roleName: 'per-pod', vaultAuthMountPath: 'jwt' }, 2],
      [{ roleName: 'per-pod', vaultAuthMountPath: 'jwt', vaultAuthMethod: 'jwt' }, 2],
    ] as const;
    for (const [n, [params, issues]] of cases.entries()) {
      await w.mark();
      const serials = new Set<string>();
      // Pods of their own for each case: a pod's kept certificate would answer its next mount.
      const pods = [POD_A, POD_B].map((p) => ({ ...p, name: `${p.name}-${n}`, uid: `${p.uid.slice(0, -1)}${n}` }));
      for (const pod of pods) {
        const m = await w.mount({ pod, params, objects: ISSUE });
        assert.equal(m.error, '', m.grpcMessage);
        serials.add(m.files.get('crt')?.text ?? '');
      }
      assert.equal((await w.vaultRequests('pki/issue/web')).length, issues, JSON.stringify(params));
      assert.equal(serials.size, issues);
    }
  });
});
