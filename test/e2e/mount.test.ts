/**
 * End to end: the real provider on a temporary Unix socket, driven by a gRPC client written from the contract,
 * against the Vault-compatible test server. Files are checked as the driver would receive them.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';
import { assertCertificateAndKey, assertCoreFiles, CORE_OBJECTS_WITH_WHOLE_JSON, PKI_OBJECTS } from '../helpers/core-mount.js';

function fileMap(res: MountResponse__Output): Map<string, { mode: number; text: string; bytes: Buffer }> {
  return new Map(res.files.map((f) => [f.path, { mode: f.mode, text: Buffer.from(f.contents).toString('utf8'), bytes: Buffer.from(f.contents) }]));
}

describe('e2e: mount', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'db-pass', { password: 'hunter2-kv2', port: 5432, nested: { b: [1, 2], a: 'x' } });
    h.vault.putKv('secret', 'dotfiles', { value: 'dot-value' });
    h.vault.putKv('secret', 'binary', { b64: Buffer.from([0, 1, 2, 250]).toString('base64'), hex: 'deadbeef' });
    h.vault.putKv('kv', 'legacy', { token: 'kv1-value' });
    await h.startProvider();
  });

  after(async () => {
    await h.close();
  });

  it('answers Version with v1alpha1, a runtime name and a semver', async () => {
    const v = await h.client.version();
    assert.equal(v.version, 'v1alpha1');
    assert.ok(v.runtime_name.length > 0);
    assert.match(v.runtime_version, /^\d+\.\d+\.\d+/);
  });

  it('mounts KV v2 and v1 keys, the whole JSON, a dotfile and nested paths with their modes', async () => {
    const res = await h.client.mount(
      h.request({
        objects: CORE_OBJECTS_WITH_WHOLE_JSON,
      }),
    );
    const files = fileMap(res);
    assertCoreFiles(files);
    const whole = JSON.parse(files.get('whole.json')!.text) as { data: { data: { value: string }; metadata: { version: number } }; lease_duration: number };
    assert.equal(whole.data.data.value, 'dot-value');
    assert.equal(whole.data.metadata.version, 1);
    assert.deepEqual(
      res.object_version.map((v) => v.id),
      ['db-password', '.secret-file', 'nested/dir/port', 'nested/obj.json', 'legacy', 'whole.json'],
    );
    for (const v of res.object_version) assert.match(v.version, /^[A-Za-z0-9_-]{43}$/);
    // The three objects that read secret/data/db-pass made one request between them.
    assert.equal(h.logLinesWith('"msg":"mount"').length > 0, true);
  });

  it('makes one Vault request per distinct (method, path, query, secretArgs) in a mount', async () => {
    h.vault.clearRequests();
    await h.client.mount(
      h.request({
        objects: [
          { objectName: 'a', secretPath: 'secret/data/db-pass', secretKey: 'password' },
          { objectName: 'b', secretPath: '/v1/secret/data/db-pass', secretKey: 'port' },
          { objectName: 'c', secretPath: 'secret/data/dotfiles', secretKey: 'value' },
        ],
      }),
    );
    assert.equal(h.vault.countRequests({ kind: 'read' }), 2);
  });

  it('applies the request permission as the default mode', async () => {
    const res = await h.client.mount(h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }], permission: '256' }));
    assert.equal(res.files[0]?.mode, 0o400);
  });

  it('decodes base64 and hex values', async () => {
    const res = await h.client.mount(
      h.request({
        objects: [
          { objectName: 'b64', secretPath: 'secret/data/binary', secretKey: 'b64', encoding: 'base64' },
          { objectName: 'hex', secretPath: 'secret/data/binary', secretKey: 'hex', encoding: 'HEX' },
        ],
      }),
    );
    const files = fileMap(res);
    assert.deepEqual(files.get('b64')?.bytes, Buffer.from([0, 1, 2, 250]));
    assert.deepEqual(files.get('hex')?.bytes, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  });

  it('issues one PKI certificate for the certificate and key objects, via PUT with secretArgs', async () => {
    h.vault.clearRequests();
    const res = await h.client.mount(
      h.request({
        objects: PKI_OBJECTS,
      }),
    );
    assert.equal(h.vault.countRequests({ kind: 'issue' }), 1);
    assertCertificateAndKey(fileMap(res));
  });

  it('sends the query string of a POST as the reference does; Vault reads none, so its 400 is quoted', async () => {
    h.vault.clearRequests();
    const err = await h.client
      .mount(h.request({ objects: [{ objectName: 'crt', secretPath: 'pki/issue/web?common_name=q.prod.svc&ttl=2h', secretKey: 'certificate', method: 'POST' }] }))
      .then(() => undefined, (e: unknown) => e as { code: number; details: string });
    assert.equal(err?.code, status.FAILED_PRECONDITION);
    assert.match(err?.details ?? '', /VAULT_REQUEST_REJECTED: object "crt" \(Vault path pki\/issue\/web\?common_name=q\.prod\.svc&ttl=2h\).*common_name field is required/);
    assert.equal(h.vault.requests.at(-1)?.query['common_name'], 'q.prod.svc', 'the query string reached Vault');
  });

  it('issues a PKI certificate with arguments in secretArgs, beside a query string Vault does not read', async () => {
    const res = await h.client.mount(
      h.request({
        objects: [{ objectName: 'crt', secretPath: 'pki/issue/web?ttl=200h', secretKey: 'certificate', method: 'POST', secretArgs: { common_name: 'q.prod.svc', ttl: '2h' } }],
      }),
    );
    const cert = new X509Certificate(fileMap(res).get('crt')!.text);
    assert.match(cert.subject, /CN=q\.prod\.svc/);
    const hours = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000;
    assert.ok(hours <= 2.1, `validity ${hours}h`);
  });

  it('reads a dynamic database credential once per mount, shared by its objects', async () => {
    h.vault.clearRequests();
    const res = await h.client.mount(
      h.request({
        objects: [
          { objectName: 'db/username', secretPath: 'database/creds/web', secretKey: 'username' },
          { objectName: 'db/password', secretPath: 'database/creds/web', secretKey: 'password' },
        ],
      }),
    );
    assert.equal(h.vault.countRequests({ kind: 'dynamic' }), 1);
    const files = fileMap(res);
    const lease = h.vault.activeLeases().find((l) => l.username === files.get('db/username')!.text);
    assert.ok(lease, 'the username belongs to a live lease');
  });

  it('gives the same object versions for the same content, and new ones when the secret changes', async () => {
    const req = h.request({ objects: [{ objectName: 'v', secretPath: 'secret/data/versioned', secretKey: 'k' }] });
    h.vault.putKv('secret', 'versioned', { k: 'one' });
    const first = await h.client.mount(req);
    const again = await h.client.mount(req);
    assert.equal(first.object_version[0]?.version, again.object_version[0]?.version);
    h.vault.putKv('secret', 'versioned', { k: 'two' });
    const changed = await h.client.mount(req);
    assert.notEqual(changed.object_version[0]?.version, first.object_version[0]?.version);
  });

  it('refuses a ServiceAccount the role is not bound to, naming the role', async () => {
    const other = { ...POD, serviceAccountName: 'intruder' };
    const err = await h.client.mountError(h.request({ pod: other, objects: [{ objectName: 'x', secretPath: 'secret/data/db-pass', secretKey: 'password' }] }));
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details, /AUTH_FAILED/);
    assert.match(err.details, /role "web"/);
  });

  it('refuses a JWT signed by an unknown key and one for another audience', async () => {
    // A role of its own, so no token cached for the pod's usual identity can stand in for the login.
    h.vault.addKubernetesRole('kubernetes', 'web-strict', {
      boundServiceAccountNames: ['web'],
      boundServiceAccountNamespaces: ['prod'],
      audience: 'vault',
      policies: ['web'],
    });
    const objects = [{ objectName: 'x', secretPath: 'secret/data/db-pass', secretKey: 'password' }];
    const params = { roleName: 'web-strict' };
    const forged = await h.client.mountError(h.request({ objects, params, jwt: h.jwtFor(POD, 'vault', { wrongKey: true }) }));
    assert.equal(forged.code, status.PERMISSION_DENIED);
    const wrongAud = await h.client.mountError(h.request({ objects, params, jwt: h.jwtFor(POD, 'not-vault') }));
    assert.equal(wrongAud.code, status.PERMISSION_DENIED);
  });

  it('fails with NOT_FOUND naming the object and path for a missing secret or key, and returns no files', async () => {
    const missing = await h.client.mountError(
      h.request({
        objects: [
          { objectName: 'fine', secretPath: 'secret/data/db-pass', secretKey: 'password' },
          { objectName: 'gone', secretPath: 'secret/data/does-not-exist', secretKey: 'x' },
        ],
      }),
    );
    assert.equal(missing.code, status.NOT_FOUND);
    assert.match(missing.details, /SECRET_NOT_FOUND/);
    assert.match(missing.details, /"gone"/);
    assert.match(missing.details, /secret\/data\/does-not-exist/);
    const noKey = await h.client.mountError(h.request({ objects: [{ objectName: 'k', secretPath: 'secret/data/db-pass', secretKey: 'nope' }] }));
    assert.equal(noKey.code, status.NOT_FOUND);
    assert.match(noKey.details, /KEY_NOT_FOUND.*"k".*secret\/data\/db-pass.*"nope"/);
  });

  it('fails with PERMISSION_DENIED when the policy does not allow the path', async () => {
    h.vault.enableKv('other', 2);
    h.vault.putKv('other', 'x', { a: 'b' });
    const err = await h.client.mountError(h.request({ objects: [{ objectName: 'o', secretPath: 'other/data/x', secretKey: 'a' }] }));
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details, /"o".*other\/data\/x/);
  });

  it('accepts the tokens in the secrets field (Kubernetes 1.35+)', async () => {
    const res = await h.client.mount(h.request({ tokensIn: 'secrets', pod: { ...POD, uid: 'uid-secrets' }, objects: [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }] }));
    assert.equal(fileMap(res).get('p')?.text, 'hunter2-kv2');
  });

  it('fails with UNAUTHENTICATED when there is no token and no cluster to ask', async () => {
    const err = await h.client.mountError(h.request({ jwt: null, pod: { ...POD, serviceAccountName: 'web', namespace: 'elsewhere' }, objects: [{ objectName: 'p', secretPath: 'secret/data/db-pass', secretKey: 'password' }] }));
    assert.equal(err.code, status.UNAUTHENTICATED);
    assert.match(err.details, /TOKEN_UNAVAILABLE/);
  });

  it('never logs a secret value, a Vault token or a JWT, even at trace level', () => {
    const all = h.logs.join('\n');
    for (const secret of ['hunter2-kv2', 'dot-value', 'kv1-value', 'BEGIN RSA PRIVATE KEY', 'BEGIN PRIVATE KEY']) {
      assert.ok(!all.includes(secret), `log contains ${secret}`);
    }
    assert.ok(!/hvs\.[A-Za-z0-9]/.test(all), 'log contains a Vault token');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(all), 'log contains a JWT');
    assert.ok(h.logs.length > 10);
  });
});
