/**
 * How a SecretProviderClass and its nodePublishSecretRef Secret choose the login: the method, its parameters and
 * its credentials, each refused with the code and parameter a pod author can act on, and no credential in a message.
 */
import assert from 'node:assert/strict';
import { parseAuthMethod } from '../../src/config/mount-request.js';
import { thrown } from '../helpers/rejection.js';
import { createTlsMaterial } from '../vault-server/index.js';

const attrs = (o: Record<string, string>): ReadonlyMap<string, string> => new Map(Object.entries(o));
const secrets = (o: Record<string, unknown> = {}): ReadonlyMap<string, unknown> => new Map(Object.entries(o));

describe('config/mount-request: the login method', () => {
  it('is kubernetes when unset or empty, and takes jwt as it is', () => {
    assert.deepEqual(parseAuthMethod(attrs({}), secrets()), { method: 'kubernetes' });
    assert.deepEqual(parseAuthMethod(attrs({ vaultAuthMethod: '' }), secrets()), { method: 'kubernetes' });
    assert.deepEqual(parseAuthMethod(attrs({ vaultAuthMethod: 'jwt' }), secrets()), { method: 'jwt' });
  });

  it('refuses an unknown method as INVALID_CONFIG naming vaultAuthMethod', () => {
    const err = thrown(() => parseAuthMethod(attrs({ vaultAuthMethod: 'ldap' }), secrets()));
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.equal(err.context.parameter, 'vaultAuthMethod');
  });

  it('approle: the role ID from the parameters, the secret ID from the Secret, kept Sensitive', () => {
    const auth = parseAuthMethod(attrs({ vaultAuthMethod: 'approle', vaultRoleID: 'role-1' }), secrets({ secretId: 'sid-secret-value' }));
    assert.equal(auth.method, 'approle');
    assert.ok(!JSON.stringify(auth).includes('sid-secret-value') && !JSON.stringify(auth).includes('role-1'));
    assert.equal(thrown(() => parseAuthMethod(attrs({ vaultAuthMethod: 'approle' }), secrets({ secretId: 's' }))).context.parameter, 'vaultRoleID');
    const noSecret = thrown(() => parseAuthMethod(attrs({ vaultAuthMethod: 'approle', vaultRoleID: 'r' }), secrets({ secretId: '  ' })));
    assert.equal(noSecret.code, 'CREDENTIALS_MISSING');
    assert.equal(noSecret.context.parameter, 'secretId');
  });

  it('userpass: one path segment for the name (no "/", dot segments, spaces or control characters)', () => {
    const ok = parseAuthMethod(attrs({ vaultAuthMethod: 'userpass', vaultUsername: 'alice' }), secrets({ password: 'pw' }));
    assert.equal(ok.method === 'userpass' && ok.username, 'alice');
    for (const bad of ['a/b', '..', '.', 'a b', 'a\u0001', 'x'.repeat(257)]) {
      const err = thrown(() => parseAuthMethod(attrs({ vaultAuthMethod: 'userpass', vaultUsername: bad }), secrets({ password: 'pw' })));
      assert.equal(err.context.parameter, 'vaultUsername', JSON.stringify(bad));
    }
    assert.equal(thrown(() => parseAuthMethod(attrs({ vaultAuthMethod: 'userpass', vaultUsername: 'alice' }), secrets())).code, 'CREDENTIALS_MISSING');
  });

  it('cert: a PEM certificate and its own unencrypted key, or CREDENTIALS_INVALID naming which, quoting neither', async () => {
    const a = await createTlsMaterial({ clientCommonName: 'a' });
    const b = await createTlsMaterial({ clientCommonName: 'b' });
    assert.equal(parseAuthMethod(attrs({ vaultAuthMethod: 'cert' }), secrets({ 'tls.crt': a.clientCertPem, 'tls.key': a.clientKeyPem })).method, 'cert');
    const notPem = thrown(() => parseAuthMethod(attrs({ vaultAuthMethod: 'cert' }), secrets({ 'tls.crt': a.clientKeyPem, 'tls.key': a.clientKeyPem })));
    assert.deepEqual([notPem.code, notPem.context.parameter], ['CREDENTIALS_INVALID', 'tls.crt']);
    const otherKey = thrown(() => parseAuthMethod(attrs({ vaultAuthMethod: 'cert' }), secrets({ 'tls.crt': a.clientCertPem, 'tls.key': b.clientKeyPem })));
    assert.deepEqual([otherKey.code, otherKey.context.parameter], ['CREDENTIALS_INVALID', 'tls.key']);
    assert.ok(!otherKey.publicMessage.includes('PRIVATE KEY'));
  });
});
