// Service tokens: creation on login, expiry by the injected clock, renewal and revocation.
import { cappedRenewal, randomBase62, rfc3339, uniqueSorted } from './util.js';
import type { Clock } from './types.js';

/** Vault's system-wide default and maximum lease TTL: 768h. */
export const SYSTEM_MAX_TTL_SECONDS = 768 * 3600;

export interface TokenEntry {
  readonly id: string;
  readonly accessor: string;
  readonly nsPath: string;
  readonly nsId: string;
  readonly policies: readonly string[];
  readonly meta: Readonly<Record<string, string>> | null;
  readonly displayName: string;
  /** Creation path, e.g. `auth/kubernetes/login`. */
  readonly path: string;
  readonly createdAt: number;
  readonly creationTtlSeconds: number;
  /** Null for the non-expiring root token. */
  expireAt: number | null;
  readonly maxExpireAt: number | null;
  lastRenewal: number | null;
  readonly renewable: boolean;
  readonly entityId: string;
  /** The login's entity alias, for templated policies; absent for tokens made without a login. */
  readonly alias?: EntityAlias;
  readonly isRoot: boolean;
}

/** What a login tells the identity store: the alias of the entity on the auth mount that made it. */
export interface EntityAlias {
  readonly mountAccessor: string;
  readonly name: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface NewToken {
  nsPath: string;
  nsId: string;
  policies: readonly string[];
  meta: Record<string, string> | null;
  displayName: string;
  path: string;
  ttlSeconds: number;
  maxTtlSeconds: number;
  entityId: string;
  alias?: EntityAlias;
}

export class TokenStore {
  private readonly byId = new Map<string, TokenEntry>();
  private readonly listeners: ((t: TokenEntry) => void)[] = [];

  constructor(private readonly clock: Clock) {}

  /** Called for every token that goes away (revoked or found expired), so its leases go too. */
  onRevoke(listener: (t: TokenEntry) => void): void {
    this.listeners.push(listener);
  }

  createRoot(id: string): TokenEntry {
    const entry: TokenEntry = {
      id, accessor: randomBase62(24), nsPath: '', nsId: 'root', policies: ['root'], meta: null,
      displayName: 'root', path: 'auth/token/root', createdAt: this.clock(), creationTtlSeconds: 0,
      expireAt: null, maxExpireAt: null, lastRenewal: null, renewable: false, entityId: '', isRoot: true,
    };
    this.byId.set(id, entry);
    return entry;
  }

  create(spec: NewToken): TokenEntry {
    const now = this.clock();
    // Namespaced tokens carry the namespace id as a suffix, as Vault's do.
    const id = `hvs.${randomBase62(24)}${spec.nsPath === '' ? '' : `.${spec.nsId}`}`;
    const ttl = Math.min(spec.ttlSeconds, spec.maxTtlSeconds);
    const entry: TokenEntry = {
      id,
      accessor: `${randomBase62(24)}${spec.nsPath === '' ? '' : `.${spec.nsId}`}`,
      nsPath: spec.nsPath,
      nsId: spec.nsId,
      policies: uniqueSorted(spec.policies),
      meta: spec.meta,
      displayName: spec.displayName,
      path: spec.path,
      createdAt: now,
      creationTtlSeconds: ttl,
      expireAt: now + ttl * 1000,
      maxExpireAt: now + spec.maxTtlSeconds * 1000,
      lastRenewal: null,
      renewable: true,
      entityId: spec.entityId,
      ...(spec.alias === undefined ? {} : { alias: spec.alias }),
      isRoot: false,
    };
    this.byId.set(id, entry);
    return entry;
  }

  /** A live token, or undefined when unknown, revoked or expired (expired ones are reaped here). */
  lookup(id: string): TokenEntry | undefined {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    if (entry.expireAt !== null && this.clock() >= entry.expireAt) {
      this.remove(entry);
      return undefined;
    }
    return entry;
  }

  ttlSeconds(entry: TokenEntry): number {
    if (entry.expireAt === null) return 0;
    return Math.max(0, Math.floor((entry.expireAt - this.clock()) / 1000));
  }

  /** Renews up to the token's max TTL; returns the new TTL and Vault's capping warning if any. */
  renew(entry: TokenEntry, incrementSeconds: number | undefined): { ttl: number; warnings: string[] } {
    const now = this.clock();
    if (entry.expireAt === null || entry.maxExpireAt === null) return { ttl: 0, warnings: [] };
    const { ttl, warnings } = cappedRenewal(now, incrementSeconds, entry.creationTtlSeconds, entry.maxExpireAt);
    entry.expireAt = now + ttl * 1000;
    entry.lastRenewal = now;
    return { ttl, warnings };
  }

  revoke(id: string): boolean {
    const entry = this.byId.get(id);
    if (!entry) return false;
    this.remove(entry);
    return true;
  }

  /** Revokes every token except the root token, so tests can force re-login everywhere. */
  revokeAll(): number {
    let n = 0;
    for (const entry of [...this.byId.values()]) {
      if (entry.isRoot) continue;
      this.remove(entry);
      n++;
    }
    return n;
  }

  /** Tokens still alive, for test assertions (e.g. how many logins produced live tokens). */
  live(): TokenEntry[] {
    return [...this.byId.values()].filter((t) => this.lookup(t.id) !== undefined);
  }

  private remove(entry: TokenEntry): void {
    this.byId.delete(entry.id);
    for (const l of this.listeners) l(entry);
  }
}

/** The `data` of auth/token/lookup-self. */
export function describeToken(entry: TokenEntry, ttlSeconds: number): Record<string, unknown> {
  const data: Record<string, unknown> = {
    accessor: entry.accessor,
    creation_time: Math.floor(entry.createdAt / 1000),
    creation_ttl: entry.creationTtlSeconds,
    display_name: entry.displayName,
    entity_id: entry.entityId,
    expire_time: entry.expireAt === null ? null : rfc3339(entry.expireAt),
    explicit_max_ttl: 0,
    id: entry.id,
    meta: entry.meta,
    num_uses: 0,
    orphan: true,
    path: entry.path,
    policies: entry.policies,
    renewable: entry.renewable,
    ttl: ttlSeconds,
    type: 'service',
  };
  if (!entry.isRoot) {
    data['issue_time'] = rfc3339(entry.createdAt);
    if (entry.lastRenewal !== null) data['last_renewal'] = rfc3339(entry.lastRenewal);
    if (entry.lastRenewal !== null) data['last_renewal_time'] = Math.floor(entry.lastRenewal / 1000);
  }
  if (entry.nsPath !== '') data['namespace_path'] = `${entry.nsPath}/`;
  return data;
}

/** The `auth` block of a login or renew-self response. */
export function authBlock(entry: TokenEntry, ttlSeconds: number): Record<string, unknown> {
  return {
    client_token: entry.id,
    accessor: entry.accessor,
    policies: entry.policies,
    token_policies: entry.policies,
    metadata: entry.meta,
    lease_duration: ttlSeconds,
    renewable: entry.renewable,
    entity_id: entry.entityId,
    token_type: 'service',
    orphan: true,
    mfa_requirement: null,
    num_uses: 0,
  };
}
