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

  /** `limit` bounds memory for long benchmark runs; the oldest entries are dropped first. */
  constructor(private readonly limit = Number.POSITIVE_INFINITY) {}

  add(entry: RequestLogEntry): void {
    this.entries.push(entry);
    // Trim in batches so a full log does not pay an O(n) shift on every request.
    if (this.entries.length > this.limit + Math.max(1, Math.floor(this.limit / 10))) {
      this.entries.splice(0, this.entries.length - this.limit);
    }
  }

  clear(): void {
    this.entries.length = 0;
  }
}
