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
const NEEDS_ESCAPE = /[<>&\u2028\u2029]/;
const ESCAPE_ALL = /[<>&\u2028\u2029]/g;

/**
 * A string as Go writes it: one native test, and the escaping pass only when there is something to escape (most
 * strings have nothing). One pass either way; five replaceAll passes were several times slower on a value dense in
 * `<&>` (docs/benchmark.md, "Event-loop hold per step").
 */
function goString(value: string): string {
  const json = JSON.stringify(value);
  return NEEDS_ESCAPE.test(json) ? json.replace(ESCAPE_ALL, (c) => ESCAPES[c] ?? c) : json;
}

export function goMarshal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += `${i === 0 ? '' : ','}${goMarshal(value[i])}`;
    return `${out}]`;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    // The default sort compares UTF-16 code units, as `<` on strings does.
    const keys = Object.keys(record).sort();
    let out = '{';
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      out += `${i === 0 ? '' : ','}${goString(key)}:${goMarshal(record[key])}`;
    }
    return `${out}}`;
  }
  return 'null';
}

/** A Go struct's fields in declaration order (not sorted), each value marshalled as above. */
export function goMarshalStruct(fields: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${fields.map(([k, v]) => `${goString(k)}:${goMarshal(v)}`).join(',')}}`;
}
