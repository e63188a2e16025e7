import assert from 'node:assert/strict';
import { Acl, parsePolicy, renderPolicyTemplates } from './policy.js';
import { startTestVault, multiError, ServiceAccountJwtIssuer, type TestVault } from './index.js';
import { call, pick } from './test-helpers.js';

describe('vault-server: policies', () => {
  describe('parsing and matching', () => {
    const acl = (...hcl: string[]) => new Acl(hcl.map((h, i) => parsePolicy(`p${i}`, h)), false);

    it('parses HCL with comments and extra keys, and JSON', () => {
      const p = parsePolicy('x', `
        # comment
        path "secret/data/app/*" {
          capabilities = ["read", "list"] // trailing
          allowed_parameters = { "ttl" = [] }
        }
        /* block */ path "pki/issue/web" { capabilities = ["update"] }`);
      assert.deepEqual(p.rules.map((r) => [r.pattern, [...r.capabilities]]), [
        ['secret/data/app/*', ['read', 'list']], ['pki/issue/web', ['update']],
      ]);
      const j = parsePolicy('j', JSON.stringify({ path: { 'kv/*': { capabilities: ['read'] } } }));
      assert.deepEqual([...j.rules[0]!.capabilities], ['read']);
      assert.throws(() => parsePolicy('bad', 'path "x" { capabilities = ["fly"] }'), /invalid capability/);
    });

    it('matches globs and + segments with Vault\'s priority rules', () => {
      const a = acl(
        'path "secret/*" { capabilities = ["read"] }',
        'path "secret/data/+/config" { capabilities = ["update"] }',
        'path "secret/data/team/*" { capabilities = ["deny"] }',
        'path "secret/data/team/open" { capabilities = ["read", "list"] }',
      );
      assert.ok(a.allows('secret/anything', 'read'));
      assert.ok(a.allows('secret/data/x/config', 'update'));
      assert.ok(!a.allows('secret/data/x/config', 'read'), 'the more specific + rule wins over secret/*');
      assert.ok(!a.allows('secret/data/team/x', 'read'), 'deny wins on its pattern');
      assert.ok(a.allows('secret/data/team/open', 'read'), 'exact match beats globs');
      assert.ok(!a.allows('other/x', 'read'));
    });

    it('renders templated paths for one identity and leaves out those it cannot resolve, as Vault does', () => {
      const p = parsePolicy('t', `
        path "database/creds/{{identity.entity.aliases.auth_jwt_1.name}}" { capabilities = ["read"] }
        path "secret/data/{{ identity.entity.aliases.auth_jwt_1.metadata.team }}/*" { capabilities = ["read"] }
        path "secret/data/entity/{{identity.entity.id}}" { capabilities = ["read"] }
        path "secret/data/shared" { capabilities = ["read"] }`);
      const alias = { mountAccessor: 'auth_jwt_1', name: 'pod-a', metadata: { team: 'payments' } };
      const own = new Acl([renderPolicyTemplates(p, { entityId: 'e-1', alias })], false);
      assert.ok(own.allows('database/creds/pod-a', 'read'));
      assert.ok(!own.allows('database/creds/pod-b', 'read'));
      assert.ok(own.allows('secret/data/payments/x', 'read'));
      assert.ok(own.allows('secret/data/entity/e-1', 'read'));
      // Another mount's alias, or a missing metadata key: the templated paths are skipped, the others stay.
      const other = new Acl([renderPolicyTemplates(p, { entityId: '', alias: { ...alias, mountAccessor: 'auth_jwt_2', metadata: {} } })], false);
      assert.deepEqual(renderPolicyTemplates(p, { entityId: '' }).rules.map((r) => r.pattern), ['secret/data/shared']);
      assert.ok(!other.allows('database/creds/pod-a', 'read') && !other.allows('database/creds/', 'read'));
      assert.ok(other.allows('secret/data/shared', 'read'));
    });

    it('merges capabilities of the same path across policies', () => {
      const a = acl('path "kv/x" { capabilities = ["read"] }', 'path "kv/x" { capabilities = ["update"] }');
      assert.ok(a.allows('kv/x', 'read') && a.allows('kv/x', 'update'));
    });
  });

  describe('over HTTP', () => {
    let vault: TestVault;
    before(async () => {
      vault = await startTestVault();
      vault.enableKv('kv', 1);
      vault.putKv('kv', 'open', { a: 1 });
      vault.putKv('kv', 'closed', { a: 1 });
      vault.putPolicy('reader', 'path "kv/open" { capabilities = ["read", "update"] }');
    });
    after(() => vault.close());

    it('denies with Vault\'s multierror body', async () => {
      const token = vault.createToken({ policies: ['reader'] });
      assert.equal((await call(vault, 'kv/open', { token })).status, 200);
      const denied = await call(vault, 'kv/closed', { token });
      assert.equal(denied.status, 403);
      assert.deepEqual(denied.json, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
      assert.equal(multiError(['permission denied']), '1 error occurred:\n\t* permission denied\n\n');
    });

    it('classes writes as create or update by existence, like Vault', async () => {
      const token = vault.createToken({ policies: ['reader'] });
      assert.equal((await call(vault, 'kv/open', { token, body: { a: 2 } })).status, 204);
      vault.putPolicy('creator', 'path "kv/new*" { capabilities = ["update"] }');
      const t2 = vault.createToken({ policies: ['creator'] });
      assert.equal((await call(vault, 'kv/new1', { token: t2, body: { a: 2 } })).status, 403);
    });

    it('denies requests without a token and reports missing capabilities', async () => {
      // No token is refused before any policy: real Vault sends the bare message, unlike a policy's denial.
      assert.deepEqual((await call(vault, 'kv/open')).json, { errors: ['permission denied'] });
      const token = vault.createToken({ policies: ['reader'] });
      const caps = await call(vault, 'sys/capabilities-self', { token, body: { paths: ['kv/open', 'kv/closed'] } });
      assert.deepEqual(pick(caps.json, 'data', 'kv/open'), ['read', 'update']);
      assert.deepEqual(pick(caps.json, 'data', 'kv/closed'), ['deny']);
      // Like Vault, the answer is repeated at the top level, and `capabilities` comes only for a single path.
      assert.deepEqual(pick(caps.json, 'kv/closed'), ['deny']);
      assert.equal(pick(caps.json, 'data', 'capabilities'), undefined);
      const one = await call(vault, 'sys/capabilities-self', { token, body: { paths: ['kv/open'] } });
      assert.deepEqual(pick(one.json, 'data', 'capabilities'), ['read', 'update']);
    });

    it('manages policies through sys/policies/acl', async () => {
      const put = await call(vault, 'sys/policies/acl/http', { token: 'root', method: 'PUT', body: { policy: 'path "kv/closed" { capabilities = ["read"] }' } });
      assert.equal(put.status, 204);
      const token = vault.createToken({ policies: ['http'] });
      assert.equal((await call(vault, 'kv/closed', { token })).status, 200);
      const read = await call(vault, 'sys/policies/acl/http', { token: 'root' });
      assert.equal(pick(read.json, 'data', 'name'), 'http');
      const bad = await call(vault, 'sys/policies/acl/bad', { token: 'root', method: 'PUT', body: { policy: 'path {' } });
      assert.equal(bad.status, 400);
    });

    it('templates a policy by the login\'s entity alias: each pod of a JWT role reads its own path only', async () => {
      const issuer = new ServiceAccountJwtIssuer();
      vault.enableJwtAuth('jwt', { publicKeysPem: [issuer.publicKeyPem] });
      vault.addJwtRole('jwt', 'pods', { boundAudiences: ['vault'], userClaim: '/kubernetes.io/pod/name', policies: ['per-pod'] });
      vault.putKv('kv', 'pods/pod-a', { a: 1 });
      vault.putKv('kv', 'pods/pod-b', { b: 1 });
      vault.putPolicy('per-pod', `path "kv/pods/{{identity.entity.aliases.${vault.authAccessor('jwt')}.name}}" { capabilities = ["read"] }`);
      const login = async (pod: string): Promise<string> => {
        const jwt = issuer.signServiceAccountJwt({ namespace: 'shared', serviceAccountName: 'app', podName: pod, podUid: `uid-${pod}` });
        const res = await call(vault, 'auth/jwt/login', { body: { role: 'pods', jwt } });
        assert.equal(res.status, 200, res.text);
        return String(pick(res.json, 'auth', 'client_token'));
      };
      const a = await login('pod-a');
      const b = await login('pod-b');
      assert.equal((await call(vault, 'kv/pods/pod-a', { token: a })).status, 200);
      assert.equal((await call(vault, 'kv/pods/pod-a', { token: b })).status, 403);
      assert.equal((await call(vault, 'kv/pods/pod-b', { token: b })).status, 200);
      assert.throws(() => vault.authAccessor('nowhere'), /no auth mount/);
    });

    it('the default policy allows token self-management only', async () => {
      const token = vault.createToken({ policies: [] });
      assert.equal((await call(vault, 'auth/token/lookup-self', { token })).status, 200);
      assert.equal((await call(vault, 'kv/open', { token })).status, 403);
      assert.equal((await call(vault, 'sys/mounts', { token })).status, 403);
    });
  });
});
