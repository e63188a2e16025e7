// The request log: what tests assert on to count logins, reads and mints. It never stores tokens,
// JWTs or bodies; query values under credential-like keys are redacted too.
import type { RequestLogEntry } from './types.js';

const SENSITIVE_QUERY_KEY = /token|jwt|password|secret|key|credential|auth/i;

export function redactQuery(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query.entries()) out[k] = SENSITIVE_QUERY_KEY.test(k) ? '<redacted>' : v;
  return out;
}

export class RequestLog {
  readonly entries: RequestLogEntry[] = [];

  add(entry: RequestLogEntry): void {
    this.entries.push(entry);
  }

  clear(): void {
    this.entries.length = 0;
  }
}
