/**
 * JSON as Go's encoding/json writes it, so files are byte-for-byte the reference's: keys sorted, no spaces, `<>&`,
 * U+2028 and U+2029 escaped. Numbers by JavaScript's rules (a json.Number's `1.0` is already lost to JSON.parse).
 */
import { ProviderError } from '../errors.js';
import { DEFAULT_MOUNT_LIMIT_BYTES } from '../output/file-set.js';
import { formatBytes } from '../shared/message-text.js';

const ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
const ESCAPE_ALL = /[<>&\u2028\u2029]/g;

/** Characters each escape adds: `<`, `>`, `&` become six, U+2028 and U+2029 six. */
function escapeGrowth(code: number): number {
  return code === 0x3c || code === 0x3e || code === 0x26 || code === 0x2028 || code === 0x2029 ? 5 : 0;
}

/** Past the driver's limit for a whole mount, before the text is built (`<&>` grows sixfold). */
function tooLarge(): ProviderError {
  return new ProviderError('MOUNT_TOO_LARGE', `the value written as JSON would be larger than ${formatBytes(DEFAULT_MOUNT_LIMIT_BYTES)}, the driver's limit for a whole mount`, {});
}

/** Escapes counted first in one pass; most strings have none, and skip the escaping pass. */
function goString(value: string): string {
  const json = JSON.stringify(value);
  if (json.length > DEFAULT_MOUNT_LIMIT_BYTES) throw tooLarge();
  let length = json.length;
  for (let i = 0; i < json.length; i++) {
    length += escapeGrowth(json.charCodeAt(i));
    if (length > DEFAULT_MOUNT_LIMIT_BYTES) throw tooLarge();
  }
  if (length === json.length) return json;
  // Many escapes: one pass over the UTF-8 bytes into a buffer of the known size (a callback per escape cost
  // ~70 ms of CPU for the 700,000 that still fit the limit); few: one native replace.
  return (length - json.length) / 5 > DENSE_ESCAPES ? escapeBytes(json) : json.replace(ESCAPE_ALL, (c) => ESCAPES[c] ?? c);
}

const DENSE_ESCAPES = 4096;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** `json` with Go's escapes, written byte by byte: `<`, `>`, `&` as 1 byte each, U+2028/U+2029 as E2 80 A8/A9. */
function escapeBytes(json: string): string {
  const src = Buffer.from(json, 'utf8');
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b === 0x3c || b === 0x3e || b === 0x26) extra += 5;
    else if (b === 0xe2 && src[i + 1] === 0x80 && (src[i + 2] === 0xa8 || src[i + 2] === 0xa9)) extra += 3;
  }
  const out = Buffer.allocUnsafe(src.length + extra);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    let code = -1;
    if (b === 0x3c || b === 0x3e || b === 0x26) code = b;
    else if (b === 0xe2 && src[i + 1] === 0x80 && (src[i + 2] === 0xa8 || src[i + 2] === 0xa9)) {
      code = src[i + 2] === 0xa8 ? 0x2028 : 0x2029;
      i += 2;
    }
    if (code === -1) {
      out[o++] = b;
      continue;
    }
    out[o++] = 0x5c; // backslash
    out[o++] = 0x75; // u
    out[o++] = HEX_DIGITS[(code >> 12) & 15]!;
    out[o++] = HEX_DIGITS[(code >> 8) & 15]!;
    out[o++] = HEX_DIGITS[(code >> 4) & 15]!;
    out[o++] = HEX_DIGITS[code & 15]!;
  }
  return out.toString('utf8');
}

export function goMarshal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      out += `${i === 0 ? '' : ','}${goMarshal(value[i])}`;
      if (out.length > DEFAULT_MOUNT_LIMIT_BYTES) throw tooLarge();
    }
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
      if (out.length > DEFAULT_MOUNT_LIMIT_BYTES) throw tooLarge();
    }
    return `${out}}`;
  }
  return 'null';
}

export function goMarshalStruct(fields: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${fields.map(([k, v]) => `${goString(k)}:${goMarshal(v)}`).join(',')}}`;
}

/** `roundTrip`: the text has been through UTF-8, so a lone surrogate is U+FFFD (3 bytes), not `\udxxx`. */
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

/** Counted without building it, so a file can be charged before it exists; each collection counted once. */
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
