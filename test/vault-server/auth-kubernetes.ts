// The kubernetes auth method, following vault-plugin-auth-kubernetes's login checks and messages.
// Verification is local (configured public keys); the TokenReview call is not emulated.
import type { KeyObject } from 'node:crypto';
import { badRequest, loginDenied, errorReply } from './vault-errors.js';
import { parsePublicKeys, verifyJwt } from './jwt-verify.js';
import { globMatch, isJsonObject, stringField } from './util.js';
import { SYSTEM_MAX_TTL_SECONDS } from './tokens.js';
import type { AuthEngine, LoginGrant, LoginRequest } from './mounts.js';
import type { Reply } from './types.js';

export interface KubernetesAuthConfig {
  /** When set, the JWT's `iss` must equal it; when unset, issuer is not checked (as in the plugin). */
  readonly issuer?: string;
  readonly publicKeysPem: readonly string[];
}

export interface KubernetesRoleConfig {
  readonly boundServiceAccountNames: readonly string[];
  readonly boundServiceAccountNamespaces: readonly string[];
  readonly audience?: string;
  readonly policies: readonly string[];
  readonly ttlSeconds?: number;
  readonly maxTtlSeconds?: number;
  /** `serviceaccount_uid` (default) or `serviceaccount_name`, as the plugin's alias_name_source. */
  readonly aliasNameSource?: 'serviceaccount_uid' | 'serviceaccount_name';
}

interface ProjectedIdentity { name: string; namespace: string; uid: string; secretName: string }

/** Reads the SA identity from projected (`kubernetes.io`) or legacy secret-based claims. */
function identityFrom(claims: Record<string, unknown>): ProjectedIdentity {
  const k8s = claims['kubernetes.io'];
  if (isJsonObject(k8s) && isJsonObject(k8s['serviceaccount'])) {
    const sa = k8s['serviceaccount'];
    return {
      name: typeof sa['name'] === 'string' ? sa['name'] : '',
      uid: typeof sa['uid'] === 'string' ? sa['uid'] : '',
      namespace: typeof k8s['namespace'] === 'string' ? k8s['namespace'] : '',
      secretName: '',
    };
  }
  const str = (k: string): string => {
    const v = claims[k];
    return typeof v === 'string' ? v : '';
  };
  return {
    name: str('kubernetes.io/serviceaccount/service-account.name'),
    uid: str('kubernetes.io/serviceaccount/service-account.uid'),
    namespace: str('kubernetes.io/serviceaccount/namespace'),
    secretName: str('kubernetes.io/serviceaccount/secret.name'),
  };
}

export class KubernetesAuth implements AuthEngine {
  readonly type = 'kubernetes';
  private keys: KeyObject[];
  private issuer: string | undefined;
  private readonly roles = new Map<string, KubernetesRoleConfig>();

  constructor(config: KubernetesAuthConfig) {
    this.keys = parsePublicKeys(config.publicKeysPem);
    this.issuer = config.issuer;
  }

  configure(config: KubernetesAuthConfig): void {
    this.keys = parsePublicKeys(config.publicKeysPem);
    this.issuer = config.issuer;
  }

  setRole(name: string, role: KubernetesRoleConfig): void {
    if (role.boundServiceAccountNames.length === 0 || role.boundServiceAccountNamespaces.length === 0) {
      throw new Error('kubernetes role needs bound service account names and namespaces');
    }
    this.roles.set(name, role);
  }

  deleteRole(name: string): void {
    this.roles.delete(name);
  }

  login(req: LoginRequest): LoginGrant | Reply {
    const roleName = stringField(req.body, 'role');
    if (roleName === '') return badRequest('missing role');
    const jwt = stringField(req.body, 'jwt');
    if (jwt === '') return badRequest('missing jwt');
    const role = this.roles.get(roleName);
    if (!role) return badRequest(`invalid role name ${JSON.stringify(roleName)}`);
    // Without keys the plugin would ask the TokenReview API, which this server cannot reach.
    if (this.keys.length === 0) return loginDenied();

    const result = verifyJwt(jwt, {
      keys: this.keys,
      nowMs: req.now,
      issuer: this.issuer,
      audiences: role.audience ? [role.audience] : undefined,
      requireTimeClaim: false,
    });
    if (!result.ok) {
      // The plugin hides signature failures behind a bare "permission denied".
      return result.signatureError ? loginDenied() : errorReply(403, [result.error]);
    }
    const sa = identityFrom(result.claims);
    const names = role.boundServiceAccountNames;
    if (!(names.length === 1 && names[0] === '*') && !names.some((p) => globMatch(p, sa.name))) {
      return errorReply(403, ['service account name not authorized']);
    }
    const namespaces = role.boundServiceAccountNamespaces;
    if (!(namespaces[0] === '*' || namespaces.some((p) => globMatch(p, sa.namespace)))) {
      return errorReply(403, ['namespace not authorized']);
    }
    if (sa.uid === '') return errorReply(500, ['could not parse UID from claims']);

    const aliasName = role.aliasNameSource === 'serviceaccount_name' ? `${sa.namespace}/${sa.name}` : sa.uid;
    const ttl = role.ttlSeconds ?? SYSTEM_MAX_TTL_SECONDS;
    return {
      policies: ['default', ...role.policies],
      metadata: {
        role: roleName,
        service_account_name: sa.name,
        service_account_namespace: sa.namespace,
        service_account_secret_name: sa.secretName,
        service_account_uid: sa.uid,
      },
      displayName: `${sa.namespace}-${sa.name}`,
      aliasName,
      ttlSeconds: ttl,
      maxTtlSeconds: Math.max(ttl, role.maxTtlSeconds ?? SYSTEM_MAX_TTL_SECONDS),
      role: roleName,
    };
  }
}
