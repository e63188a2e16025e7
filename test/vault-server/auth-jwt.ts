// The jwt auth method (vault-plugin-auth-jwt) with static public keys: bound audiences, subject,
// claims and the user claim. Its errors are 400s worded like the plugin's.
import type { KeyObject } from 'node:crypto';
import { badRequest } from './vault-errors.js';
import { audienceOf, parsePublicKeys, verifyJwt } from './jwt-verify.js';
import { globMatch, stringField } from './util.js';
import { SYSTEM_MAX_TTL_SECONDS } from './tokens.js';
import type { AuthEngine, LoginGrant, LoginRequest } from './mounts.js';
import type { JsonObject, Reply } from './types.js';

export interface JwtAuthConfig {
  readonly publicKeysPem: readonly string[];
  readonly boundIssuer?: string;
}

export interface JwtRoleConfig {
  readonly boundAudiences: readonly string[];
  readonly userClaim: string;
  readonly boundSubject?: string;
  /** Claim (or `/json/pointer`) → accepted value(s). */
  readonly boundClaims?: Readonly<Record<string, string | number | boolean | readonly (string | number | boolean)[]>>;
  readonly boundClaimsType?: 'string' | 'glob';
  /** Claim → metadata key, copied into the token's metadata. */
  readonly claimMappings?: Readonly<Record<string, string>>;
  readonly policies: readonly string[];
  readonly ttlSeconds?: number;
  readonly maxTtlSeconds?: number;
}

/** Claims are addressed by name or by JSON pointer (`/kubernetes.io/namespace`), as in the plugin. */
function getClaim(claims: JsonObject, name: string): unknown {
  if (!name.startsWith('/')) return claims[name];
  let cur: unknown = claims;
  for (const raw of name.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as JsonObject)[key];
  }
  return cur;
}

function normalizeList(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v as unknown[];
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return [v];
  return undefined;
}

export class JwtAuth implements AuthEngine {
  readonly type = 'jwt';
  private keys: KeyObject[];
  private boundIssuer: string | undefined;
  private readonly roles = new Map<string, JwtRoleConfig>();

  constructor(config: JwtAuthConfig) {
    this.keys = parsePublicKeys(config.publicKeysPem);
    this.boundIssuer = config.boundIssuer;
  }

  configure(config: JwtAuthConfig): void {
    this.keys = parsePublicKeys(config.publicKeysPem);
    this.boundIssuer = config.boundIssuer;
  }

  setRole(name: string, role: JwtRoleConfig): void {
    this.roles.set(name, role);
  }

  login(req: LoginRequest): LoginGrant | Reply {
    const roleName = stringField(req.body, 'role');
    if (roleName === '') return badRequest('missing role');
    const role = this.roles.get(roleName);
    if (!role) return badRequest(`role ${JSON.stringify(roleName)} could not be found`);
    const jwt = stringField(req.body, 'jwt');
    if (jwt === '') return badRequest('missing token');

    const result = verifyJwt(jwt, {
      keys: this.keys,
      nowMs: req.now,
      issuer: this.boundIssuer,
      subject: role.boundSubject,
      audiences: role.boundAudiences,
      requireTimeClaim: true,
    });
    if (!result.ok) return badRequest(`error validating token: ${result.error}`);
    const claims = result.claims;
    if (role.boundAudiences.length === 0 && audienceOf(claims).length > 0) {
      return badRequest('audience claim found in JWT but no audiences bound to the role');
    }

    const user = getClaim(claims, role.userClaim);
    if (user === undefined || user === null) return badRequest(`claim ${JSON.stringify(role.userClaim)} not found in token`);
    if (typeof user !== 'string') return badRequest(`claim ${JSON.stringify(role.userClaim)} could not be converted to string`);

    const metadata: Record<string, string> = {};
    for (const [claim, key] of Object.entries(role.claimMappings ?? {})) {
      const v = getClaim(claims, claim);
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') metadata[key] = String(v);
    }
    metadata['role'] = roleName;

    for (const [claim, expected] of Object.entries(role.boundClaims ?? {})) {
      const actual = normalizeList(getClaim(claims, claim));
      if (getClaim(claims, claim) === undefined) return badRequest(`error validating claims: claim ${JSON.stringify(claim)} is missing`);
      if (!actual) return badRequest(`error validating claims: received claim is not a string, bool, int or list: ${JSON.stringify(getClaim(claims, claim))}`);
      const wanted = normalizeList(expected) ?? [];
      const glob = role.boundClaimsType === 'glob';
      const found = wanted.some((w) => actual.some((a) => (glob ? typeof w === 'string' && typeof a === 'string' && globMatch(w, a) : a === w)));
      if (!found) return badRequest(`error validating claims: claim ${JSON.stringify(claim)} does not match any associated bound claim values`);
    }

    const ttl = role.ttlSeconds ?? SYSTEM_MAX_TTL_SECONDS;
    return {
      policies: ['default', ...role.policies],
      metadata,
      displayName: user,
      aliasName: user,
      ttlSeconds: ttl,
      maxTtlSeconds: Math.max(ttl, role.maxTtlSeconds ?? SYSTEM_MAX_TTL_SECONDS),
      role: roleName,
    };
  }
}
