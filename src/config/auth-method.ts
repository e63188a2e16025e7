/**
 * `vaultAuthMethod` and its credentials (from the nodePublishSecretRef, forwarded as `secrets`) → AuthConfig, pure.
 * No message quotes a value: the role ID and every secret are named by their key only.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { ProviderError } from '../errors.js';
import { Sensitive } from './sensitive.js';
import { AuthMethods, type AuthConfig, type AuthMethod } from './types.js';

/** The nodePublishSecretRef keys each method reads: docs/secretproviderclass.md#other-ways-to-log-in-approle-userpass-tls-certificates */
export const CREDENTIAL_KEYS = {
  approle: 'secretId',
  userpass: 'password',
  certificate: 'tls.crt',
  key: 'tls.key',
} as const;

export const AUTH_METHOD_PARAMETERS = ['vaultAuthMethod', 'vaultRoleID', 'vaultUsername'] as const;

function invalid(parameter: string, message: string): ProviderError {
  return new ProviderError('INVALID_CONFIG', message, { parameter });
}

function missing(method: AuthMethod, key: string): ProviderError {
  return new ProviderError(
    'CREDENTIALS_MISSING',
    `vaultAuthMethod "${method}" reads "${key}" from the volume's nodePublishSecretRef Secret, and the mount request carries none: set nodePublishSecretRef on the volume to a Secret with that key`,
    { parameter: key },
  );
}

/** A non-empty string under `key` of the nodePublishSecretRef; anything else is missing. */
function credential(secrets: ReadonlyMap<string, unknown>, method: AuthMethod, key: string): Sensitive {
  const value = secrets.get(key);
  if (typeof value !== 'string' || value.trim() === '') throw missing(method, key);
  return new Sensitive(value);
}

/** A PEM certificate and its private key that Node's TLS will take; errors name the keys, never the contents. */
function certificatePair(secrets: ReadonlyMap<string, unknown>): { certificate: Sensitive; key: Sensitive } {
  const certificate = credential(secrets, 'cert', CREDENTIAL_KEYS.certificate);
  const key = credential(secrets, 'cert', CREDENTIAL_KEYS.key);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificate.reveal());
  } catch {
    throw new ProviderError('CREDENTIALS_INVALID', `"${CREDENTIAL_KEYS.certificate}" of the nodePublishSecretRef Secret is not a PEM certificate`, {
      parameter: CREDENTIAL_KEYS.certificate,
    });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key.reveal());
  } catch {
    throw new ProviderError('CREDENTIALS_INVALID', `"${CREDENTIAL_KEYS.key}" of the nodePublishSecretRef Secret is not an unencrypted PEM private key`, {
      parameter: CREDENTIAL_KEYS.key,
    });
  }
  if (!cert.checkPrivateKey(privateKey)) {
    throw new ProviderError('CREDENTIALS_INVALID', `"${CREDENTIAL_KEYS.key}" of the nodePublishSecretRef Secret is not the key of "${CREDENTIAL_KEYS.certificate}"`, {
      parameter: CREDENTIAL_KEYS.key,
    });
  }
  return { certificate, key };
}

/** Vault's userpass names: lower-cased by Vault; no '/' (it is a path segment), no whitespace or control characters. */
function validUsername(name: string): boolean {
  // `.` and `..` are dot segments: the request URL would resolve them and send the password to another path.
  if (name.length > 256 || name.includes('/') || /\s/.test(name) || name === '.' || name === '..') return false;
  return [...name].every((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f);
}

export function parseAuthMethod(attrs: ReadonlyMap<string, string>, secrets: ReadonlyMap<string, unknown>): AuthConfig {
  const raw = attrs.get('vaultAuthMethod');
  const method = raw === undefined || raw === '' ? 'kubernetes' : raw;
  if (!(AuthMethods as readonly string[]).includes(method)) {
    throw invalid('vaultAuthMethod', `vaultAuthMethod must be one of ${AuthMethods.join(', ')}`);
  }
  switch (method as AuthMethod) {
    case 'kubernetes':
    case 'jwt':
      return { method: method as 'kubernetes' | 'jwt' };
    case 'approle': {
      const roleId = attrs.get('vaultRoleID');
      if (roleId === undefined || roleId === '') throw invalid('vaultRoleID', 'vaultAuthMethod "approle" needs vaultRoleID (the AppRole\'s role ID)');
      return { method: 'approle', roleId: new Sensitive(roleId), secretId: credential(secrets, 'approle', CREDENTIAL_KEYS.approle) };
    }
    case 'userpass': {
      const username = attrs.get('vaultUsername');
      if (username === undefined || username === '') throw invalid('vaultUsername', 'vaultAuthMethod "userpass" needs vaultUsername');
      if (!validUsername(username)) throw invalid('vaultUsername', 'vaultUsername must be one path segment: no "/", spaces or control characters');
      return { method: 'userpass', username, password: credential(secrets, 'userpass', CREDENTIAL_KEYS.userpass) };
    }
    case 'cert':
      return { method: 'cert', ...certificatePair(secrets) };
  }
}
