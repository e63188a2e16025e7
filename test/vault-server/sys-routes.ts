// The sys/ API subset the provider and tests touch: health, mounts, policies, leases, namespaces.
import { randomUUID } from 'node:crypto';
import { aclDenied, badRequest, errorReply, notFound, unsupportedOperation, unsupportedPath } from './vault-errors.js';
import { deletePolicy, enableDatabase, enableKv, enablePki, mountKey, putPolicy } from './setup.js';
import { PolicyParseError } from './policy.js';
import { durationField, envelope, isJsonObject, listField, noContent, ok, rfc3339, stringField } from './util.js';
import type { RouteContext } from './core.js';
import type { MountEntry } from './mounts.js';
import type { Namespace } from './namespaces.js';
import type { JsonObject, Reply } from './types.js';

export const VAULT_VERSION = '1.17.3+ent';
const CLUSTER_ID = randomUUID();
const CLUSTER_NAME = 'vault-cluster-test';

function healthReply(ctx: RouteContext): Reply {
  const sealedNow = ctx.core.isSealed;
  const code = (name: string, fallback: number): number => {
    const raw = ctx.query.get(name);
    const n = raw === null ? Number.NaN : Number.parseInt(raw, 10);
    return Number.isNaN(n) ? fallback : n;
  };
  const status = sealedNow ? code('sealedcode', 503) : code('activecode', 200);
  return {
    status,
    body: {
      initialized: true, sealed: sealedNow, standby: false, performance_standby: false,
      replication_performance_mode: 'disabled', replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(ctx.now / 1000), version: VAULT_VERSION, enterprise: true,
      // A sealed Vault does not know its cluster: real Vault leaves both keys out.
      ...(sealedNow ? {} : { cluster_name: CLUSTER_NAME, cluster_id: CLUSTER_ID }),
      echo_duration_ms: 0, clock_skew_ms: 0, replication_primary_canary_age_ms: 0,
    },
  };
}

function sealStatus(ctx: RouteContext): Reply {
  return {
    status: 200,
    body: {
      type: 'shamir', initialized: true, sealed: ctx.core.isSealed, t: 1, n: 1, progress: 0, nonce: '',
      version: VAULT_VERSION, build_date: '2024-08-28T15:50:25Z', migration: false, recovery_seal: false,
      storage_type: 'inmem', ...(ctx.core.isSealed ? {} : { cluster_name: CLUSTER_NAME, cluster_id: CLUSTER_ID }),
    },
  };
}

interface MountLike {
  readonly type: string;
  readonly accessor: string;
  readonly uuid: string;
  readonly description?: string;
  readonly options?: Readonly<Record<string, string>> | null;
  /** Mounted by Vault itself (cubbyhole/, identity/, sys/, auth token/): no options map. */
  readonly builtin?: boolean;
  /** An auth method: its config names the token type it issues. */
  readonly auth?: boolean;
}

/** Plugins whose catalog entry carries a deprecation status (the core's own backends, database included, have none). */
const CATALOGUED_PLUGINS = new Set(['kv', 'pki', 'jwt', 'kubernetes']);
/** Request headers Vault passes through to its builtin mounts. */
const PASSTHROUGH_HEADERS: Readonly<Record<string, readonly string[]>> = { identity: ['Authorization'], system: ['Accept'] };

function mountInfo(m: MountLike): JsonObject {
  const passthrough = PASSTHROUGH_HEADERS[m.type];
  return {
    accessor: m.accessor,
    config: {
      default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0,
      ...(passthrough === undefined ? {} : { passthrough_request_headers: passthrough }),
      ...(m.auth === true ? { token_type: 'default-service' } : {}),
    },
    ...(CATALOGUED_PLUGINS.has(m.type) ? { deprecation_status: 'supported' } : {}),
    description: m.description ?? '',
    external_entropy_access: false,
    local: false,
    // A mount enabled through the API has an options map, empty when it was given none.
    options: m.builtin === true ? null : (m.options ?? {}),
    plugin_version: '',
    running_plugin_version: `v${VAULT_VERSION.replace(/\+.*/, '')}+builtin`,
    running_sha256: '',
    seal_wrap: false,
    type: m.type,
    uuid: m.uuid,
  };
}

