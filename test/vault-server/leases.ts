// Leases of dynamic secrets: created by engines, renewed/revoked/looked up via sys/leases, and
// expired by the injected clock so tests can watch credentials run out.
import { cappedRenewal, rfc3339 } from './util.js';
import type { Clock } from './types.js';

export interface Lease {
  readonly id: string;
  readonly nsPath: string;
  /** Mount path with trailing slash, e.g. `database/`. */
  readonly mountPath: string;
  readonly role: string;
  readonly username: string;
  readonly issueTime: number;
  expireTime: number;
  readonly maxExpireTime: number;
  lastRenewal: number | null;
  readonly renewable: boolean;
  readonly defaultTtlSeconds: number;
  /** Accessor of the token that created it: revoking the token revokes the lease, as in Vault. */
  readonly tokenAccessor: string;
}

/** Read-only view handed to tests by `activeLeases()`. */
export interface LeaseInfo {
  readonly leaseId: string;
  readonly namespace: string;
  readonly mount: string;
  readonly role: string;
  readonly username: string;
  readonly issueTime: number;
  readonly expireTime: number;
  readonly renewals: boolean;
}

export type RenewResult =
  | { readonly ok: true; readonly ttl: number; readonly warnings: string[]; readonly lease: Lease }
  | { readonly ok: false; readonly error: string };

export class LeaseManager {
  private readonly leases = new Map<string, Lease>();
  private readonly revokedLog: string[] = [];

  constructor(private readonly clock: Clock) {}

  add(lease: Lease): void {
    this.leases.set(lease.id, lease);
  }

  /** A live lease in the namespace, or undefined; expired leases are reaped on the way. */
  get(id: string, nsPath: string): Lease | undefined {
    const lease = this.leases.get(id);
    if (!lease || lease.nsPath !== nsPath) return undefined;
    if (this.clock() >= lease.expireTime) {
      this.leases.delete(id);
      return undefined;
    }
    return lease;
  }

  renew(id: string, nsPath: string, incrementSeconds: number | undefined): RenewResult {
    const lease = this.get(id, nsPath);
    if (!lease) return { ok: false, error: 'lease not found' };
    if (!lease.renewable) return { ok: false, error: 'lease is not renewable' };
    const now = this.clock();
    const { ttl, warnings } = cappedRenewal(now, incrementSeconds, lease.defaultTtlSeconds, lease.maxExpireTime);
    lease.expireTime = now + ttl * 1000;
    lease.lastRenewal = now;
    return { ok: true, ttl, warnings, lease };
  }

  /** Idempotent, like Vault: revoking an unknown lease is not an error. */
  revoke(id: string, nsPath?: string): boolean {
    const lease = this.leases.get(id);
    if (!lease || (nsPath !== undefined && lease.nsPath !== nsPath)) return false;
    this.leases.delete(id);
    this.revokedLog.push(id);
    return true;
  }

  revokePrefix(prefix: string, nsPath: string): number {
    let n = 0;
    for (const lease of [...this.leases.values()]) {
      if (lease.nsPath === nsPath && lease.id.startsWith(prefix) && this.revoke(lease.id)) n++;
    }
    return n;
  }

  revokeByToken(accessor: string): void {
    for (const lease of [...this.leases.values()]) {
      if (lease.tokenAccessor === accessor) this.revoke(lease.id);
    }
  }

  active(): LeaseInfo[] {
    const now = this.clock();
    const out: LeaseInfo[] = [];
    for (const lease of [...this.leases.values()]) {
      if (now >= lease.expireTime) { this.leases.delete(lease.id); continue; }
      out.push({
        leaseId: lease.id, namespace: lease.nsPath, mount: lease.mountPath, role: lease.role, username: lease.username,
        issueTime: lease.issueTime, expireTime: lease.expireTime, renewals: lease.lastRenewal !== null,
      });
    }
    return out;
  }

  /** Lease ids revoked so far (explicitly, by prefix, or with their token). */
  revoked(): readonly string[] {
    return this.revokedLog;
  }

  /** The `data` of sys/leases/lookup. */
  describe(lease: Lease): Record<string, unknown> {
    return {
      id: lease.id,
      issue_time: rfc3339(lease.issueTime),
      expire_time: rfc3339(lease.expireTime),
      last_renewal: lease.lastRenewal === null ? null : rfc3339(lease.lastRenewal),
      renewable: lease.renewable,
      ttl: Math.max(0, Math.floor((lease.expireTime - this.clock()) / 1000)),
    };
  }
}
