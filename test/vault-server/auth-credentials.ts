// The approle, userpass and cert auth methods: their login APIs, checks and error answers as real Vault 1.21.1
// gives them (measured against the dev server; test/real/suite/auth-methods.real.ts keeps the comparison alive).
import { randomUUID, X509Certificate } from 'node:crypto';
import { badRequest, errorReply, multiError } from './vault-errors.js';
import { stringField } from './util.js';
import { SYSTEM_MAX_TTL_SECONDS } from './tokens.js';
import type { AuthEngine, LoginGrant, LoginRequest } from './mounts.js';
import type { Reply } from './types.js';

export interface CredentialRoleConfig {
  readonly policies: readonly string[];
  readonly ttlSeconds?: number;
}

function grant(role: CredentialRoleConfig, name: string, displayName: string, aliasName: string, metadata: Record<string, string>): LoginGrant {
  const ttl = role.ttlSeconds ?? SYSTEM_MAX_TTL_SECONDS;
  return { policies: ['default', ...role.policies], metadata, displayName, aliasName, ttlSeconds: ttl, maxTtlSeconds: Math.max(ttl, SYSTEM_MAX_TTL_SECONDS), role: name };
}

const INVALID_ROLE_OR_SECRET = 'invalid role or secret ID';

interface AppRole {
  readonly name: string;
  readonly roleId: string;
  readonly config: CredentialRoleConfig;
  readonly secretIds: Set<string>;
}

export class AppRoleAuth implements AuthEngine {
  readonly type = 'approle';
  private readonly byName = new Map<string, AppRole>();
  private readonly byRoleId = new Map<string, AppRole>();

  /** Creates (or replaces) a role; returns its role ID. */
  setRole(name: string, config: CredentialRoleConfig): string {
    const existing = this.byName.get(name);
    if (existing !== undefined) this.byRoleId.delete(existing.roleId);
    const role: AppRole = { name, roleId: randomUUID(), config, secretIds: new Set() };
    this.byName.set(name, role);
    this.byRoleId.set(role.roleId, role);
    return role.roleId;
  }

  newSecretId(name: string): string {
    const role = this.byName.get(name);
    if (role === undefined) throw new Error(`no approle role ${name}`);
    const id = randomUUID();
    role.secretIds.add(id);
    return id;
  }

  destroySecretId(name: string, secretId: string): void {
    this.byName.get(name)?.secretIds.delete(secretId);
  }

  login(req: LoginRequest): LoginGrant | Reply {
    if (req.subPath !== 'login') return errorReply(404, [multiError(['unsupported path'])]);
    const roleId = stringField(req.body, 'role_id');
    // Vault resolves the alias before it validates: without a role ID that step fails with a 500.
    if (roleId === '') return errorReply(500, ['failed to determine alias name from login request']);
    const role = this.byRoleId.get(roleId);
    if (role === undefined) return badRequest(INVALID_ROLE_OR_SECRET);
    const secretId = stringField(req.body, 'secret_id');
    if (secretId === '') return badRequest('missing secret_id');
    if (!role.secretIds.has(secretId)) return badRequest(INVALID_ROLE_OR_SECRET);
    return grant(role.config, role.name, 'approle', role.roleId, { role_name: role.name });
  }
}

export class UserpassAuth implements AuthEngine {
  readonly type = 'userpass';
  private readonly users = new Map<string, { password: string; config: CredentialRoleConfig }>();

  /** Vault stores user names lower-cased, and logs them in case-insensitively. */
  setUser(name: string, password: string, config: CredentialRoleConfig): void {
    this.users.set(name.toLowerCase(), { password, config });
  }

  login(req: LoginRequest): LoginGrant | Reply {
    const m = /^login\/(.+)$/.exec(req.subPath);
    if (m === null) return errorReply(404, [multiError(['unsupported path'])]);
    const username = decodeURIComponent(m[1]!).toLowerCase();
    const password = stringField(req.body, 'password');
    if (password === '') return badRequest('invalid credentials');
    const user = this.users.get(username);
    if (user === undefined || user.password !== password) return badRequest('invalid username or password');
    return grant(user.config, username, username, username, { username });
  }
}

interface CertRole {
  readonly trusted: X509Certificate[];
  readonly config: CredentialRoleConfig;
}

const NO_MATCH = 'failed to match all constraints for this login certificate';

export class CertAuth implements AuthEngine {
  readonly type = 'cert';
  private readonly roles = new Map<string, CertRole>();

  /** `certificatePem`: the CA (or leaf) certificates a client certificate must chain to, as Vault's `certificate`. */
  setRole(name: string, certificatePem: string, config: CredentialRoleConfig): void {
    const pems = certificatePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) throw new Error('a cert role needs a PEM certificate');
    this.roles.set(name, { trusted: pems.map((p) => new X509Certificate(p)), config });
  }

  login(req: LoginRequest): LoginGrant | Reply {
    if (req.subPath !== 'login') return errorReply(404, [multiError(['unsupported path'])]);
    if (!req.tls) return badRequest('tls connection required');
    const leaf = req.clientCertificates[0];
    if (leaf === undefined) return badRequest('client certificate must be supplied');
    const name = stringField(req.body, 'name');
    const candidates = name === '' ? [...this.roles.entries()] : this.roles.has(name) ? [[name, this.roles.get(name)!] as const] : [];
    const nowDate = new Date(req.now);
    const valid = new Date(leaf.validFrom) <= nowDate && nowDate <= new Date(leaf.validTo);
    for (const [roleName, role] of candidates) {
      const trusted = role.trusted.some((t) => t.fingerprint256 === leaf.fingerprint256 || (leaf.checkIssued(t) && leaf.verify(t.publicKey)));
      if (valid && trusted) {
        const commonName = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1] ?? '';
        return grant(role.config, roleName, roleName, commonName, { cert_name: roleName, common_name: commonName, serial_number: BigInt(`0x${leaf.serialNumber}`).toString() });
      }
    }
    return badRequest(NO_MATCH);
  }
}