const BUILTIN_MOUNTS = [
  { path: 'cubbyhole/', type: 'cubbyhole', accessor: 'cubbyhole_builtin', uuid: randomUUID(), description: 'per-token private secret storage', builtin: true },
  { path: 'identity/', type: 'identity', accessor: 'identity_builtin', uuid: randomUUID(), description: 'identity store', builtin: true },
  { path: 'sys/', type: 'system', accessor: 'system_builtin', uuid: randomUUID(), description: 'system endpoints used for control, policy and debugging', builtin: true },
];

function mountTable(ns: Namespace): JsonObject {
  const table: JsonObject = {};
  for (const m of [...ns.mounts.values()].sort((a, b) => a.path.localeCompare(b.path))) table[m.path] = mountInfo(m);
  for (const b of BUILTIN_MOUNTS) table[b.path] = mountInfo(b);
  return table;
}

function authTable(ns: Namespace): JsonObject {
  const table: JsonObject = {
    'token/': mountInfo({ type: 'token', accessor: 'auth_token_builtin', uuid: CLUSTER_ID, description: 'token based credentials', builtin: true, auth: true }),
  };
  for (const m of ns.authMounts.values()) table[m.path] = mountInfo({ ...m, auth: true });
  return table;
}

/** Vault's legacy endpoints (the mount tables, a mount's read) return their answer both at the top level and under `data`. */
function legacyTable(table: JsonObject): Reply {
  return { status: 200, body: { ...table, ...envelope({ data: table, mount_type: 'system' }) } };
}

async function handleMountsWrite(ctx: RouteContext, path: string): Promise<Reply> {
  const type = stringField(ctx.body, 'type');
  const options = isJsonObject(ctx.body['options']) ? ctx.body['options'] : {};
  try {
    switch (type) {
      case 'kv':
      case 'kv-v2': {
        const version = type === 'kv-v2' || (options['version'] === '2' || options['version'] === 2) ? 2 : 1;
        enableKv(ctx.core, ctx.ns, path, version);
        return noContent();
      }
      case 'database':
        enableDatabase(ctx.core, ctx.ns, path);
        return noContent();
      case 'pki':
        await enablePki(ctx.core, ctx.ns, path);
        return noContent();
      case '':
        return badRequest('backend type must be specified as a string');
      default:
        return badRequest(`plugin not found in the catalog: ${type}`);
    }
  } catch (err: unknown) {
    return badRequest(err instanceof Error ? err.message : String(err));
  }
}

function leaseIdFrom(ctx: RouteContext, urlId: string): string {
  const fromBody = stringField(ctx.body, 'lease_id');
  return fromBody !== '' ? fromBody : urlId;
}

function renew(ctx: RouteContext, urlId: string): Reply {
  if (ctx.op !== 'update') return unsupportedOperation();
  const leaseId = leaseIdFrom(ctx, urlId);
  if (leaseId === '') return badRequest('lease_id must be specified');
  const result = ctx.core.leases.renew(leaseId, ctx.ns.path, durationField(ctx.body, 'increment'));
  if (!result.ok) return badRequest(result.error);
  return ok({ lease_id: leaseId, renewable: true, lease_duration: result.ttl, warnings: result.warnings });
}

function revoke(ctx: RouteContext, urlId: string): Reply {
  if (ctx.op !== 'update') return unsupportedOperation();
  const leaseId = leaseIdFrom(ctx, urlId);
  if (leaseId === '') return badRequest('lease_id must be specified');
  ctx.core.leases.revoke(leaseId, ctx.ns.path);
  // `sync` defaults to true: revocation is done when we answer, hence 204 rather than 202.
  return ctx.body['sync'] === false ? { status: 202 } : noContent();
}

