/**
 * The trust-boundary flags (docs/configuration.md#flags, docs/security.md). The reference sends a pod's token
 * wherever a SecretProviderClass points it; here an operator opts in, address by address. Pure.
 */
import { isAbsolute, resolve } from 'node:path';
import { normaliseAuthMount, normaliseVaultAddress } from '../config/connection.js';
import type { TrustSettings } from '../config/connection.js';

export interface RawTrustFlags {
  /** --allowed-vault-addresses as given; undefined when absent. */
  readonly addresses: string | undefined;
  readonly directories: string | undefined;
  readonly allowSkipTlsVerify: boolean;
  /** --allowed-auth-mounts as given; undefined when absent. */
  readonly authMounts?: string | undefined;
  /** --trust-policy as given (`strict`, the default, or `reference`); undefined when absent. */
  readonly policy?: string | undefined;
}

export const TrustPolicies = ['strict', 'reference'] as const;

/** What the reference accepts, in one switch for a migration; the provider's own credentials stay protected. */
const REFERENCE_TRUST: TrustSettings = { vaultAddresses: 'any', tlsDirectories: ['/'], allowSkipTlsVerify: true, authMounts: 'any' };

function items(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function parseTrustFlags(raw: RawTrustFlags): TrustSettings {
  const policy = raw.policy === undefined || raw.policy.trim() === '' ? 'strict' : raw.policy.trim();
  if (policy === 'reference') {
    // One switch or the fine-grained flags, not both: a narrower list next to it would read as a restriction it is not.
    const given = [
      raw.addresses?.trim() ? '-allowed-vault-addresses' : '',
      raw.directories?.trim() ? '-allowed-tls-directories' : '',
      raw.allowSkipTlsVerify ? '-allow-skip-tls-verify' : '',
      raw.authMounts?.trim() ? '-allowed-auth-mounts' : '',
    ].filter((s) => s !== '');
    if (given.length > 0) throw new Error(`-trust-policy=reference already allows everything ${given.join(', ')} would; give one or the other`);
    return REFERENCE_TRUST;
  }
  if (policy !== 'strict') throw new Error(`-trust-policy: ${JSON.stringify(policy)} is not one of ${TrustPolicies.join(', ')}`);
  let vaultAddresses: TrustSettings['vaultAddresses'];
  if (raw.addresses === undefined || raw.addresses.trim() === '') {
    // Only the default address, which buildTrustPolicy always adds.
    vaultAddresses = [];
  } else {
    const list = items(raw.addresses);
    if (list.includes('*')) {
      if (list.length > 1) throw new Error('-allowed-vault-addresses: `*` (any address) cannot be combined with addresses');
      vaultAddresses = 'any';
    } else {
      // Each entry in the canonical spelling mounts are compared in; a bad one is named by the error.
      vaultAddresses = list.map((a) => normaliseVaultAddress(a, '-allowed-vault-addresses'));
    }
  }
  const tlsDirectories = items(raw.directories ?? '').map((dir) => {
    if (!isAbsolute(dir) || dir.includes('\0')) throw new Error(`-allowed-tls-directories: ${JSON.stringify(dir)} is not an absolute directory`);
    return resolve(dir);
  });
  return { vaultAddresses, tlsDirectories, allowSkipTlsVerify: raw.allowSkipTlsVerify, authMounts: authMountList(raw.authMounts) };
}

/** `--allowed-auth-mounts`: auth mount paths in the spelling mounts are compared in (no leading or trailing '/'), or `*`. */
function authMountList(raw: string | undefined): TrustSettings['authMounts'] {
  const list = items(raw ?? '');
  if (!list.includes('*')) return list.map((m) => normaliseAuthMount(m, '-allowed-auth-mounts'));
  if (list.length > 1) throw new Error('-allowed-auth-mounts: `*` (any auth mount) cannot be combined with auth mounts');
  return 'any';
}
