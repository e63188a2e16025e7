// A database secrets engine without a database: every creds read mints a fresh username/password
// under a renewable lease, which is what the provider's caching and renewal logic must cope with.
import { badRequest, unsupportedPath } from './vault-errors.js';
import { ok, randomBase62 } from './util.js';
import type { LeaseManager } from './leases.js';
import type { EngineRequest, SecretEngine } from './mounts.js';
import type { Reply, RequestKind } from './types.js';

export interface DatabaseRoleConfig {
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly dbName?: string;
}

export class DatabaseEngine implements SecretEngine {
  readonly type = 'database';
  private readonly roles = new Map<string, DatabaseRoleConfig>();

  constructor(private readonly leases: LeaseManager) {}

  setRole(name: string, role: DatabaseRoleConfig): void {
    if (role.maxTtlSeconds > 0 && role.defaultTtlSeconds > role.maxTtlSeconds) {
      throw new Error('default_ttl cannot be greater than max_ttl');
    }
    this.roles.set(name, role);
  }

  kindOf(_method: string, subPath: string): RequestKind | undefined {
    return subPath.startsWith('creds/') ? 'dynamic' : undefined;
  }

  handle(req: EngineRequest): Reply {
    const [head, ...rest] = req.subPath.split('/');
    const name = rest.join('/');
    if (head === 'creds' && name !== '' && req.op === 'read') return this.mint(req, name);
    if (head === 'roles' && req.op === 'list') {
      const keys = [...this.roles.keys()].sort();
      return keys.length === 0 ? { status: 404, body: { errors: [] } } : ok({ data: { keys }, mount_type: 'database' });
    }
    if (head === 'roles' && name !== '' && req.op === 'read') {
      const role = this.roles.get(name);
      if (!role) return { status: 404, body: { errors: [] } };
      return ok({
        data: {
          creation_statements: [], credential_type: 'password', db_name: role.dbName ?? 'test-db',
          default_ttl: role.defaultTtlSeconds, max_ttl: role.maxTtlSeconds, renew_statements: [],
          revocation_statements: [], rollback_statements: [],
        },
        mount_type: 'database',
      });
    }
    return unsupportedPath();
  }

  private mint(req: EngineRequest, roleName: string): Reply {
    const role = this.roles.get(roleName);
    if (!role) return badRequest(`unknown role: ${roleName}`);
    const display = (req.token?.displayName ?? 'token').replace(/[^A-Za-z0-9-]/g, '-');
    const unix = Math.floor(req.now / 1000);
    // Shaped like the plugin's default username template, and cut to PostgreSQL's 63 bytes.
    const username = `v-${display}-${roleName}-${randomBase62(20)}-${unix}`.slice(0, 63);
    const password = `A1a-${randomBase62(16)}`;
    const nsSuffix = req.ns.path === '' ? '' : `.${req.ns.id}`;
    const leaseId = `${req.mount.path}creds/${roleName}/${randomBase62(24)}${nsSuffix}`;
    const ttl = role.defaultTtlSeconds;
    this.leases.add({
      id: leaseId,
      nsPath: req.ns.path,
      mountPath: req.mount.path,
      role: roleName,
      username,
      issueTime: req.now,
      expireTime: req.now + ttl * 1000,
      maxExpireTime: req.now + role.maxTtlSeconds * 1000,
      lastRenewal: null,
      renewable: true,
      defaultTtlSeconds: ttl,
      tokenAccessor: req.token?.accessor ?? '',
    });
    return ok({ lease_id: leaseId, renewable: true, lease_duration: ttl, data: { password, username }, mount_type: 'database' });
  }
}
