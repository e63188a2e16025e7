/** Builds validated-looking ObjectConfig values for unit tests of the mount stage. */
import type { ObjectConfig } from '../../src/config/types.js';

export function objectConfig(overrides: Partial<ObjectConfig> & { objectName: string }): ObjectConfig {
  const secretPath = overrides.secretPath ?? 'secret/data/app';
  return {
    secretPath,
    requestPath: `/v1/${secretPath.replace(/^\/?(v1\/)?/, '').split('?')[0]}`,
    query: secretPath.includes('?') ? secretPath.slice(secretPath.indexOf('?') + 1) : '',
    secretKey: '',
    method: 'GET',
    secretArgs: undefined,
    encoding: 'utf-8',
    filePermission: undefined,
    ...overrides,
  };
}

/**
 * The PKI object of test/fixtures/mount-request.json as the parser must return it: a PUT whose `?ttl=24h` stays in
 * `query` and out of `requestPath`, with its arguments in secretArgs.
 */
export const TLS_CRT_OBJECT: ObjectConfig = {
  objectName: 'tls/tls.crt',
  secretPath: 'pki/issue/web?ttl=24h',
  requestPath: '/v1/pki/issue/web',
  query: 'ttl=24h',
  secretKey: 'certificate',
  method: 'PUT',
  secretArgs: { common_name: 'web.prod.svc' },
  encoding: 'utf-8',
  filePermission: undefined,
};
