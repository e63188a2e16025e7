import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { credentialLogin, podTokenLogin } from '../../src/auth/login-request.js';
import { parseAuthMethod } from '../../src/config/mount-request.js';
import { Sensitive } from '../../src/config/sensitive.js';
import { ProviderError } from '../../src/errors.js';
import { createTlsMaterial } from '../vault-server/index.js';

describe('auth/login-request: one pure builder per method', () => {
  const attrs = (o: Record<string, string>) => new Map(Object.entries(o));

  it('builds each login as Vault\'s API takes it', async () => {
    const tls = await createTlsMaterial();
    const cases = [
      { got: podTokenLogin('kubernetes', 'kubernetes', 'web', 'J'), path: 'auth/kubernetes/login', body: { role: 'web', jwt: 'J' } },
      {
        got: credentialLogin({ method: 'approle', roleId: new Sensitive('R'), secretId: new Sensitive('S') }, 'team/approle', ''),
        path: 'auth/team/approle/login',
        body: { role_id: 'R', secret_id: 'S' },
      },
      { got: credentialLogin({ method: 'userpass', username: 'a@b', password: new Sensitive('P') }, 'userpass', ''), path: 'auth/userpass/login/a%40b', body: { password: 'P' } },
      {
        got: credentialLogin({ method: 'cert', certificate: new Sensitive(tls.clientCertPem), key: new Sensitive(tls.clientKeyPem) }, 'cert', 'web'),
        path: 'auth/cert/login',
        body: { name: 'web' },
      },
    ];
    for (const c of cases) {
      assert.equal(c.got.path, c.path);
      assert.deepEqual(c.got.body, c.body);
    }
    // Each is sent by node-vault's helper for its method; cert by `write`, since node-vault's certLogin cannot take a mount.
    assert.deepEqual(
      cases.map((c) => c.got.helper),
      [
        { name: 'kubernetesLogin', mountPoint: 'kubernetes' },
        { name: 'approleLogin', mountPoint: 'team/approle' },
        { name: 'userpassLogin', mountPoint: 'userpass', username: 'a%40b' },
        { name: 'write' },
      ],
    );
    assert.deepEqual(podTokenLogin('jwt', 'jwt', 'web', 'J').helper, { name: 'jwtLogin', mountPoint: 'jwt' });
    // A user name is one path segment, encoded past encodeURIComponent (node-vault's path template would HTML-escape a `'`).
    assert.equal(credentialLogin({ method: 'userpass', username: "o'neil (x)", password: new Sensitive('P') }, 'userpass', '').path, 'auth/userpass/login/o%27neil%20%28x%29');
    assert.deepEqual(cases[3]!.got.clientCertificate, { cert: tls.clientCertPem, key: tls.clientKeyPem });
    assert.equal(cases[1]!.got.describe, 'approle');
  });

  it('parses vaultAuthMethod and never lets a credential print', () => {
    const parsed = parseAuthMethod(attrs({ vaultAuthMethod: 'approle', vaultRoleID: 'role-id-x' }), new Map([['secretId', 'sid-value-y']]));
    const printed = `${JSON.stringify(parsed)} ${inspect(parsed)} ${String((parsed as { secretId: Sensitive }).secretId)}`;
    assert.ok(!printed.includes('role-id-x') && !printed.includes('sid-value-y'), printed);
    assert.deepEqual(parseAuthMethod(attrs({}), new Map()), { method: 'kubernetes' });
    assert.deepEqual(parseAuthMethod(attrs({ vaultAuthMethod: 'jwt' }), new Map()), { method: 'jwt' });
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (err: unknown) {
        return err instanceof ProviderError ? err.code : 'other';
      }
      return 'none';
    };
    assert.equal(codeOf(() => parseAuthMethod(attrs({ vaultAuthMethod: 'userpass', vaultUsername: 'a' }), new Map([['password', 7]]))), 'CREDENTIALS_MISSING');
    assert.equal(codeOf(() => parseAuthMethod(attrs({ vaultAuthMethod: 'userpass', vaultUsername: 'a' }), new Map([['password', '  ']]))), 'CREDENTIALS_MISSING');
    assert.equal(codeOf(() => parseAuthMethod(attrs({ vaultAuthMethod: 'cert' }), new Map([['tls.crt', 'x'], ['tls.key', 'y']]))), 'CREDENTIALS_INVALID');
    assert.equal(codeOf(() => parseAuthMethod(attrs({ vaultAuthMethod: 'Kubernetes' }), new Map())), 'INVALID_CONFIG');
  });
});
