/**
 * `secretNamespace` (ours; the name of the reference's unmerged cross-namespace branch): the object's namespace,
 * relative to the mount's. Logging in stays in the mount's namespace, as Vault Enterprise namespaces work. Names are
 * checked as for vaultNamespace, slashes at either end dropped. Pure.
 */
import { quoted } from '../shared/message-text.js';
import { trimSlashes } from './connection.js';

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
