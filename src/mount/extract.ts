/**
 * Response → file contents for one object, pure, by the reference's keyFromData/decodeValue rules: the key from
 * `data.data` when it is a map (KV v2), else `data`; strings raw, other values as JSON; `encoding` decoded.
 */
import { ProviderError } from '../errors.js';
import type { Encoding, ObjectConfig } from '../config/types.js';
import type { SecretResponse } from '../vault/responses.js';
import { goMarshal, goMarshalBytes, goMarshalStruct, goStringBytes } from './go-json.js';
import { evaluateJsonPointer, parseJsonPointer } from '../shared/json-pointer.js';
import { isPlainObject } from '../shared/plain-object.js';

/** Without `request_id`, new on every request: it would rewrite an unchanged secret's file every republish. */
export function wholeResponseJson(response: SecretResponse): string {
  return goMarshalStruct(wholeResponseFields(response));
}

/** Bytes of wholeResponseJson(response), counted without building it. */
export function wholeResponseBytes(response: SecretResponse, sizes?: WeakMap<object, number>): number {
  const fields = wholeResponseFields(response);
  return fields.reduce((sum, [key, value]) => sum + goStringBytes(key) + 1 + goMarshalBytes(value, sizes), 2 + fields.length - 1);
}

function wholeResponseFields(response: SecretResponse): Array<readonly [string, unknown]> {
  const fields: Array<readonly [string, unknown]> = [
    ['lease_id', response.lease_id ?? ''],
    ['lease_duration', response.lease_duration ?? 0],
    ['renewable', response.renewable ?? false],
    ['data', response.data ?? null],
    ['warnings', response.warnings ?? null],
  ];
  if (response.auth !== undefined && response.auth !== null) fields.push(['auth', response.auth]);
  if (response.wrap_info !== undefined && response.wrap_info !== null) fields.push(['wrap_info', response.wrap_info]);
  if (response.mount_type !== undefined && response.mount_type !== null && response.mount_type !== '') {
    fields.push(['mount_type', response.mount_type]);
  }
  return fields;
}

/** The map a secretKey is looked up in. */
export function keyMap(data: Record<string, unknown>): Record<string, unknown> {
  const nested = data['data'];
  return isPlainObject(nested) ? nested : data;
}

const EQUALS = 0x3d;
// One character class each, no repetition: a native scan that cannot backtrack (test/architecture/regex-redos.test.ts).
const NOT_BASE64 = /[^A-Za-z0-9+/]/;
const NOT_HEX = /[^0-9a-fA-F]/;

/** Go's StdEncoding. Not one regex for the whole shape: V8 threw RangeError on a few MiB of backtracking. */
export function isStrictBase64(text: string): boolean {
  const n = text.length;
  if (n % 4 !== 0) return false;
  let pad = 0;
  if (n > 0 && text.charCodeAt(n - 1) === EQUALS) pad = text.charCodeAt(n - 2) === EQUALS ? 2 : 1;
  return !NOT_BASE64.test(pad === 0 ? text : text.slice(0, n - pad));
}

/** Pairs of hex digits, either case. */
export function isHex(text: string): boolean {
  return text.length % 2 === 0 && !NOT_HEX.test(text);
}

/** What selects the value, for messages: `key "password"` or `JSON pointer "/a/0"`. */
export function selectorText(obj: ObjectConfig): string {
  return obj.jsonPointer === undefined ? `key "${obj.secretKey}"` : `JSON pointer "${obj.jsonPointer}"`;
}

/** `what` names the value in messages; the selector's by default (an expanded object names each key). */
/** The caller names the object and its Vault path (ProviderError.forObject), as for every other read failure. */
export function decodeValue(raw: Buffer, obj: ObjectConfig, what = selectorText(obj)): Buffer {
  if (obj.encoding === 'utf-8') return raw;
  const text = raw.toString('utf8');
  if (obj.encoding === 'base64') {
    // Go's StdEncoding skips CR and LF and insists on padding and the standard alphabet.
    const compact = text.replace(/[\r\n]/g, '');
    if (!isStrictBase64(compact)) {
      throw new ProviderError('DECODE_FAILED', `the value of ${what} is not valid base64`);
    }
    return Buffer.from(compact, 'base64');
  }
  if (!isHex(text)) {
    throw new ProviderError('DECODE_FAILED', `the value of ${what} is not valid hex`);
  }
  return Buffer.from(text, 'hex');
}

/** A value as file bytes: strings raw, anything else as Go JSON (the reference's rule for secretKey). */
export function valueBytes(value: unknown): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(goMarshal(value), 'utf8');
}

/** Bytes of valueBytes(value), counted without building them. */
export function valueByteLength(value: unknown, sizes?: WeakMap<object, number>): number {
  return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : goMarshalBytes(value, sizes);
}

/** Exact for a value valid in its encoding, so contents are charged before they exist. */
export function decodedByteLength(value: unknown, encoding: Encoding, raw: number): number {
  if (encoding === 'utf-8') return raw;
  if (encoding === 'hex') return Math.floor(raw / 2);
  if (typeof value !== 'string') return raw;
  // Go's StdEncoding: CR and LF skipped, 4 characters for 3 bytes, less the padding.
  let chars = 0;
  let padding = 0;
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) continue;
    chars += 1;
    padding = c === 0x3d ? padding + 1 : 0;
  }
  return chars % 4 === 0 && padding <= 2 ? (chars / 4) * 3 - padding : raw;
}

/** The response's data, or SECRET_NOT_FOUND when Vault sent none. */
export function responseData(response: SecretResponse): Record<string, unknown> {
  const data = response.data;
  if (data === undefined || data === null) {
    throw new ProviderError('SECRET_NOT_FOUND', 'Vault returned a response without data', {});
  }
  return data;
}

/** The value secretKey (a literal key) or jsonPointer (RFC 6901) names in the key map; KEY_NOT_FOUND otherwise. */
export function selectValue(obj: ObjectConfig, data: Record<string, unknown>): unknown {
  const map = keyMap(data);
  if (obj.jsonPointer !== undefined) {
    // Syntax was checked when the objects were parsed.
    const found = evaluateJsonPointer(map, parseJsonPointer(obj.jsonPointer));
    if (!found.found) {
      throw new ProviderError('KEY_NOT_FOUND', `JSON pointer "${obj.jsonPointer}" does not resolve at the secret path: ${found.reason}`, {});
    }
    return found.value;
  }
  if (!Object.hasOwn(map, obj.secretKey)) {
    throw new ProviderError('KEY_NOT_FOUND', `key "${obj.secretKey}" does not exist at the secret path`, {});
  }
  return map[obj.secretKey];
}

export function extractContent(obj: ObjectConfig, response: SecretResponse): Buffer {
  const data = responseData(response);
  if (obj.secretKey === '' && obj.jsonPointer === undefined) return Buffer.from(wholeResponseJson(response), 'utf8');
  return decodeValue(valueBytes(selectValue(obj, data)), obj);
}
