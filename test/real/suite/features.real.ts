/**
 * The beyond-the-reference features and the bad inputs, on real Vault's responses: optional objects, JSON pointers,
 * templates with input-only objects, expand keys and pki; and mounts that must fail with a clear error and no file.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { World, WEB_POLICY } from '../harness/world.js';

describe('real Vault: features and bad input', function () {
  let w: World;

  before(async () => {
    w = await World.start();
    await w.vault.must('POST', 'secret/data/app', { data: { password: 'p@ss word', config: { db: { hosts: ['db-0', 'db-1'] } } } });
    await w.vault.must('POST', 'secret/data/api', { data: { key: 'api-key-1' } });
    await w.vault.must('POST', 'secret/data/app-config', { data: { 'app.yaml': 'a: 1\n', 'log-level': 'debug' } });
    await w.vault.must('POST', 'secret/data/registry', { data: { server: 'registry.example', username: 'robot', password: 'r0b0t' } });
  });

  after(async () => {
    await w?.close();
  });

  it('skips an optional object that Vault does not have, and writes the rest', async () => {
    const m = await w.mount({
      objects: [
        { objectName: 'present', secretPath: 'secret/data/api', secretKey: 'key' },
        { objectName: 'absent', secretPath: 'secret/data/not-there', secretKey: 'key', optional: true },
      ],
    });
    assert.equal(m.error, '', m.grpcMessage);
    assert.deepEqual([...m.files.keys()].sort(), ['present']);
  });

  it('does not skip an optional object whose path is a KV v1-style path on the KV v2 mount: Vault says it is invalid', async () => {
    // A policy broad enough that Vault answers the path (404 with its hint) rather than denying it.
    await w.vault.must('POST', 'sys/policies/acl/web', { policy: `${WEB_POLICY}\npath "secret/api" { capabilities = ["read"] }\n` });
    const m = await w.mount({ objects: [{ objectName: 'wrong', secretPath: 'secret/api', secretKey: 'key', optional: true }] });
    assert.equal(m.grpcCode, 'InvalidArgument', m.error);
    assert.match(m.grpcMessage, /INVALID_CONFIG: object "wrong" .*not an API path of its versioned KV engine/);
    assert.equal(m.files.size, 0);
  });

  it('selects nested values with jsonPointer', async () => {
    const m = await w.mount({ objects: [{ objectName: 'db-1', secretPath: 'secret/data/app', jsonPointer: '/config/db/hosts/1' }] });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('db-1')?.text, 'db-1');
  });

  it('renders templates from real secrets, with input-only objects writing no file', async () => {
    const m = await w.mount({
      objects: `
- objectName: "config.json"
  secretPath: "secret/data/app"
  template: '{"hosts": {{ json .config.db.hosts }}, "password": {{ json .password }}, "apiKey": {{ json @api.key }}}'
- objectName: "api"
  secretPath: "secret/data/api"
  inputOnly: true
- objectName: "registry"
  secretPath: "secret/data/registry"
  inputOnly: true
- objectName: ".dockerconfigjson"
  template: '{"auths":{{{ json @registry.server }}:{"auth":"{{ base64 @registry.username ":" @registry.password }}"}}}'
`,
    });
    assert.equal(m.error, '', m.grpcMessage);
    assert.deepEqual(JSON.parse(m.files.get('config.json')!.text), { hosts: ['db-0', 'db-1'], password: 'p@ss word', apiKey: 'api-key-1' });
    const docker = JSON.parse(m.files.get('.dockerconfigjson')!.text) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(docker.auths['registry.example']!.auth, 'base64').toString(), 'robot:r0b0t');
    assert.deepEqual([...m.files.keys()].sort(), ['.dockerconfigjson', 'config.json']);
    assert.deepEqual(Object.keys(m.objectVersions ?? {}).sort(), ['.dockerconfigjson', 'config.json']);
  });

  it('expands every key of a secret into files', async () => {
    const m = await w.mount({ objects: [{ objectName: 'app-config', secretPath: 'secret/data/app-config', expand: 'keys' }] });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('app-config/app.yaml')?.text, 'a: 1\n');
    assert.equal(m.files.get('app-config/log-level')?.text, 'debug');
  });

  it('expands a PKI issue into the kubernetes.io/tls layout', async () => {
    const m = await w.mount({
      objects: [{ objectName: 'tls', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'api.prod.svc', ttl: '24h' }, expand: 'pki', filePermission: 0o600 }],
    });
    assert.equal(m.error, '', m.grpcMessage);
    const cert = new X509Certificate(m.files.get('tls/tls.crt')!.text);
    assert.match(cert.subject, /CN=api\.prod\.svc/);
    const ca = new X509Certificate(m.files.get('tls/ca.crt')!.text);
    assert.ok(cert.verify(ca.publicKey), 'the certificate is signed by ca.crt');
    const key = createPublicKey(createPrivateKey(m.files.get('tls/tls.key')!.text)).export({ type: 'spki', format: 'pem' });
    assert.equal(cert.publicKey.export({ type: 'spki', format: 'pem' }), key);
    assert.equal(m.files.get('tls/tls.key')?.mode, 0o600);
  });

  const refused: ReadonlyArray<{ what: string; objects: string | ReadonlyArray<Record<string, unknown>>; params?: Record<string, string>; code: string; message: RegExp }> = [
    { what: 'a missing secret', objects: [{ objectName: 'x', secretPath: 'secret/data/nope', secretKey: 'k' }], code: 'NotFound', message: /SECRET_NOT_FOUND.*"x".*secret\/data\/nope/ },
    { what: 'a missing key', objects: [{ objectName: 'x', secretPath: 'secret/data/api', secretKey: 'nope' }], code: 'NotFound', message: /KEY_NOT_FOUND.*"x"/ },
    { what: 'an objectName with ..', objects: [{ objectName: '../escape', secretPath: 'secret/data/api', secretKey: 'key' }], code: 'InvalidArgument', message: /INVALID_CONFIG.*\.\.\/escape/ },
    { what: 'objects that are not YAML', objects: '- objectName: [unclosed', code: 'InvalidArgument', message: /INVALID_CONFIG.*objects/ },
    { what: 'no roleName', objects: [{ objectName: 'x', secretPath: 'secret/data/api', secretKey: 'key' }], params: { roleName: '' }, code: 'InvalidArgument', message: /roleName/ },
    { what: 'bad secretArgs for PKI', objects: [{ objectName: 'x', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'evil.example.com' }, secretKey: 'certificate' }], code: 'FailedPrecondition', message: /VAULT_REQUEST_REJECTED.*"x".*pki\/issue\/web/ },
    { what: 'an undecodable value', objects: [{ objectName: 'x', secretPath: 'secret/data/api', secretKey: 'key', encoding: 'base64' }], code: 'FailedPrecondition', message: /DECODE_FAILED.*"x"/ },
  ];
  for (const c of refused) {
    it(`refuses ${c.what} with a clear error and writes nothing`, async () => {
      const m = await w.mount({ objects: c.objects, ...(c.params === undefined ? {} : { params: c.params }) });
      assert.equal(m.grpcCode, c.code, `${m.error}`);
      assert.match(m.grpcMessage, c.message);
      assert.equal(m.files.size, 0);
    });
  }

  it('keeps serving after every refusal', async () => {
    const m = await w.mount({ objects: [{ objectName: 'k', secretPath: 'secret/data/api', secretKey: 'key' }] });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal(m.files.get('k')?.text, 'api-key-1');
  });
});
