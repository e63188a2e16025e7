// The Vault core: namespaces, tokens, leases and seal state, and the request pipeline that every
// HTTP request goes through (namespace → seal → token → ACL → engine), mirroring Vault's order.
import type { X509Certificate } from 'node:crypto';
import { Acl, renderPolicyTemplates } from './policy.js';
import { NamespaceRegistry, isWithin, relativeNamespace, type Namespace } from './namespaces.js';
import { TokenStore, type TokenEntry } from './tokens.js';
import { LeaseManager } from './leases.js';
import { aclDenied, badRequest, invalidToken, loginDenied, noHandler, ReplyError, sealed, errorReply, unsupportedPath } from './vault-errors.js';
import { isReply, type AuthMountEntry, type MountEntry } from './mounts.js';
import { authBlock } from './tokens.js';
import { ok, stableUuid } from './util.js';
import { handleSys } from './sys-routes.js';
import { handleTokenRoutes } from './token-routes.js';
import type { Clock, JsonObject, Operation, Reply, RequestKind } from './types.js';

export interface CoreRequest {
  readonly method: string;
  /** Path after `/v1/`, before namespace resolution. */
  readonly rawRoute: string;
  readonly query: URLSearchParams;
  readonly headerNamespace: string | undefined;
  readonly token: string | undefined;
  readonly body: JsonObject;
  /** Over TLS, with the client certificate chain presented (leaf first); absent means plain HTTP. */
  readonly tls?: { readonly clientCertificates: readonly X509Certificate[] };
}

/** Everything a route handler needs about one request once namespace and token are known. */
export interface RouteContext {
  readonly core: VaultCore;
  readonly method: string;
  op: Operation;
  readonly route: string;
  readonly ns: Namespace;
  readonly query: URLSearchParams;
  readonly body: JsonObject;
  readonly token: TokenEntry | undefined;
  readonly now: number;
}

export interface Resolution {
  readonly ns: Namespace | undefined;
  readonly route: string;
  readonly kind: RequestKind;
}

function longestPrefix<T>(map: Map<string, T>, path: string): [string, T] | undefined {
  let best: [string, T] | undefined;
  for (const [prefix, value] of map) {
    const matches = path.startsWith(prefix) || `${path}/` === prefix;
    if (matches && (!best || prefix.length > best[0].length)) best = [prefix, value];
  }
  return best;
}

export function operationFor(method: string, query: URLSearchParams): Operation | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return query.get('list') === 'true' ? 'list' : 'read';
    case 'LIST': return 'list';
    case 'POST':
    case 'PUT': return 'update';
    case 'DELETE': return 'delete';
    case 'PATCH': return 'patch';
    default: return undefined;
  }
}

const UNAUTHENTICATED_SYS = new Set(['sys/health', 'sys/seal-status', 'sys/leader', 'sys/init']);

export class VaultCore {
  readonly namespaces = new NamespaceRegistry();
  readonly tokens: TokenStore;
  readonly leases: LeaseManager;
  readonly rootTokenEntry: TokenEntry;
  isSealed = false;
  /** Bumped on every policy change so cached ACLs are rebuilt. */
  private policyEpoch = 0;
  private readonly aclCache = new Map<string, { epoch: number; acl: Acl }>();

  constructor(readonly clock: Clock, rootToken: string) {
    this.tokens = new TokenStore(clock);
    this.leases = new LeaseManager(clock);
    this.tokens.onRevoke((t) => {
      this.leases.revokeByToken(t.accessor);
      this.aclCache.delete(t.id);
    });
    this.rootTokenEntry = this.tokens.createRoot(rootToken);
  }

  policiesChanged(): void {
    this.policyEpoch++;
  }

  findMount(ns: Namespace, route: string): { mount: MountEntry; subPath: string } | undefined {
    const hit = longestPrefix(ns.mounts, route);
    if (!hit) return undefined;
    return { mount: hit[1], subPath: route.slice(Math.min(route.length, hit[0].length)) };
  }

