/**
 * JSON as Go's encoding/json writes it, so that files holding JSON (a whole response, a non-string value) are
 * byte-for-byte what hashicorp/vault-csi-provider writes: map keys sorted, no spaces, `<`, `>`, `&`, U+2028 and
 * U+2029 escaped. Numbers are written by JavaScript's rules, which agree with Go for the integers and ordinary
 * decimals Vault returns (Go keeps a json.Number's literal, e.g. `1.0`; JSON.parse has already lost that).
 */
const ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

function goString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => ESCAPES[c] ?? c);
}

export function goMarshal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map((v) => goMarshal(v)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${goString(k)}:${goMarshal(v)}`).join(',')}}`;
  }
  return 'null';
}

/** A Go struct's fields in declaration order (not sorted), each value marshalled as above. */
export function goMarshalStruct(fields: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${fields.map(([k, v]) => `${goString(k)}:${goMarshal(v)}`).join(',')}}`;
}
