/**
 * Real Vault, the driver's own client and writer: the e2e scenarios of test/e2e/ that Vault OSS can serve, end to
 * end from the attributes the driver sends to the files its writer leaves in the target directory.
 */
import assert from 'node:assert/strict';
import { World, WEB_POD, type Pod } from '../harness/world.js';
import { assertCertificateAndKey, assertCoreFiles, CORE_OBJECTS_WITH_WHOLE_JSON, PKI_OBJECTS } from '../../helpers/core-mount.js';

describe('real Vault: mounts through the driver client', function () {
  let w: World;

  before(async () => {
    w = await World.start({ postgres: true });
    const v = w.vault;
    await v.must('POST', 'secret/data/db-pass', { data: { password: 'hunter2-kv2', port: 5432, nested: { b: [1, 2], a: 'x' } } });
    await v.must('POST', 'secret/data/dotfiles', { data: { value: 'dot-value' } });
    await v.must('POST', 'secret/data/binary', { data: { b64: Buffer.from([0, 1, 2, 250]).toString('base64'), hex: 'deadbeef' } });
    await v.must('POST', 'kv/legacy', { token: 'kv1-value' });
  });

  after(async () => {
    await w?.close();
  });

  it('answers Version through the driver client', async () => {
    const m = await w.mount({ objects: [{ objectName: 'p', secretPath: 'secret/data/dotfiles', secretKey: 'value' }] });
    assert.equal(m.error, '');
    assert.match(m.runtimeVersion ?? '', /^\d+\.\d+\.\d+/);
  });

  it('mounts KV v2 and v1 keys, the whole JSON, a dotfile and nested paths with their modes', async () => {
    const m = await w.mount({
      objects: CORE_OBJECTS_WITH_WHOLE_JSON,
    });
    assert.equal(m.error, '', m.grpcMessage);
    assertCoreFiles(m.files);
    const whole = JSON.parse(m.files.get('whole.json')!.text) as { data: { data: { value: string }; metadata: { version: number } } };
    assert.equal(whole.data.data.value, 'dot-value');
    assert.equal(whole.data.metadata.version, 1);
    assert.deepEqual(Object.keys(m.objectVersions ?? {}).sort(), ['.secret-file', 'db-password', 'legacy', 'nested/dir/port', 'nested/obj.json', 'whole.json']);
    for (const v of Object.values(m.objectVersions ?? {})) assert.match(v, /^[A-Za-z0-9_-]{43}$/);
  });

  it('makes one Vault request per distinct path in a mount', async () => {
    await w.mark();
    const m = await w.mount({
      objects: [
        { objectName: 'a', secretPath: 'secret/data/db-pass', secretKey: 'password' },
        { objectName: 'b', secretPath: '/v1/secret/data/db-pass', secretKey: 'port' },
        { objectName: 'c', secretPath: 'secret/data/dotfiles', secretKey: 'value' },
      ],
    });
    assert.equal(m.error, '', m.grpcMessage);
    assert.deepEqual((await w.vaultRequests('secret/')).map((r) => r.path).sort(), ['secret/data/db-pass', 'secret/data/dotfiles']);
  });

  it('decodes base64 and hex values', async () => {
    const m = await w.mount({
      objects: [
        { objectName: 'b64', secretPath: 'secret/data/binary', secretKey: 'b64', encoding: 'base64' },
        { objectName: 'hex', secretPath: 'secret/data/binary', secretKey: 'hex', encoding: 'HEX' },
      ],
    });
    assert.equal(m.error, '', m.grpcMessage);
    assert.deepEqual(m.files.get('b64')?.bytes, Buffer.from([0, 1, 2, 250]));
    assert.deepEqual(m.files.get('hex')?.bytes, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  });

  it('issues one PKI certificate for the certificate and key objects, via PUT with secretArgs', async () => {
    await w.mark();
    const m = await w.mount({
      objects: PKI_OBJECTS,
    });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal((await w.vaultRequests('pki/issue/')).length, 1);
    assertCertificateAndKey(m.files);
  });

  it('sends the query string of a PUT as the reference does, and Vault reads none of it', async () => {
    await w.mark();
    const m = await w.mount({ objects: [{ objectName: 'crt', secretPath: 'pki/issue/web?common_name=q.prod.svc&ttl=2h', secretKey: 'certificate', method: 'PUT' }] });
    assert.equal(m.grpcCode, 'FailedPrecondition', m.error);
    assert.match(m.grpcMessage, /VAULT_REQUEST_REJECTED: object "crt" .*common_name field is required/);
    assert.deepEqual((await w.vaultRequests('pki/issue/')).map((r) => r.operation), ['update']);
    assert.equal(m.files.size, 0);
  });

  it('refuses a write that Vault answers with 204 No Content: there is nothing to mount', async () => {
    const m = await w.mount({ objects: [{ objectName: 'w', secretPath: 'kv/writable', method: 'PUT', secretArgs: { a: 'b' } }] });
    assert.equal(m.grpcCode, 'NotFound', m.error);
    assert.match(m.grpcMessage, /SECRET_NOT_FOUND: object "w" \(Vault path kv\/writable\): Vault returned an empty response/);
    assert.equal(m.files.size, 0);
  });

  it('reads the query string of a GET as request data', async () => {
    await w.vault.must('POST', 'secret/data/versioned', { data: { v: 'one' } });
    await w.vault.must('POST', 'secret/data/versioned', { data: { v: 'two' } });
    const m = await w.mount({ objects: [{ objectName: 'v1', secretPath: 'secret/data/versioned?version=1', secretKey: 'v' }] });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('v1')?.text, 'one');
  });

  it('reads a dynamic database credential once per mount, reuses it on republish, and Vault holds one lease for it', async () => {
    const objects = [
      { objectName: 'db/username', secretPath: 'database/creds/web', secretKey: 'username' },
      { objectName: 'db/password', secretPath: 'database/creds/web', secretKey: 'password' },
    ];
    await w.mark();
    const target = await w.newTarget();
    const first = await w.mount({ objects, target });
    assert.equal(first.error, '', first.grpcMessage);
    const user = first.files.get('db/username')!.text;
    assert.match(user, /^v-/);
    // The credential is real: PostgreSQL has the role Vault created.
    assert.equal(w.postgres!.query(`SELECT count(*) FROM pg_roles WHERE rolname = '${user.replace(/'/g, "''")}'`), '1');
    const again = await w.mount({ objects, target });
    assert.equal(again.error, '', again.grpcMessage);
    assert.equal(again.files.get('db/username')!.text, user);
    assert.deepEqual(again.objectVersions, first.objectVersions);
    assert.equal((await w.vaultRequests('database/creds/')).length, 1, 'one credential for the mount and its republish');
    const leases = (await w.vault.must('LIST', 'sys/leases/lookup/database/creds/web')) as { data: { keys: string[] } };
    assert.ok(leases.data.keys.length >= 1);
  });

  it('gives another pod of the same ServiceAccount its own database credential', async () => {
    const objects = [{ objectName: 'u', secretPath: 'database/creds/web', secretKey: 'username' }];
    const other: Pod = { ...WEB_POD, name: 'web-5d8f7c9b4-zzzzz', uid: '0f0e0d0c-0b0a-4909-8807-060504030201' };
    const a = await w.mount({ objects });
    const b = await w.mount({ objects, pod: other });
    assert.equal(a.error + b.error, '');
    assert.notEqual(a.files.get('u')!.text, b.files.get('u')!.text);
  });

  it('denies a ServiceAccount the role does not bind, with a message naming the role', async () => {
    const intruder: Pod = { ...WEB_POD, serviceAccountName: 'intruder', name: 'intruder-0', uid: '11111111-2222-4333-8444-555555555555' };
    const m = await w.mount({ pod: intruder, objects: [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }] });
    assert.notEqual(m.error, '');
    assert.equal(m.grpcCode, 'PermissionDenied', m.error);
    assert.match(m.grpcMessage, /web/);
    assert.equal(m.files.size, 0);
  });

  it('logs in through JWT auth at a custom mount with a custom audience', async () => {
    await w.vault.must('POST', 'auth/jwt/role/web-aud', {
      role_type: 'jwt', bound_audiences: ['custom-aud'], user_claim: 'sub', bound_subject: 'system:serviceaccount:prod:web', token_policies: ['web'], token_ttl: '1h',
    });
    await w.mark();
    const m = await w.mount({
      audience: 'custom-aud',
      params: { roleName: 'web-aud', vaultAuthMountPath: 'jwt' },
      objects: [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }],
    });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('p')?.text, 'hunter2-kv2');
    assert.equal((await w.vaultRequests('auth/jwt/login')).length, 1);
  });

  it('refuses a token for another audience than the role binds, checked by Vault', async () => {
    const m = await w.mount({
      audience: 'other-aud',
      params: { roleName: 'web', vaultAuthMountPath: 'jwt' },
      objects: [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }],
    });
    assert.equal(m.grpcCode, 'PermissionDenied', m.error);
    assert.equal(m.files.size, 0);
  });

  it('keeps object versions across a restart of the provider', async () => {
    const objects = [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }];
    const before = await w.mount({ objects });
    await w.provider.restart();
    const after = await w.mount({ objects });
    assert.equal(after.error, '', after.grpcMessage);
    assert.deepEqual(after.objectVersions, before.objectVersions);
  });

  it('logs in once for several mounts of one pod', async () => {
    // A ServiceAccount of its own, so no earlier test's login is reused.
    await w.vault.must('POST', 'auth/kubernetes/role/once', {
      bound_service_account_names: ['once'], bound_service_account_namespaces: ['prod'], audience: 'vault', token_policies: ['web'], token_ttl: '1h',
    });
    const pod: Pod = { ...WEB_POD, serviceAccountName: 'once', name: 'once-0', uid: '22222222-3333-4444-8555-666666666666' };
    await w.mark();
    for (let i = 0; i < 3; i++) {
      const m = await w.mount({ pod, params: { roleName: 'once' }, objects: [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }] });
      assert.equal(m.error, '', m.grpcMessage);
    }
    assert.equal((await w.vaultRequests('auth/kubernetes/login')).length, 1);
  });
});
