/** Provider defaults overlaid by the SecretProviderClass; pure. The result's `key` decides who shares a client. */
import { ProviderError } from '../errors.js';
import { usesPodToken, type ConnectionSettings, type MountConfig, type ProviderDefaults, type TlsParameters } from './types.js';
import { trimSlashes, trimTrailingSlashes } from '../shared/slashes.js';

function invalid(parameter: string, message: string): ProviderError {
  return new ProviderError('INVALID_CONFIG', message, { parameter });
}

/** Canonical spelling, so equal addresses give equal keys; user info is refused (it would reach logs and keys). */
export function normaliseVaultAddress(raw: string, parameter: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(parameter, `${parameter} must be an http:// or https:// URL such as "https://vault.vault.svc:8200"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(parameter, `${parameter} must use http:// or https://, not ${url.protocol}//`);
  }
  if (url.hostname === '') throw invalid(parameter, `${parameter} has no host`);
  if (url.username !== '' || url.password !== '') {
    throw invalid(parameter, `${parameter} must not contain a user name or password`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw invalid(parameter, `${parameter} must not have a query or fragment`);
  }
  const path = trimTrailingSlashes(url.pathname);
  return `${url.protocol}//${url.host}${path}`;
}

/** More addresses than any HA cluster has nodes: a longer list is a mistake, and each one costs a failed attempt. */
export const MAX_VAULT_ADDRESSES = 8;

/** vault-csi-provider#164 (an HA cluster without a load balancer): the first is preferred, the others tried in turn. */
export function normaliseVaultAddresses(raw: string, parameter: string): readonly string[] {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.every((p) => p === '')) throw invalid(parameter, `${parameter} is empty`);
  if (parts.some((p) => p === '')) throw invalid(parameter, `${parameter} has an empty entry in its comma-separated list`);
  const out = [...new Set(parts.map((p) => normaliseVaultAddress(p, parameter)))];
  if (out.length > MAX_VAULT_ADDRESSES) throw invalid(parameter, `${parameter} lists ${out.length} addresses; at most ${MAX_VAULT_ADDRESSES} are allowed`);
  return out;
}

// A segment of a Vault auth mount path: the characters Vault mount paths use.
const MOUNT_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** `path` (no leading or trailing '/') is a Vault auth mount path: segments of MOUNT_SEGMENT, none '.' or '..'. */
export function isAuthMountPath(path: string): boolean {
  return path !== '' && path.split('/').every((s) => MOUNT_SEGMENT.test(s) && s !== '.' && s !== '..');
}

export function normaliseAuthMount(raw: string, parameter: string): string {
  const trimmed = trimSlashes(raw);
  if (!isAuthMountPath(trimmed)) {
    throw invalid(parameter, `${parameter} must be a Vault auth mount path such as "kubernetes" or "team-a/jwt"`);
  }
  return trimmed;
}

interface ClientPair {
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** The client certificate and key travel as a pair, as in the reference: one named does not borrow the other. */
function clientPair(mountTls: TlsParameters, defaultTls: TlsParameters): ClientPair {
  if (mountTls.clientCertPath !== undefined || mountTls.clientKeyPath !== undefined) {
    if (mountTls.clientCertPath === undefined || mountTls.clientKeyPath === undefined) {
      const missing = mountTls.clientCertPath === undefined ? 'vaultTLSClientCertPath' : 'vaultTLSClientKeyPath';
      throw invalid(missing, 'vaultTLSClientCertPath and vaultTLSClientKeyPath must be set together');
    }
    return { cert: mountTls.clientCertPath, key: mountTls.clientKeyPath };
  }
  if ((defaultTls.clientCertPath === undefined) !== (defaultTls.clientKeyPath === undefined)) {
    const missing = defaultTls.clientCertPath === undefined ? 'vault-tls-client-cert' : 'vault-tls-client-key';
    throw invalid(missing, '--vault-tls-client-cert and --vault-tls-client-key must be set together');
  }
  return { cert: defaultTls.clientCertPath, key: defaultTls.clientKeyPath };
}

/** So do the trust roots: a CA the SecretProviderClass names replaces the provider's, as in the reference. */
function caPair(mountTls: TlsParameters, defaultTls: TlsParameters): { file: string | undefined; dir: string | undefined } {
  const source = mountTls.caCertPath !== undefined || mountTls.caDirectory !== undefined ? mountTls : defaultTls;
  return { file: source.caCertPath, dir: source.caDirectory };
}

/** A refused header value leaves undici 7's pool slot waiting for good, so a bad value must never get that far. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function checkNamespace(namespace: string, parameter: string): string {
  if (!HEADER_VALUE.test(namespace)) throw invalid(parameter, `${parameter} holds characters an HTTP header cannot carry`);
  return namespace;
}

/** Overlay `defaults` with the SecretProviderClass's settings. Throws INVALID_CONFIG naming the parameter. */
export function resolveConnection(mount: MountConfig, defaults: ProviderDefaults): ConnectionSettings {
  const addresses =
    mount.vaultAddress !== undefined
      ? normaliseVaultAddresses(mount.vaultAddress, 'vaultAddress')
      : normaliseVaultAddresses(defaults.vaultAddress, 'vault-addr');
  const namespace =
    mount.vaultNamespace !== undefined
      ? checkNamespace(mount.vaultNamespace, 'vaultNamespace')
      : defaults.vaultNamespace === undefined
        ? undefined
        : checkNamespace(defaults.vaultNamespace, 'vault-namespace');
  // --vault-mount is the default of the pod-token login; the other methods default to Vault's own path for them.
  const authMount =
    mount.authMountPath !== undefined
      ? normaliseAuthMount(mount.authMountPath, 'vaultAuthMountPath')
      : usesPodToken(mount.auth)
        ? normaliseAuthMount(defaults.vaultMount, 'vault-mount')
        : mount.auth.method;
  const ca = caPair(mount.tls, defaults.tls);
  const client = clientPair(mount.tls, defaults.tls);
  const tls = {
    caCertPath: ca.file,
    caDirectory: ca.dir,
    serverName: mount.tls.serverName ?? defaults.tls.serverName,
    clientCertPath: client.cert,
    clientKeyPath: client.key,
    skipVerify: mount.tls.skipVerify ?? defaults.tls.skipVerify ?? false,
  };
  return withKey({ address: addresses[0]!, addresses, namespace, authMount, tls });
}

/**
 * JSON keeps undefined distinct from ''. A list of addresses is one identity in its order (one cluster shares its
 * token store); the provider cannot tell which addresses form one cluster, so two lists are two keys.
 */
export function withKey(settings: Omit<ConnectionSettings, 'key'>): ConnectionSettings {
  const { address, addresses, namespace, authMount, tls } = settings;
  const key = JSON.stringify([
    addresses.join(','),
    namespace ?? null,
    authMount,
    tls.caCertPath ?? null,
    tls.caDirectory ?? null,
    tls.serverName ?? null,
    tls.clientCertPath ?? null,
    tls.clientKeyPath ?? null,
    tls.skipVerify,
  ]);
  return { address, addresses, namespace, authMount, tls, key };
}