  findAuthMount(ns: Namespace, route: string): { mount: AuthMountEntry; subPath: string } | undefined {
    if (!route.startsWith('auth/')) return undefined;
    const rest = route.slice('auth/'.length);
    const hit = longestPrefix(ns.authMounts, rest);
    if (!hit) return undefined;
    return { mount: hit[1], subPath: rest.slice(Math.min(rest.length, hit[0].length)) };
  }

  /** Namespace, relative route and log classification of a request, without side effects. */
  resolve(method: string, rawRoute: string, headerNamespace: string | undefined): Resolution {
    const resolved = this.namespaces.resolve(headerNamespace, rawRoute);
    if (!resolved) return { ns: undefined, route: rawRoute, kind: 'other' };
    return { ns: resolved.ns, route: resolved.route, kind: this.classify(method, resolved.ns, resolved.route) };
  }

  private classify(method: string, ns: Namespace, route: string): RequestKind {
    if (route.startsWith('auth/')) {
      const auth = this.findAuthMount(ns, route);
      if (auth && (auth.subPath === 'login' || auth.subPath.startsWith('login/'))) return 'login';
      if (/^auth\/token\/renew(-self|-accessor)?$/.test(route)) return 'renew';
      if (/^auth\/token\/revoke/.test(route)) return 'revoke';
      return 'other';
    }
    if (route.startsWith('sys/')) {
      if (/^sys\/(leases\/)?renew(\/|$)/.test(route)) return 'renew';
      if (/^sys\/(leases\/)?revoke/.test(route)) return 'revoke';
      return 'sys';
    }
    const found = this.findMount(ns, route);
    if (found) {
      const kind = found.mount.engine.kindOf?.(method, found.subPath);
      if (kind) return kind;
      return method === 'GET' || method === 'LIST' || method === 'HEAD' ? 'read' : 'write';
    }
    return 'other';
  }

  private aclFor(token: TokenEntry): Acl {
    const cached = this.aclCache.get(token.id);
    if (cached && cached.epoch === this.policyEpoch) return cached.acl;
    const ns = this.namespaces.get(token.nsPath);
    const identity = { entityId: token.entityId, ...(token.alias === undefined ? {} : { alias: token.alias }) };
    const policies = token.policies.flatMap((name) => {
      const p = ns?.policies.get(name);
      return p ? [renderPolicyTemplates(p, identity)] : [];
    });
    const acl = new Acl(policies, token.policies.includes('root'));
    this.aclCache.set(token.id, { epoch: this.policyEpoch, acl });
    return acl;
  }

  /** The path a token's policies are written against: relative to the token's namespace. */
  aclPath(token: TokenEntry, ns: Namespace, route: string): string | undefined {
    if (!isWithin(ns.path, token.nsPath)) return undefined;
    return `${relativeNamespace(ns.path, token.nsPath)}${route}`;
  }

  allowed(token: TokenEntry, ns: Namespace, route: string, op: Operation): boolean {
    const path = this.aclPath(token, ns, route);
    return path !== undefined && this.aclFor(token).allows(path, op);
  }

  /** Whether the token's policies grant anything inside a mount (the access check of sys/internal/ui/mounts). */
  hasMountAccess(token: TokenEntry, ns: Namespace, mountPath: string): boolean {
    const path = this.aclPath(token, ns, mountPath);
    return path !== undefined && this.aclFor(token).grantsWithin(path);
  }

  capabilitiesOf(token: TokenEntry, ns: Namespace, route: string): string[] {
    const path = this.aclPath(token, ns, route);
    if (path === undefined) return ['deny'];
    if (token.policies.includes('root')) return ['root'];
    const caps = [...this.aclFor(token).capabilities(path)].sort();
    return caps.length === 0 ? ['deny'] : caps;
  }

  async handle(req: CoreRequest): Promise<Reply> {
    try {
      return await this.pipeline(req);
    } catch (err: unknown) {
      if (err instanceof ReplyError) return err.reply;
      throw err;
    }
  }

