// KV secrets engines, version 1 (plain map) and version 2 (versioned, data/metadata API).
import { badRequest, notFound } from './vault-errors.js';
import { envelope, isJsonObject, noContent, ok, parseDurationSeconds, rfc3339 } from './util.js';
import type { EngineRequest, SecretEngine } from './mounts.js';
import type { JsonObject, Reply } from './types.js';

/** KV v1 reads report the mount's default lease TTL (768h) as lease_duration. */
const KV_LEASE_SECONDS = 2764800;
/** KV v2 keeps 10 versions unless configured otherwise. */
const DEFAULT_MAX_VERSIONS = 10;

function clone(data: JsonObject): JsonObject {
  return structuredClone(data);
}

/** Immediate children of `prefix` among `keys`, folders with a trailing slash, sorted like Vault. */
function listChildren(keys: Iterable<string>, prefix: string): string[] {
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const out = new Set<string>();
  for (const key of keys) {
    if (!key.startsWith(base)) continue;
    const rest = key.slice(base.length);
    const slash = rest.indexOf('/');
    out.add(slash < 0 ? rest : rest.slice(0, slash + 1));
  }
  return [...out].filter((k) => k !== '').sort();
}

function listReply(keys: string[]): Reply {
  return keys.length === 0 ? notFound() : ok({ data: { keys }, mount_type: 'kv' });
}

export class KvV1Engine implements SecretEngine {
  readonly type = 'kv';
  private readonly entries = new Map<string, JsonObject>();

  exists(subPath: string): boolean {
    return this.entries.has(subPath);
  }

  put(path: string, data: JsonObject): void {
    this.entries.set(path, clone(data));
  }

  delete(path: string): void {
    this.entries.delete(path);
  }

  handle(req: EngineRequest): Reply {
    const path = req.subPath;
    switch (req.op) {
      case 'read': {
        const data = this.entries.get(path);
        if (!data) return notFound();
        // A `ttl` key in the secret sets the advertised lease, as KV v1 documents.
        const ttl = parseDurationSeconds(data['ttl']) ?? KV_LEASE_SECONDS;
        return ok({ data: clone(data), lease_duration: ttl, mount_type: 'kv' });
      }
      case 'list':
        return listReply(listChildren(this.entries.keys(), path));
      case 'create':
      case 'update':
        if (Object.keys(req.body).length === 0) return badRequest('missing data fields');
        this.put(path, req.body);
        return noContent();
      case 'delete':
        this.entries.delete(path);
        return noContent();
      default:
        return badRequest('unsupported operation');
    }
  }
}

interface Version {
  data: JsonObject;
  createdTime: number;
  deletionTime: number | null;
  destroyed: boolean;
}

interface Entry {
  versions: Map<number, Version>;
  currentVersion: number;
  oldestVersion: number;
  createdTime: number;
  updatedTime: number;
  customMetadata: Record<string, string> | null;
  maxVersions: number;
  casRequired: boolean;
}

const invalidV2Path = (command: 'get' | 'list'): string =>
  `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${command}' for this operation.`;

