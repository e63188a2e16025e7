/**
 * base64url(HMAC-SHA256(key, canonical object config ‖ content)): the config keeps equal contents from giving equal
 * versions, the key keeps the version from revealing the content. Stable as long as the key is.
 */
import { createHmac } from 'node:crypto';
import { isPlainObject } from '../shared/plain-object.js';
import type { CredentialScope, ObjectConfig } from '../config/types.js';
import type { SecretRequest } from '../vault/client.js';

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

// Objects with equal method, path, query, secretArgs and secretNamespace share one request, so two objects naming
// one PKI issue get one certificate and its key. (The reference keys on path and method only.)

/** The memoised parse hands back the same ObjectConfig objects every minute: their keys are kept beside them. */
const keys = new WeakMap<ObjectConfig, string>();
const groupings = new WeakMap<readonly ObjectConfig[], readonly RequestGroup[]>();

export function requestKey(obj: ObjectConfig): string {
  let key = keys.get(obj);
  if (key === undefined) {
    // The namespace is part of what is asked: one path in two namespaces is two secrets, never one request.
    key = canonicalJson([obj.method, obj.requestPath, obj.query, obj.secretArgs ?? null, obj.secretNamespace ?? null]);
    keys.set(obj, key);
  }
  return key;
}

export interface RequestGroup {
  readonly key: string;
  /** The request itself, as the Vault client takes it. */
  readonly request: SecretRequest;
  /** The first (required, if any) object that needs this request; its name and path go into messages. */
  readonly lead: ObjectConfig;
  readonly objects: readonly ObjectConfig[];
  /** `workload` only when every object reading it says so: objects reading one request read one credential. */
  readonly credentialScope: CredentialScope;
}

/** Objects that need the same request, grouped; a template object without a secretPath needs none and is left out. */
export function groupByRequest(objects: readonly ObjectConfig[]): readonly RequestGroup[] {
  let grouped = groupings.get(objects);
  if (grouped === undefined) {
    grouped = group(objects);
    groupings.set(objects, grouped);
  }
  return grouped;
}

function group(objects: readonly ObjectConfig[]): readonly RequestGroup[] {
  const groups = new Map<string, ObjectConfig[]>();
  for (const obj of objects) {
    if (obj.requestPath === '') continue;
    const key = requestKey(obj);
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [obj]);
    else list.push(obj);
  }
  // A required object leads when there is one, so a failure that fails the mount names an object it fails for.
  return [...groups].map(([key, list]) => {
    const lead = list.find((o) => o.optional !== true) ?? list[0]!;
    const request: SecretRequest = {
      method: lead.method,
      requestPath: lead.requestPath,
      query: lead.query,
      body: lead.secretArgs,
      ...(lead.secretNamespace === undefined ? {} : { namespace: lead.secretNamespace }),
    };
    const credentialScope = list.every((o) => o.credentialScope === 'workload') ? 'workload' : 'pod';
    return { key, request, lead, objects: list, credentialScope };
  });
}
