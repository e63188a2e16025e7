/**
 * The trust-boundary flags (SECURITY.md): which Vault addresses, TLS file directories and skip-verify a
 * SecretProviderClass or pod may use. Pure; cli/flags.ts turns a thrown Error into a usage error.
 *
 *   --allowed-vault-addresses=https://vault.vault.svc:8200,https://vault.dr:8200   (or `*` for any)
 *   --allowed-tls-directories=/etc/vault-tls,/vault/ca
 *   --allow-skip-tls-verify
 *   --allowed-auth-mounts=kubernetes-b,team/jwt   (or `*` for any)
 *   --trust-policy=reference     (all four at their widest, as hashicorp/vault-csi-provider accepts)
 *
 * Defaults: only the provider's own Vault address (--vault-addr, else VAULT_ADDR, else the built-in default), no
 * directory beyond the operator's own -vault-tls-* files, no skip-verify, and — while a connection presents a client
 * certificate of the operator's — no auth mount beyond --vault-mount. The reference sends a pod's token wherever a
 * SecretProviderClass points it; here an operator opts in, address by address (or `*` for any, with a warning).
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

/**
 * `--trust-policy=reference`: what the reference accepts from a SecretProviderClass, in one switch for a migration.
 * Any vaultAddress, TLS files anywhere on the node, vaultSkipTLSVerify. The provider's own ServiceAccount token and HMAC
 * key file stay protected (buildTrustPolicy adds them whatever the flags say).
 */
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
