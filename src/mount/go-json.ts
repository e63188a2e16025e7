/**
 * JSON as Go's encoding/json writes it, so that files holding JSON (a whole response, a non-string value) are
 * byte-for-byte what hashicorp/vault-csi-provider writes: map keys sorted, no spaces, `<`, `>`, `&`, U+2028 and
 * U+2029 escaped. Numbers are written by JavaScript's rules, which agree with Go for the integers and ordinary
 * decimals Vault returns (Go keeps a json.Number's literal, e.g. `1.0`; JSON.parse has already lost that).
 */
const NEEDS_ESCAPE = /[<>&\u2028\u2029]/;

/**
 * A string as Go writes it. The escapes are native replaceAll passes, taken only when one is needed: a replace
 * with a callback per match cost seconds for a multi-MiB value of `<&>` from Vault (docs/benchmark.md).
 */
function goString(value: string): string {
  const json = JSON.stringify(value);
  if (!NEEDS_ESCAPE.test(json)) return json;
  return json
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
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
