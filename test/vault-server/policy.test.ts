import assert from 'node:assert/strict';
import { Acl, parsePolicy } from './policy.js';
import { startTestVault, multiError, type TestVault } from './index.js';
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

    it('the default policy allows token self-management only', async () => {
      const token = vault.createToken({ policies: [] });
      assert.equal((await call(vault, 'auth/token/lookup-self', { token })).status, 200);
      assert.equal((await call(vault, 'kv/open', { token })).status, 403);
      assert.equal((await call(vault, 'sys/mounts', { token })).status, 403);
    });
  });
});
