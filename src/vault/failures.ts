/**
 * Turns what node-vault and undici throw into catalog errors, and decides which failures are worth a retry.
 * Every message names the Vault address and path; none quotes a request or response body.
 */
import { errnoCode, ProviderError, sanitizeVaultMessage } from '../errors.js';
import { describeBudget, expiredBudget } from '../admission/time-budget.js';
import { BodyTooLargeError } from '../http/undici.js';
import { NonJsonResponseError, ResponseTooDeepError, VaultConnectError } from './transport.js';
import { RedirectRefusedError, refusalReason } from './redirect.js';

/** Where a request went, for messages. */
export interface RequestTarget {
  readonly address: string;
  readonly path: string;
  readonly method: string;
}

/** How far a failed request got: never sent (safe to retry anything), answered, or unknown. */
export type Reach = 'not-sent' | 'answered' | 'unknown';

export interface ClassifiedFailure {
  readonly error: ProviderError;
  readonly reach: Reach;
  /** Worth another attempt, for an idempotent request. */
  readonly transient: boolean;
  /** Seconds from a Retry-After header, when Vault gave one. */
  readonly retryAfterSeconds: number | undefined;
}

interface ApiResponseShape {
  readonly response: { readonly statusCode: number; readonly body: unknown; readonly headers?: unknown };
}

function isApiResponseError(err: unknown): err is Error & ApiResponseShape {
  if (!(err instanceof Error)) return false;
  const response = (err as { response?: unknown }).response;
  return typeof response === 'object' && response !== null && typeof (response as { statusCode?: unknown }).statusCode === 'number';
}

/** Vault's `errors` (or `warnings`) strings, cleaned of anything token-shaped, joined for a message. */
function vaultErrors(body: unknown, field: 'errors' | 'warnings' = 'errors'): string {
  if (typeof body !== 'object' || body === null) return '';
  const errors = (body as Record<string, unknown>)[field];
  if (!Array.isArray(errors)) return '';
  return errors
    .filter((e): e is string => typeof e === 'string')
    .map((e) => sanitizeVaultMessage(e.replace(/\s+/g, ' ').trim()))
    .filter((e) => e !== '')
    .join('; ');
}

function vaultWarning(body: unknown): string {
  return vaultErrors(body, 'warnings');
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_|ALTNAME|HOSTNAME|EPROTO/;

/** undici wraps socket errors: look through a few `cause` links for the errno-style code. */
function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = errnoCode(current);
    if (code !== undefined) return code;
    current = current.cause;
  }
  return undefined;
}

function at(target: RequestTarget): string {
  return `${target.method} ${target.address}${target.path}`;
}

