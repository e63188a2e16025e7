// Vault's error bodies, reproduced so a client under test sees exactly what it would see from Vault.
import type { Reply } from './types.js';

/**
 * Vault's core wraps request-level failures in a go-multierror, so ACL denials read
 * "1 error occurred:\n\t* permission denied\n\n" while plugin errors are bare strings.
 */
export function multiError(messages: readonly string[]): string {
  const head = messages.length === 1 ? '1 error occurred:' : `${messages.length} errors occurred:`;
  return `${head}\n${messages.map((m) => `\t* ${m}`).join('\n')}\n\n`;
}

export const MSG_PERMISSION_DENIED = 'permission denied';
export const MSG_INVALID_TOKEN = 'invalid token';
export const MSG_SEALED = 'Vault is sealed';

export function errorReply(status: number, errors: readonly string[], headers?: Record<string, string>): Reply {
  return headers ? { status, body: { errors }, headers } : { status, body: { errors } };
}

/** Policy said no (or no token was sent). */
export function aclDenied(): Reply {
  return errorReply(403, [multiError([MSG_PERMISSION_DENIED])]);
}

/** Token unknown, revoked or expired: Vault reports both errors since 1.16. */
export function invalidToken(): Reply {
  return errorReply(403, [multiError([MSG_PERMISSION_DENIED, MSG_INVALID_TOKEN])]);
}

/** Plugin-level login refusal (logical.ErrPermissionDenied returned by the auth backend). */
export function loginDenied(message = MSG_PERMISSION_DENIED): Reply {
  return errorReply(403, [message]);
}

/** logical.ErrorResponse from a backend: 400 with the bare message. */
export function badRequest(message: string): Reply {
  return errorReply(400, [message]);
}

/** A read that found nothing: Vault answers 404 with an empty error list. */
export function notFound(): Reply {
  return errorReply(404, []);
}

export function noHandler(route: string): Reply {
  return errorReply(404, [`no handler for route ${JSON.stringify(route)}. route entry not found.`]);
}

export function unsupportedPath(): Reply {
  return errorReply(404, [multiError(['unsupported path'])]);
}

export function unsupportedOperation(): Reply {
  return errorReply(405, [multiError(['unsupported operation'])]);
}

export function sealed(): Reply {
  return errorReply(503, [MSG_SEALED]);
}

export function internalError(message: string): Reply {
  return errorReply(500, [multiError([message])]);
}

/** Thrown inside handlers to short-circuit with a ready reply. */
export class ReplyError extends Error {
  constructor(readonly reply: Reply) {
    super(`vault reply ${reply.status}`);
    this.name = 'ReplyError';
  }
}
