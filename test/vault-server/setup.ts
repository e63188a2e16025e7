// Mount, auth-method and policy management shared by the programmatic helpers and the sys/ API.
import { randomUUID } from 'node:crypto';
import { KvV1Engine, KvV2Engine } from './kv.js';
import { DatabaseEngine } from './database.js';
import { PkiEngine, type PkiOptions } from './pki.js';
import { KubernetesAuth, type KubernetesAuthConfig } from './auth-kubernetes.js';
import { JwtAuth, type JwtAuthConfig } from './auth-jwt.js';
import { parsePolicy } from './policy.js';
import { randomBase62 } from './util.js';
import type { VaultCore } from './core.js';
import type { Namespace } from './namespaces.js';
import type { AuthEngine, AuthMountEntry, MountEntry, SecretEngine } from './mounts.js';

export function mountKey(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') throw new Error('mount path must not be empty');
  return `${trimmed}/`;
}

const RESERVED = ['sys/', 'auth/', 'cubbyhole/', 'identity/'];

export function addMount(ns: Namespace, path: string, type: string, engine: SecretEngine, options: Record<string, string> | null): MountEntry {
  const key = mountKey(path);
  if (RESERVED.some((r) => key === r || key.startsWith(r))) throw new Error(`cannot mount at reserved path ${key}`);
  for (const existing of ns.mounts.keys()) {
    if (existing.startsWith(key) || key.startsWith(existing)) {
      throw new Error(`path is already in use at ${existing}`);
    }
  }
  const accessor = `${type}_${randomBase62(8).toLowerCase()}`;
  const entry: MountEntry = { path: key, type, accessor, uuid: randomUUID(), description: '', options, engine };
  ns.mounts.set(key, entry);
  return entry;
}

export function addAuthMount(ns: Namespace, path: string, engine: AuthEngine): AuthMountEntry {
  const key = mountKey(path);
  if (key === 'token/') throw new Error('the token auth method is built in');
  if (ns.authMounts.has(key)) throw new Error(`path is already in use at auth/${key}`);
  const entry: AuthMountEntry = {
    path: key, type: engine.type, accessor: `auth_${engine.type}_${randomBase62(8).toLowerCase()}`, uuid: randomUUID(), engine,
  };
  ns.authMounts.set(key, entry);
  return entry;
}

export function enableKv(core: VaultCore, ns: Namespace, path: string, version: 1 | 2): MountEntry {
  const engine = version === 1 ? new KvV1Engine() : new KvV2Engine(core.clock);
  return addMount(ns, path, 'kv', engine, { version: String(version) });
}

export function enableDatabase(core: VaultCore, ns: Namespace, path: string): MountEntry {
  return addMount(ns, path, 'database', new DatabaseEngine(core.leases), null);
}

export async function enablePki(core: VaultCore, ns: Namespace, path: string, options: PkiOptions = {}): Promise<MountEntry> {
  mountKey(path);
  const engine = await PkiEngine.create(core.clock(), `Vault Test ${mountKey(path).slice(0, -1)}`, options);
  return addMount(ns, path, 'pki', engine, null);
}

export function enableKubernetesAuth(ns: Namespace, path: string, config: KubernetesAuthConfig): AuthMountEntry {
  return addAuthMount(ns, path, new KubernetesAuth(config));
}

export function enableCredentialAuth(ns: Namespace, path: string, engine: AuthEngine): AuthMountEntry {
  return addAuthMount(ns, path, engine);
}

export function enableJwtAuth(ns: Namespace, path: string, config: JwtAuthConfig): AuthMountEntry {
  return addAuthMount(ns, path, new JwtAuth(config));
}

export function putPolicy(core: VaultCore, ns: Namespace, name: string, raw: string): void {
  const lower = name.toLowerCase();
  if (lower === 'root') throw new Error('cannot update "root" policy');
  ns.policies.set(lower, parsePolicy(lower, raw));
  core.policiesChanged();
}

export function deletePolicy(core: VaultCore, ns: Namespace, name: string): void {
  const lower = name.toLowerCase();
  if (lower === 'root' || lower === 'default') throw new Error(`cannot delete "${lower}" policy`);
  ns.policies.delete(lower);
  core.policiesChanged();
}