  private async pipeline(req: CoreRequest): Promise<Reply> {
    const resolved = this.namespaces.resolve(req.headerNamespace, req.rawRoute);
    if (!resolved) return noHandler(req.rawRoute);
    const { ns, route } = resolved;
    const method = req.method;
    const op = operationFor(method, req.query);
    // Vault's HTTP layer (http/logical.go, buildLogicalRequestNoAuth) builds the data of a POST or PUT from its body
    // alone: a query string is not read. Real Vault answered so in the real suite (a PUT to pki/issue with only
    // ?common_name=… is a 400 for a missing common_name).
    const query = method === 'POST' || method === 'PUT' ? new URLSearchParams() : req.query;
    if (!op) return errorReply(405, []);

    const isHealth = UNAUTHENTICATED_SYS.has(route) && ns.path === '';
    if (this.isSealed && !isHealth) return sealed();
    if (route.endsWith('/') && route !== '' && (op === 'update' || op === 'create')) {
      return badRequest("cannot write to a path ending in '/'");
    }
    const now = this.clock();
    const base = { core: this, method, op, route, ns, query, body: req.body, now };

    if (isHealth) return handleSys({ ...base, token: undefined });

    // Login paths are unauthenticated; any token sent along is ignored.
    const auth = this.findAuthMount(ns, route);
    if (auth && (auth.subPath === 'login' || auth.subPath.startsWith('login/'))) {
      // Unauthenticated paths answer before the core's error wrapping: a bare message, as real Vault sends it.
      if (op !== 'update') return errorReply(405, ['unsupported operation']);
      return this.login(ns, auth.mount, auth.subPath, req, now);
    }
    const secretMount = this.findMount(ns, route);
    if (secretMount?.mount.engine.isUnauthenticated?.(secretMount.subPath) && (op === 'read')) {
      return secretMount.mount.engine.handle({ op, method, subPath: secretMount.subPath, query, body: req.body,
        ns, mount: secretMount.mount, token: undefined, now });
    }

    // No token at all is refused before any policy is looked at: real Vault sends the bare message here.
    if (!req.token) return loginDenied();
    const token = this.tokens.lookup(req.token);
    if (!token) return invalidToken();

    // Vault's existence check turns a write into create or update before the ACL is consulted.
    let effectiveOp: Operation = op;
    if (op === 'update' && secretMount?.mount.engine.exists) {
      effectiveOp = secretMount.mount.engine.exists(secretMount.subPath) ? 'update' : 'create';
    }
    if (!this.allowed(token, ns, route, effectiveOp)) return aclDenied();
    const ctx: RouteContext = { ...base, op: effectiveOp, token };

    if (route.startsWith('sys/')) return handleSys(ctx);
    if (route.startsWith('auth/token/')) return handleTokenRoutes(ctx);
    if (route.startsWith('auth/')) return auth ? unsupportedPath() : noHandler(route);
    if (!secretMount) return noHandler(route);
    return secretMount.mount.engine.handle({
      op: effectiveOp, method, subPath: secretMount.subPath, query, body: req.body,
      ns, mount: secretMount.mount, token, now,
    });
  }

  private async login(ns: Namespace, mount: AuthMountEntry, subPath: string, req: CoreRequest, now: number): Promise<Reply> {
    const result = await mount.engine.login({
      body: req.body, now, mountAccessor: mount.accessor, subPath,
      tls: req.tls !== undefined, clientCertificates: req.tls?.clientCertificates ?? [],
    });
    if (isReply(result)) return result;
    const token = this.tokens.create({
      nsPath: ns.path,
      nsId: ns.id,
      policies: result.policies,
      meta: { ...result.metadata },
      displayName: `${mount.path.replace(/\/$/, '').replace(/\//g, '-')}-${result.displayName}`,
      path: `auth/${mount.path}login`,
      ttlSeconds: result.ttlSeconds,
      maxTtlSeconds: result.maxTtlSeconds,
      entityId: stableUuid(ns.id, mount.accessor, result.aliasName),
      alias: { mountAccessor: mount.accessor, name: result.aliasName, metadata: { ...result.metadata } },
    });
    // Real Vault (v1.21) answers a login with an empty mount_type: it does not say which kind of auth method it is.
    // The TTL it granted, as real Vault answers a login: not what is left a millisecond later, which rounds down to
    // one second less whenever the clock ticks between the two.
    const granted = token.expireAt === null ? 0 : Math.round((token.expireAt - token.createdAt) / 1000);
    return ok({ auth: authBlock(token, granted), mount_type: '' });
  }
}
