/** `--version` output in the reference's three formats (`--output json|json-pretty|yaml`). */
import { stringify } from 'yaml';
import type { VersionInfo } from '../version.js';

export type VersionFormat = 'json' | 'json-pretty' | 'yaml' | '';

export function formatVersion(info: VersionInfo, format: VersionFormat): string {
  if (format === 'yaml') return stringify(info).trimEnd();
  if (format === 'json-pretty') return JSON.stringify(info, null, 2);
  return JSON.stringify(info);
}
