/**
 * JSON as Go's encoding/json writes it, so that files holding JSON (a whole response, a non-string value) are
 * byte-for-byte what hashicorp/vault-csi-provider writes: map keys sorted, no spaces, `<`, `>`, `&`, U+2028 and
 * U+2029 escaped. Numbers are written by JavaScript's rules, which agree with Go for the integers and ordinary
 * decimals Vault returns (Go keeps a json.Number's literal, e.g. `1.0`; JSON.parse has already lost that).
 */
const GO_ESCAPED = /[<>&\u2028\u2029]/;

function goString(value: string): string {
  const json = JSON.stringify(value);
  if (!GO_ESCAPED.test(json)) return json;
  // split/join: a third less CPU than a replace callback per match when a tenant's value is all `<` (60 against
  // 90 ms for the 4 MiB a template may write; docs/benchmark.md, "Author input at the caps").
  return json.split('<').join('\\u003c').split('>').join('\\u003e').split('&').join('\\u0026').split('\u2028').join('\\u2028').split('\u2029').join('\\u2029');
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

/**
 * Bytes of one UTF-16 code unit sequence as UTF-8 inside a Go JSON string (goString): escapes included, quotes not.
 * `roundTrip`: the text has been through UTF-8 already, so a lone surrogate is U+FFFD (3 bytes), not `\udxxx`.
 */
function escapedUtf8Bytes(text: string, roundTrip: boolean): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) bytes += 2;
      else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) bytes += 6;
      else bytes += 1;
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      bytes += roundTrip ? 3 : 6;
    } else {
      bytes += c === 0x2028 || c === 0x2029 ? 6 : 3;
    }
  }
  return bytes;
}

/** UTF-8 bytes of goMarshal(text) for a string, quotes included. `roundTrip` as in escapedUtf8Bytes. */
export function goStringBytes(text: string, roundTrip = false): number {
  return 2 + escapedUtf8Bytes(text, roundTrip);
}

/**
 * UTF-8 bytes of goMarshal(value), counted without building it, so that what a file will hold can be charged and
 * refused before the bytes exist. `sizes` remembers collections already counted: a template naming one large map a
 * thousand times counts it once.
 */
export function goMarshalBytes(value: unknown, sizes: WeakMap<object, number> = new WeakMap()): number {
  if (value === null || value === undefined) return 4;
  if (typeof value === 'string') return goStringBytes(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value).length : 4;
  if (typeof value === 'boolean') return value ? 4 : 5;
  if (typeof value !== 'object') return 4;
  const known = sizes.get(value);
  if (known !== undefined) return known;
  let bytes: number;
  if (Array.isArray(value)) {
    bytes = 2 + Math.max(0, value.length - 1);
    for (const item of value) bytes += goMarshalBytes(item, sizes);
  } else {
    const keys = Object.keys(value);
    bytes = 2 + Math.max(0, keys.length - 1);
    for (const key of keys) bytes += goStringBytes(key) + 1 + goMarshalBytes((value as Record<string, unknown>)[key], sizes);
  }
  sizes.set(value, bytes);
  return bytes;
}