function lookupLease(ctx: RouteContext): Reply {
  if (ctx.op !== 'update') return unsupportedOperation();
  const leaseId = stringField(ctx.body, 'lease_id');
  if (leaseId === '') return badRequest('lease_id must be specified');
  const lease = ctx.core.leases.get(leaseId, ctx.ns.path);
  if (!lease) return badRequest('invalid lease');
  return ok({ data: ctx.core.leases.describe(lease), mount_type: 'system' });
}

function policyRoutes(ctx: RouteContext, name: string, legacy: boolean): Reply {
  const policies = ctx.ns.policies;
  if (name === '') {
    // sys/policies/acl lists only with LIST (or ?list=true); the legacy sys/policy also lists on a plain GET.
    if (ctx.op !== 'list' && !(legacy && ctx.op === 'read')) return legacy ? unsupportedPath() : unsupportedOperation();
    const keys = ['root', ...[...policies.keys()].sort()];
    const data = legacy ? { keys, policies: keys } : { keys };
    return legacy ? { status: 200, body: { ...data, ...envelope({ data, mount_type: 'system' }) } } : ok({ data, mount_type: 'system' });
  }
  switch (ctx.op) {
    case 'read': {
      const p = policies.get(name.toLowerCase());
      if (!p) return notFound();
      if (legacy) {
        // Like the legacy mount tables, the legacy policy read puts its fields at the top level too.
        const data = { name: p.name, rules: p.raw };
        return { status: 200, body: { ...data, ...envelope({ data, mount_type: 'system' }) } };
      }
      return ok({ data: { name: p.name, policy: p.raw }, mount_type: 'system' });
    }
    case 'create':
    case 'update': {
      const byRules = legacy && ctx.body['rules'] !== undefined;
      const raw = stringField(ctx.body, byRules ? 'rules' : 'policy');
      if (raw === '') return badRequest("'policy' parameter not supplied or empty");
      try {
        putPolicy(ctx.core, ctx.ns, name, raw);
      } catch (err: unknown) {
        const msg = err instanceof Error ? err.message : String(err);
        return badRequest(err instanceof PolicyParseError ? `failed to parse policy: ${msg}` : msg);
      }
      // Vault takes the legacy `rules` field with a warning, which makes the answer a 200 with a body.
      return byRules ? ok({ warnings: ["'rules' is deprecated, please use 'policy' instead"], mount_type: 'system' }) : noContent();
    }
    case 'delete':
      try {
        deletePolicy(ctx.core, ctx.ns, name);
      } catch (err: unknown) {
        return badRequest(err instanceof Error ? err.message : String(err));
      }
      return noContent();
    default:
      return unsupportedPath();
  }
}

function capabilitiesSelf(ctx: RouteContext): Reply {
  const token = ctx.token;
  if (!token) return aclDenied();
  const paths = [...listField(ctx.body, 'paths'), ...listField(ctx.body, 'path')];
  if (paths.length === 0) return badRequest("missing required 'paths' parameter");
  const data: JsonObject = {};
  for (const p of paths) data[p] = ctx.core.capabilitiesOf(token, ctx.ns, p.replace(/^\/+/, ''));
  // `capabilities` is the pre-`paths` answer: Vault adds it only when one path was asked about.
  if (paths.length === 1) data['capabilities'] = data[paths[0]!];
  // As its legacy endpoints do, Vault repeats the answer at the top level.
  return { status: 200, body: { ...data, ...envelope({ data, mount_type: 'system' }) } };
}

