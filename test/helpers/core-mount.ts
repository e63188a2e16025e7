/**
 * The core mount every suite sends (the fast e2e suite, the real suite, the image's): KV v2 and v1 keys, a dotfile
 * with its own mode and nested paths, over the secrets `secret/db-pass` (password, port, nested), `secret/dotfiles`
 * (value) and the KV v1 `kv/legacy` (token).
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';

export const CORE_OBJECTS = `
- objectName: "db-password"
  secretPath: "secret/data/db-pass"
  secretKey: "password"
- objectName: ".secret-file"
  secretPath: "/v1/secret/data/dotfiles"
  secretKey: "value"
  filePermission: 0600
- objectName: "nested/dir/port"
  secretPath: "v1/secret/data/db-pass"
  secretKey: "port"
- objectName: "nested/obj.json"
  secretPath: "/secret/data/db-pass"
  secretKey: "nested"
- objectName: "legacy"
  secretPath: "kv/legacy"
  secretKey: "token"
`;

/** With the whole JSON answer of `secret/dotfiles` as one more file. */
export const CORE_OBJECTS_WITH_WHOLE_JSON = `${CORE_OBJECTS}- objectName: "whole.json"
  secretPath: "secret/data/dotfiles"
`;

/** One PKI issue for web.prod.svc, its certificate and its key (0600) as two objects of one PUT with secretArgs. */
export const PKI_OBJECTS = `
- objectName: "tls/tls.crt"
  secretPath: "pki/issue/web"
  secretKey: "certificate"
  method: "PUT"
  secretArgs:
    common_name: "web.prod.svc"
- objectName: "tls/tls.key"
  secretPath: "pki/issue/web"
  secretKey: "private_key"
  filePermission: 0600
  method: "PUT"
  secretArgs:
    common_name: "web.prod.svc"
`;

/**
 * What a restart must keep (the kept-state suites): a database credential shared by two objects and a 2-hour
 * certificate with its key, from one request each.
 */
export const LEASED_OBJECTS: ReadonlyArray<Readonly<Record<string, unknown>>> = [
  { objectName: 'db/username', secretPath: 'database/creds/web', secretKey: 'username' },
  { objectName: 'db/password', secretPath: 'database/creds/web', secretKey: 'password' },
  { objectName: 'tls/tls.crt', secretPath: 'pki/issue/web', secretKey: 'certificate', method: 'PUT', secretArgs: { common_name: 'web.prod.svc', ttl: '2h' } },
  { objectName: 'tls/tls.key', secretPath: 'pki/issue/web', secretKey: 'private_key', method: 'PUT', secretArgs: { common_name: 'web.prod.svc', ttl: '2h' } },
];

/** The core mount's files, with the test Vault's (or real Vault's) seeded values and their modes. */
export function assertCoreFiles(files: ReadonlyMap<string, { readonly text: string; readonly mode: number }>): void {
  assert.equal(files.get('db-password')?.text, 'hunter2-kv2');
  assert.equal(files.get('db-password')?.mode, 0o644);
  assert.equal(files.get('.secret-file')?.text, 'dot-value');
  assert.equal(files.get('.secret-file')?.mode, 0o600);
  assert.equal(files.get('nested/dir/port')?.text, '5432');
  assert.equal(files.get('nested/obj.json')?.text, '{"a":"x","b":[1,2]}');
  assert.equal(files.get('legacy')?.text, 'kv1-value');
}

/** `tls/tls.crt` and `tls/tls.key` from one PKI issue for web.prod.svc: the key is the certificate's, and 0600. */
export function assertCertificateAndKey(files: ReadonlyMap<string, { readonly text: string; readonly mode: number }>): void {
  const cert = new X509Certificate(files.get('tls/tls.crt')!.text);
  assert.match(cert.subject, /CN=web\.prod\.svc/);
  const pub = createPublicKey(createPrivateKey(files.get('tls/tls.key')!.text)).export({ type: 'spki', format: 'pem' });
  assert.equal(cert.publicKey.export({ type: 'spki', format: 'pem' }), pub);
  assert.equal(files.get('tls/tls.key')?.mode, 0o600);
}
