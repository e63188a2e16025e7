/**
 * What reached Vault, from its own file audit device: each request's path and operation (paths are logged in
 * clear, values hashed). Suites count these rather than trusting what the provider says it sent.
 */
import { readFile } from 'node:fs/promises';
import type { RealVault } from './vault-dev.js';

export interface VaultRequest {
  readonly path: string;
  readonly operation: string;
}

/** The number of lines the audit log holds now: a mark to count from. */
export async function auditLineCount(file: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').length - 1;
}

/** The requests logged from line `from` on whose path starts with `pathPrefix`. */
export async function auditedRequests(file: string, from = 0, pathPrefix = ''): Promise<VaultRequest[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: VaultRequest[] = [];
  for (const line of text.split('\n').slice(from)) {
    if (line === '') continue;
    const entry = JSON.parse(line) as { type?: string; request?: { path?: string; operation?: string } };
    if (entry.type !== 'request') continue;
    const path = entry.request?.path ?? '';
    if (path.startsWith(pathPrefix)) out.push({ path, operation: entry.request?.operation ?? '' });
  }
  return out;
}

/** A file audit device on one Vault, with a mark to count from. */
export class VaultAudit {
  private from = 0;

  private constructor(readonly file: string) {}

  static async enable(vault: RealVault, file: string): Promise<VaultAudit> {
    await vault.must('PUT', 'sys/audit/file', { type: 'file', options: { file_path: file } });
    return new VaultAudit(file);
  }

  /** Starts a new count for requests(). */
  async mark(): Promise<void> {
    this.from = await auditLineCount(this.file);
  }

  /** Requests logged since the last mark(), optionally only those whose path starts with a prefix. */
  requests(pathPrefix = ''): Promise<VaultRequest[]> {
    return auditedRequests(this.file, this.from, pathPrefix);
  }
}