export function classifyFailure(err: unknown, target: RequestTarget, callerSignal: AbortSignal | undefined): ClassifiedFailure {
  const ctx = { vaultAddress: target.address, vaultPath: target.path };
  // First: a request cut short because the mount's time budget ran out fails with that, whatever the cut made of it
  // (the budget's own error, an abort), so the caller hears in time which Vault and which request were too slow.
  const expired = expiredBudget(callerSignal);
  if (expired !== undefined) {
    return {
      error: new ProviderError(
        'VAULT_UNAVAILABLE',
        `no successful answer from Vault to ${at(target)} within the mount's time budget of ${describeBudget(expired.budget)}; the driver retries the mount`,
        ctx,
      ),
      reach: 'unknown',
      transient: false,
      retryAfterSeconds: undefined,
    };
  }
  if (err instanceof ProviderError) return { error: err, reach: 'unknown', transient: false, retryAfterSeconds: undefined };
  if (callerSignal?.aborted === true) {
    return {
      error: new ProviderError('DEADLINE_EXCEEDED', `the caller's deadline passed during ${at(target)}`, ctx),
      reach: 'unknown',
      transient: false,
      retryAfterSeconds: undefined,
    };
  }
  if (isApiResponseError(err)) {
    const status = err.response.statusCode;
    const detail = vaultErrors(err.response.body);
    const suffix = detail === '' ? '' : `: ${detail}`;
    const withStatus = { ...ctx, httpStatus: status, ...(detail === '' ? {} : { detail }) };
    const headers = (err.response.headers ?? {}) as Record<string, unknown>;
    const retryAfterRaw = headers['retry-after'];
    const retryAfter = typeof retryAfterRaw === 'string' && /^\d+$/.test(retryAfterRaw) ? Number(retryAfterRaw) : undefined;
    if (status === 403) {
      return {
        error: new ProviderError('PERMISSION_DENIED', `Vault denied ${at(target)} (403)${suffix}`, withStatus),
        reach: 'answered',
        transient: false,
        retryAfterSeconds: undefined,
      };
    }
    if (status === 404) {
      // Real Vault explains some 404s in `warnings` (found by the real suite's differential test). The common one,
      // a KV v1-style path on a KV v2 mount, is a configuration mistake, not an absent secret: an optional object
      // must not be skipped silently for it.
      const warning = vaultWarning(err.response.body);
      if (/Invalid path for a versioned K\/V secrets engine/i.test(warning)) {
        return {
          error: new ProviderError(
            'INVALID_CONFIG',
            `Vault says ${target.path} is not an API path of its versioned KV engine (404): KV v2 reads are <mount>/data/<path>; Vault's hint: ${warning}`,
            withStatus,
          ),
          reach: 'answered',
          transient: false,
          retryAfterSeconds: undefined,
        };
      }
      return {
        error: new ProviderError('SECRET_NOT_FOUND', `Vault has no secret at ${at(target)} (404)${warning === '' ? '' : `; Vault's hint: ${warning}`}`, withStatus),
        reach: 'answered',
        transient: false,
        retryAfterSeconds: undefined,
      };
    }
    // Retried as Vault's Go client retries (api.DefaultRetryPolicy over go-retryablehttp's): 429, 5xx except 501
    // Not Implemented, and 412, which a node answers before doing anything when it has not caught up with the
    // X-Vault-Index a client asked for (so, like 429, nothing happened and even a write may go again).
    if (status === 429 || status === 412 || (status >= 500 && status !== 501)) {
      return {
        error: new ProviderError('VAULT_UNAVAILABLE', `Vault answered ${status} to ${at(target)}${suffix}`, withStatus),
        reach: status === 429 || status === 412 ? 'not-sent' : 'answered',
        transient: true,
        retryAfterSeconds: retryAfter,
      };
    }
    // Real Vault answers 405 to a read of a write-only path, the usual slip being pki/issue without `method: PUT`.
    const hint = status === 405 && target.method === 'GET' ? '; this path takes a write: set the object\'s method to PUT (or POST)' : '';
    return {
      error: new ProviderError('VAULT_REQUEST_REJECTED', `Vault rejected ${at(target)} (${status})${suffix}${hint}`, withStatus),
      reach: 'answered',
      transient: false,
      retryAfterSeconds: undefined,
    };
  }
  if (err instanceof RedirectRefusedError) {
    // Nothing was done at the node that redirected, and nothing was sent to the target.
    return {
      error: new ProviderError(
        'VAULT_REDIRECT_REFUSED',
        `Vault at ${err.from} redirected ${target.method} ${target.path} to ${err.to ?? 'nowhere'}, ${refusalReason(err)}`,
        { ...ctx, vaultAddress: err.from },
      ),
      reach: 'not-sent',
      transient: false,
      retryAfterSeconds: undefined,
    };
  }
  if (err instanceof NonJsonResponseError) {
    return {
      error: new ProviderError('BAD_VAULT_RESPONSE', `${err.message} for ${at(target)}`, { ...ctx, httpStatus: err.statusCode }),
      reach: 'answered',
      transient: err.statusCode >= 500,
      retryAfterSeconds: undefined,
    };
  }
  if (err instanceof BodyTooLargeError || err instanceof ResponseTooDeepError) {
    const what = err instanceof BodyTooLargeError ? `Vault's response exceeded ${err.limitBytes} bytes` : err.message;
    return {
      error: new ProviderError('BAD_VAULT_RESPONSE', `${what} for ${at(target)}`, ctx),
      reach: 'answered',
      transient: false,
      retryAfterSeconds: undefined,
    };
  }
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError' || name === 'AbortError' || name === 'HeadersTimeoutError' || name === 'BodyTimeoutError') {
    return {
      error: new ProviderError('VAULT_UNAVAILABLE', `Vault did not answer ${at(target)} within the request timeout`, ctx),
      reach: 'unknown',
      transient: true,
      retryAfterSeconds: undefined,
    };
  }
  const code = errorCode(err);
  // Whatever broke while connecting, the request was never sent. A certificate or protocol failure will fail the
  // same way next time; a refused, reset or timed-out connection may not (a Vault pod restarting, a load balancer
  // dropping a handshake), so those are worth another attempt, for writes too.
  const connecting = err instanceof VaultConnectError;
  if (code !== undefined && TLS_CODE.test(code)) {
    return {
      error: new ProviderError('VAULT_UNAVAILABLE', `TLS failure talking to ${target.address} (${code}) for ${target.path}`, ctx),
      reach: 'not-sent',
      transient: false,
      retryAfterSeconds: undefined,
    };
  }
  if (code !== undefined && NOT_SENT_CODES.has(code)) {
    return {
      error: new ProviderError('VAULT_UNAVAILABLE', `cannot reach Vault at ${target.address} (${code}) for ${target.path}`, ctx),
      reach: 'not-sent',
      transient: true,
      retryAfterSeconds: undefined,
    };
  }
  if (connecting) {
    return {
      error: new ProviderError('VAULT_UNAVAILABLE', `cannot connect to Vault at ${target.address} (${code ?? 'error'}) for ${target.path}`, ctx),
      reach: 'not-sent',
      transient: true,
      retryAfterSeconds: undefined,
    };
  }
  return {
    error: new ProviderError(
      'VAULT_UNAVAILABLE',
      `connection to Vault at ${target.address} failed (${code ?? (name || 'error')}) during ${target.path}`,
      ctx,
    ),
    reach: 'unknown',
    transient: true,
    retryAfterSeconds: undefined,
  };
}