export class KvV2Engine implements SecretEngine {
  readonly type = 'kv';
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: () => number) {}

  private split(subPath: string): { api: string; key: string } {
    const slash = subPath.indexOf('/');
    return slash < 0 ? { api: subPath, key: '' } : { api: subPath.slice(0, slash), key: subPath.slice(slash + 1) };
  }

  exists(subPath: string): boolean {
    const { api, key } = this.split(subPath);
    if (api === 'data' || api === 'metadata') return this.entries.has(key);
    return true;
  }

  /** Programmatic write; returns the new version number. */
  put(key: string, data: JsonObject): number {
    const now = this.clock();
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { versions: new Map(), currentVersion: 0, oldestVersion: 0, createdTime: now, updatedTime: now,
        customMetadata: null, maxVersions: 0, casRequired: false };
      this.entries.set(key, entry);
    }
    const version = entry.currentVersion + 1;
    entry.versions.set(version, { data: clone(data), createdTime: now, deletionTime: null, destroyed: false });
    entry.currentVersion = version;
    entry.updatedTime = now;
    if (entry.oldestVersion === 0) entry.oldestVersion = 1;
    const max = entry.maxVersions > 0 ? entry.maxVersions : DEFAULT_MAX_VERSIONS;
    while (entry.versions.size > max) {
      entry.versions.delete(entry.oldestVersion);
      entry.oldestVersion++;
    }
    return version;
  }

  /** Soft-deletes the latest version (or the given ones). */
  softDelete(key: string, versions?: readonly number[]): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    const now = this.clock();
    for (const v of versions ?? [entry.currentVersion]) {
      const ver = entry.versions.get(v);
      if (ver && ver.deletionTime === null) ver.deletionTime = now;
    }
  }

  deleteAll(key: string): void {
    this.entries.delete(key);
  }

  private versionMetadata(entry: Entry, version: number, ver: Version): JsonObject {
    return {
      created_time: rfc3339(ver.createdTime),
      custom_metadata: entry.customMetadata,
      deletion_time: ver.deletionTime === null ? '' : rfc3339(ver.deletionTime),
      destroyed: ver.destroyed,
      version,
    };
  }

  private metadataOf(entry: Entry): JsonObject {
    const versions: JsonObject = {};
    for (const [n, v] of [...entry.versions.entries()].sort((a, b) => a[0] - b[0])) {
      versions[String(n)] = {
        created_time: rfc3339(v.createdTime),
        deletion_time: v.deletionTime === null ? '' : rfc3339(v.deletionTime),
        destroyed: v.destroyed,
      };
    }
    return {
      cas_required: entry.casRequired,
      created_time: rfc3339(entry.createdTime),
      current_version: entry.currentVersion,
      custom_metadata: entry.customMetadata,
      delete_version_after: '0s',
      max_versions: entry.maxVersions,
      oldest_version: entry.oldestVersion,
      updated_time: rfc3339(entry.updatedTime),
      versions,
    };
  }

  handle(req: EngineRequest): Reply {
    const { api, key } = this.split(req.subPath);
    // Only metadata/ lists; a LIST elsewhere (secret/data/, secret/) is the invalid-path 404, as real Vault answers.
    if (req.op === 'list' && api !== 'metadata') return { status: 404, body: envelope({ warnings: [invalidV2Path('list')] }) };
    switch (api) {
      case 'data': return this.handleData(req, key);
      case 'metadata': return this.handleMetadata(req, key);
      case 'delete':
      case 'undelete':
      case 'destroy': return this.handleVersions(req, api, key);
      case 'config':
        if (req.op === 'read') return ok({ data: { cas_required: false, delete_version_after: '0s', max_versions: 0 }, mount_type: 'kv' });
        return noContent();
      default:
        // Vault answers a v1-style path on a v2 mount with 404 and a hint in warnings.
        return { status: 404, body: envelope({ warnings: [invalidV2Path('get')] }) };
    }
  }

  private handleData(req: EngineRequest, key: string): Reply {
    const entry = this.entries.get(key);
    switch (req.op) {
      case 'read': {
        if (!entry) return notFound();
        const raw = req.query.get('version');
        const wanted = raw === null || raw === '' ? 0 : Number.parseInt(raw, 10);
        if (Number.isNaN(wanted)) return badRequest(`error converting input ${raw} for field "version"`);
        const version = wanted === 0 ? entry.currentVersion : wanted;
        const ver = entry.versions.get(version);
        if (!ver) return notFound();
        const metadata = this.versionMetadata(entry, version, ver);
        if (ver.destroyed || (ver.deletionTime !== null && ver.deletionTime <= req.now)) {
          // Deleted or destroyed versions come back as 404 with their metadata, not an empty error.
          return { status: 404, body: envelope({ data: { data: null, metadata }, mount_type: 'kv' }) };
        }
        return ok({ data: { data: clone(ver.data), metadata }, mount_type: 'kv' });
      }
      case 'create':
      case 'update': {
        const data = req.body['data'];
        if (!isJsonObject(data)) return badRequest('no data provided');
        const options = isJsonObject(req.body['options']) ? req.body['options'] : {};
        const cas = options['cas'];
        if (entry?.casRequired && cas === undefined) return badRequest('check-and-set parameter required for this call');
        if (cas !== undefined && Number(cas) !== (entry?.currentVersion ?? 0)) {
          return badRequest('check-and-set parameter did not match the current version');
        }
        const version = this.put(key, data);
        const saved = this.entries.get(key)!;
        return ok({ data: this.versionMetadata(saved, version, saved.versions.get(version)!), mount_type: 'kv' });
      }
      case 'patch': {
        if (!entry) return notFound();
        const current = entry.versions.get(entry.currentVersion);
        const patch = req.body['data'];
        if (!current || current.deletionTime !== null || current.destroyed) return notFound();
        if (!isJsonObject(patch)) return badRequest('no data provided');
        const merged = clone(current.data);
        for (const [k, v] of Object.entries(patch)) {
          if (v === null) delete merged[k];
          else merged[k] = v;
        }
        const version = this.put(key, merged);
        return ok({ data: this.versionMetadata(entry, version, entry.versions.get(version)!), mount_type: 'kv' });
      }
      case 'delete':
        this.softDelete(key);
        return noContent();
      default:
        return badRequest('unsupported operation');
    }
  }

  private handleMetadata(req: EngineRequest, key: string): Reply {
    const entry = this.entries.get(key);
    switch (req.op) {
      case 'read':
        return entry ? ok({ data: this.metadataOf(entry), mount_type: 'kv' }) : notFound();
      case 'list': {
        const live = [...this.entries.keys()];
        return listReply(listChildren(live, key));
      }
      case 'create':
      case 'update': {
        const now = this.clock();
        const target = entry ?? { versions: new Map(), currentVersion: 0, oldestVersion: 0, createdTime: now,
          updatedTime: now, customMetadata: null, maxVersions: 0, casRequired: false };
        if (req.body['max_versions'] !== undefined) target.maxVersions = Number(req.body['max_versions']);
        if (req.body['cas_required'] !== undefined) target.casRequired = req.body['cas_required'] === true;
        const custom = req.body['custom_metadata'];
        if (isJsonObject(custom)) {
          target.customMetadata = Object.fromEntries(Object.entries(custom).map(([k, v]) => [k, String(v)]));
        }
        target.updatedTime = now;
        this.entries.set(key, target);
        return noContent();
      }
      case 'delete':
        this.entries.delete(key);
        return noContent();
      default:
        return badRequest('unsupported operation');
    }
  }

  private handleVersions(req: EngineRequest, api: 'delete' | 'undelete' | 'destroy', key: string): Reply {
    if (req.op !== 'create' && req.op !== 'update') return badRequest('unsupported operation');
    const raw = req.body['versions'];
    const versions = (Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [])
      .map((v) => Number.parseInt(String(v), 10))
      .filter((v) => !Number.isNaN(v));
    if (versions.length === 0) return badRequest('no version number provided');
    const entry = this.entries.get(key);
    if (!entry) return noContent();
    for (const v of versions) {
      const ver = entry.versions.get(v);
      if (!ver) continue;
      if (api === 'delete' && ver.deletionTime === null) ver.deletionTime = this.clock();
      if (api === 'undelete' && !ver.destroyed) ver.deletionTime = null;
      if (api === 'destroy') { ver.destroyed = true; ver.data = {}; }
    }
    return noContent();
  }
}
