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
