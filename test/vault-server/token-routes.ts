// The built-in token auth method: lookup/renew/revoke of the calling token, plus create and
// lookup for root-style setup over HTTP.
import { badRequest, errorReply, noHandler, unsupportedPath } from './vault-errors.js';
import { authBlock, describeToken, SYSTEM_MAX_TTL_SECONDS } from './tokens.js';
import { durationField, listField, noContent, ok, stringField } from './util.js';
import type { RouteContext } from './core.js';
import type { Reply } from './types.js';

export function handleTokenRoutes(ctx: RouteContext): Reply {
  const token = ctx.token;
  if (!token) return noHandler(ctx.route);
  const { core } = ctx;
  const sub = ctx.route.slice('auth/token/'.length);
  switch (sub) {
    case 'lookup-self':
      if (ctx.op !== 'read' && ctx.op !== 'update') return unsupportedPath();
      return ok({ data: describeToken(token, core.tokens.ttlSeconds(token)), mount_type: 'token' });
    case 'renew-self': {
      if (ctx.op !== 'update') return unsupportedPath();
      if (!token.renewable) return badRequest('lease is not renewable');
      const { ttl, warnings } = core.tokens.renew(token, durationField(ctx.body, 'increment'));
      return ok({ auth: authBlock(token, ttl), warnings, mount_type: 'token' });
    }
    case 'revoke-self':
      if (ctx.op !== 'update') return unsupportedPath();
      core.tokens.revoke(token.id);
      return noContent();
    case 'lookup': {
      const target = core.tokens.lookup(stringField(ctx.body, 'token'));
      // Vault answers 403, not 400, for a token it does not know (the token store's logical.ErrPermissionDenied).
      if (!target) return errorReply(403, ['bad token']);
      return ok({ data: describeToken(target, core.tokens.ttlSeconds(target)), mount_type: 'token' });
    }
    case 'revoke': {
      core.tokens.revoke(stringField(ctx.body, 'token'));
      return noContent();
    }
    case 'create':
    case 'create-orphan': {
      if (ctx.op !== 'update' && ctx.op !== 'create') return unsupportedPath();
      const policies = listField(ctx.body, 'policies');
      const wanted = policies.length > 0 ? policies : token.policies;
      if (!token.isRoot && wanted.some((p) => !token.policies.includes(p))) {
        return badRequest('child policies must be subset of parent');
      }
      const ttl = durationField(ctx.body, 'ttl') ?? SYSTEM_MAX_TTL_SECONDS;
      const noDefault = ctx.body['no_default_policy'] === true;
      const created = core.tokens.create({
        nsPath: ctx.ns.path, nsId: ctx.ns.id,
        policies: noDefault || wanted.includes('root') ? wanted : ['default', ...wanted],
        meta: null, displayName: `token${stringField(ctx.body, 'display_name') ? `-${stringField(ctx.body, 'display_name')}` : ''}`,
        path: `auth/token/${sub}`, ttlSeconds: ttl, maxTtlSeconds: Math.max(ttl, SYSTEM_MAX_TTL_SECONDS), entityId: '',
      });
      return ok({ auth: authBlock(created, core.tokens.ttlSeconds(created)), mount_type: 'token' });
    }
    default:
      return unsupportedPath();
  }
}
