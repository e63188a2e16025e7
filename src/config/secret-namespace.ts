/**
 * `secretNamespace` (ours; the reference's unmerged cross-namespace branch uses the same name): the Vault Enterprise
 * namespace one object is read from, relative to the mount's namespace (`vaultNamespace`, else --vault-namespace).
 * Logging in stays in the mount's namespace: a token of a parent namespace reads a child's secrets when its policy
 * names the child's paths, as Vault Enterprise (and OpenBao) namespaces work.
 *
 * The rule, exactly:
 * - leading and trailing slashes are dropped (`/sub/`, `sub/` and `sub` are one namespace), and what remains must
 *   be one or more names separated by single slashes: no empty name (`a//b`), no `.` or `..`, no whitespace or
 *   control character, and only characters an HTTP header can carry (Latin-1), as for vaultNamespace;
 * - the object's X-Vault-Namespace is `<mount namespace>/<secretNamespace>`, the mount's namespace stripped of its
 *   own leading and trailing slashes first; with no mount namespace (or only slashes) it is `<secretNamespace>`.
 * Pure.
 */
import { quoted } from '../shared/message-text.js';
import { trimSlashes } from '../shared/slashes.js';

export class SecretNamespaceError extends Error {
  override readonly name = 'SecretNamespaceError';
}

// Tab, space and the other characters below 0x21, DEL, and everything beyond Latin-1 (a header cannot carry it).
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const UNSENDABLE = /[\u0000-\u0020\u007f\u0085\u00a0]|[^\u0000-\u00ff]/;

/** The namespace in its canonical spelling (no leading or trailing slash). Throws SecretNamespaceError. */
export function parseSecretNamespace(raw: string): string {
  const trimmed = trimSlashes(raw);
  if (trimmed === '') throw new SecretNamespaceError('is empty: leave it out to read in the mount\'s namespace');
  if (UNSENDABLE.test(trimmed)) {
    throw new SecretNamespaceError('holds whitespace, control characters or characters an HTTP header cannot carry');
  }
  for (const name of trimmed.split('/')) {
    if (name === '') throw new SecretNamespaceError(`${quoted(trimmed)} has an empty name between two slashes`);
    if (name === '.' || name === '..') throw new SecretNamespaceError(`${quoted(trimmed)} has a "${name}" name`);
  }
  return trimmed;
}

/** X-Vault-Namespace for a request: the mount's namespace, joined with the object's when it has one. */
export function requestNamespace(mountNamespace: string | undefined, secretNamespace: string | undefined): string | undefined {
  if (secretNamespace === undefined) return mountNamespace;
  const base = trimSlashes(mountNamespace ?? '');
  return base === '' ? secretNamespace : `${base}/${secretNamespace}`;
}