function namespaceRoutes(ctx: RouteContext, name: string): Reply {
  const registry = ctx.core.namespaces;
  const prefix = ctx.ns.path === '' ? '' : `${ctx.ns.path}/`;
  if (name === '') {
    const keys = registry.all()
      .filter((n) => n.path.startsWith(prefix) && n.path !== ctx.ns.path && !n.path.slice(prefix.length).includes('/'))
      .map((n) => `${n.path.slice(prefix.length)}/`).sort();
    if (keys.length === 0) return notFound();
    return ok({ data: { keys }, mount_type: 'system' });
  }
  const full = `${prefix}${name.replace(/\/+$/, '')}`;
  const describe = (n: Namespace): JsonObject => ({ custom_metadata: {}, id: n.id, path: `${n.path.slice(prefix.length)}/` });
  switch (ctx.op) {
    case 'read': {
      const n = registry.get(full);
      return n ? ok({ data: describe(n), mount_type: 'system' }) : notFound();
    }
    case 'create':
    case 'update':
      return ok({ data: describe(registry.create(full)), mount_type: 'system' });
    default:
      return unsupportedPath();
  }
}

function internalUiMount(ctx: RouteContext, path: string): Reply {
  const found = ctx.core.findMount(ctx.ns, path);
  const token = ctx.token;
  if (!found || !token) return aclDenied();
  const m: MountEntry = found.mount;
  if (!ctx.core.hasMountAccess(token, ctx.ns, m.path)) return aclDenied();
  return ok({ data: { ...mountInfo(m), path: m.path }, mount_type: 'system' });
}

export async function handleSys(ctx: RouteContext): Promise<Reply> {
  const route = ctx.route;
  if (route === 'sys/health') return healthReply(ctx);
  if (route === 'sys/seal-status') return sealStatus(ctx);
  if (route === 'sys/leader') {
    return {
      status: 200,
      body: {
        ha_enabled: false, is_self: true, active_time: rfc3339(ctx.now), leader_address: '', leader_cluster_address: '', performance_standby: false,
        performance_standby_last_remote_wal: 0,
      },
    };
  }
  if (route === 'sys/init') return { status: 200, body: { initialized: true } };
  if (route === 'sys/mounts' && ctx.op === 'read') return legacyTable(mountTable(ctx.ns));
  if (route.startsWith('sys/mounts/')) {
    const path = route.slice('sys/mounts/'.length);
    if (ctx.op === 'create' || ctx.op === 'update') return handleMountsWrite(ctx, path);
    if (ctx.op === 'delete') {
      ctx.ns.mounts.delete(mountKey(path));
      return noContent();
    }
    const m = ctx.ns.mounts.get(mountKey(path));
    return m ? legacyTable(mountInfo(m)) : badRequest(`No secret engine mount at ${mountKey(path)}`);
  }
  if (route === 'sys/auth' && ctx.op === 'read') return legacyTable(authTable(ctx.ns));
  if (route.startsWith('sys/internal/ui/mounts/') && ctx.op === 'read') return internalUiMount(ctx, route.slice('sys/internal/ui/mounts/'.length));
  if (route === 'sys/policies/acl' || route.startsWith('sys/policies/acl/')) return policyRoutes(ctx, route.slice('sys/policies/acl/'.length), false);
  if (route === 'sys/policy' || route.startsWith('sys/policy/')) return policyRoutes(ctx, route.slice('sys/policy/'.length), true);
  const renewMatch = /^sys\/(?:leases\/)?renew(?:\/(.*))?$/.exec(route);
  if (renewMatch) return renew(ctx, renewMatch[1] ?? '');
  const prefixMatch = /^sys\/leases\/revoke-prefix\/(.+)$/.exec(route);
  if (prefixMatch) {
    if (ctx.op !== 'update') return unsupportedOperation();
    ctx.core.leases.revokePrefix(prefixMatch[1]!, ctx.ns.path);
    return noContent();
  }
  const revokeMatch = /^sys\/(?:leases\/)?revoke(?:\/(.*))?$/.exec(route);
  if (revokeMatch) return revoke(ctx, revokeMatch[1] ?? '');
  if (route === 'sys/leases/lookup') return lookupLease(ctx);
  if (route === 'sys/capabilities-self') return capabilitiesSelf(ctx);
  if (route === 'sys/namespaces' || route.startsWith('sys/namespaces/')) return namespaceRoutes(ctx, route.slice('sys/namespaces/'.length));
  return route === 'sys' ? errorReply(404, []) : unsupportedPath();
}
