/**
 * Objects with equal method, path, query, secretArgs and secretNamespace share one request, so two objects naming
 * one PKI issue get one certificate and its key. (The reference keys on path and method only.)
 */
import type { CredentialScope, ObjectConfig } from '../config/types.js';
import type { SecretRequest } from '../vault/client.js';
import { canonicalJson } from './version.js';

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
