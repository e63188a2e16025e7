/**
 * base64url(HMAC-SHA256(key, canonical object config ‖ content)): the config keeps equal contents from giving equal
 * versions, the key keeps the version from revealing the content. Stable as long as the key is.
 */
import { createHmac } from 'node:crypto';
import type { ObjectConfig } from '../config/types.js';
import { isPlainObject } from '../shared/plain-object.js';

/** JSON with object keys sorted at every depth, so equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (isPlainObject(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = v[k];
      return sorted;
    }
    return v;
  });
}

export function canonicalObjectConfig(obj: ObjectConfig): string {
  return canonicalJson({
    objectName: obj.objectName,
    secretPath: obj.secretPath,
    secretKey: obj.secretKey,
    method: obj.method,
    secretArgs: obj.secretArgs ?? null,
    encoding: obj.encoding,
    filePermission: obj.filePermission ?? null,
    // Our own keys join only when set, so an object that uses none keeps the version it always had.
    ...(obj.optional === true ? { optional: true } : {}),
    ...(obj.jsonPointer === undefined ? {} : { jsonPointer: obj.jsonPointer }),
    ...(obj.template === undefined ? {} : { template: obj.template.source }),
    ...(obj.expand === undefined ? {} : { expand: obj.expand }),
    ...(obj.secretNamespace === undefined ? {} : { secretNamespace: obj.secretNamespace }),
  });
}

/** Differs from every version with content, and changes when the secret appears. */
export function absentObjectVersion(key: Buffer, obj: ObjectConfig): string {
  return hmacVersion(key, hmacPrefix(canonicalJson({ absent: true, config: canonicalObjectConfig(obj) })), Buffer.alloc(0));
}

export function objectVersion(key: Buffer, obj: ObjectConfig, content: Buffer): string {
  let prefix = prefixes.get(obj);
  if (prefix === undefined) {
    prefix = hmacPrefix(canonicalObjectConfig(obj));
    prefixes.set(obj, prefix);
  }
  return hmacVersion(key, prefix, content);
}

/** Built once per memoised ObjectConfig. */
const prefixes = new WeakMap<ObjectConfig, Buffer>();

/** The config, length-prefixed so no (config, content) pair can collide with another split of the same bytes. */
function hmacPrefix(canonicalConfig: string): Buffer {
  const config = Buffer.from(canonicalConfig, 'utf8');
  const prefix = Buffer.alloc(8 + config.length);
  prefix.writeBigUInt64BE(BigInt(config.length));
  config.copy(prefix, 8);
  return prefix;
}

function hmacVersion(key: Buffer, prefix: Buffer, content: Buffer): string {
  return createHmac('sha256', key).update(prefix).update(content).digest('base64url');
}
