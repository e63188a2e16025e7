/** What node-vault and undici throw → catalog errors naming address and path, and which are worth a retry. */
import { errnoCode, ProviderError, sanitizeVaultMessage, type ErrorCode, type ErrorContext } from '../errors.js';
import { describeBudget, expiredBudget } from '../admission/time-budget.js';
import { BodyTooLargeError } from '../http/undici.js';
import { NonJsonResponseError, ResponseTooDeepError, ResponseTooLargeError, VaultConnectError } from './transport.js';
import { RedirectRefusedError, refusalReason } from './transport.js';
import { isPlainObject } from '../shared/plain-object.js';
import type { CredentialRedactor } from '../shared/credential-redactor.js';

export interface RequestTarget {
  readonly address: string;
  readonly path: string;
  readonly method: string;
  /** An object's own Vault namespace (secretNamespace): named in messages, since a path names a secret in every one. */
  readonly namespace?: string;
}

/** ` (Vault namespace "team-a")` after a message about a request in an object's own namespace, else ''. */
export function namespaceSuffix(target: RequestTarget): string {
  return target.namespace === undefined ? '' : ` (Vault namespace ${JSON.stringify(target.namespace)})`;
}

/** How far a failed request got: never sent (safe to retry anything), answered, or unknown. */
export type Reach = 'not-sent' | 'answered' | 'unknown';

export interface ClassifiedFailure {
  readonly error: ProviderError;
  readonly reach: Reach;
  readonly transient: boolean;
  readonly retryAfterSeconds: number | undefined;
}

interface ApiResponseShape {
  readonly response: { readonly statusCode: number; readonly body: unknown; readonly headers?: unknown };
}

function isApiResponseError(err: unknown): err is Error & ApiResponseShape {
  if (!(err instanceof Error)) return false;
  const response = (err as { response?: unknown }).response;
  return isPlainObject(response) && typeof response['statusCode'] === 'number';
}

export const MAX_QUOTED_VAULT_ERRORS = 4;

/** The first MAX_QUOTED_VAULT_ERRORS of Vault's strings, sanitised, and how many more there were. */
function vaultErrors(body: unknown, field: 'errors' | 'warnings' = 'errors'): string {
  if (!isPlainObject(body)) return '';
  const errors = body[field];
  if (!Array.isArray(errors)) return '';
  const quoted: string[] = [];
  let more = 0;
  for (const e of errors as unknown[]) {
    if (typeof e !== 'string') continue;
    if (quoted.length >= MAX_QUOTED_VAULT_ERRORS) {
      more++;
      continue;
    }
    const clean = sanitizeVaultMessage(e);
    if (clean !== '') quoted.push(clean);
  }
  return `${quoted.join('; ')}${more === 0 ? '' : `; and ${more} more`}`;
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

interface Answer {
  readonly status: number;
  readonly detail: string;
  /** `: <detail>`, or '' for none: the tail of a message quoting Vault. */
  readonly suffix: string;
  readonly warning: string;
  readonly retryAfterSeconds: number | undefined;
}

interface Failure {
  readonly err: unknown;
  readonly target: RequestTarget;
  readonly signal: AbortSignal | undefined;
  readonly answer: Answer | undefined;
  readonly code: string | undefined;
  readonly name: string;
}

/** What a rule decides: how far the request got and whether to try again, and the catalog error (or the one thrown). */
type Verdict = {
  readonly reach: Reach;
  readonly transient: boolean;
  readonly retryAfterSeconds?: number | undefined;
} & (
  | { readonly code: ErrorCode; readonly message: string; readonly context?: ErrorContext }
  | { readonly error: ProviderError }
);

/** A row of the table: when `match` finds its subject (the failure, the answer, the narrowed error), the verdict. */
type Rule = (f: Failure) => Verdict | undefined;

function rule<S>(match: (f: Failure) => S | undefined, verdict: (subject: S, target: RequestTarget) => Verdict): Rule {
  return (f) => {
    const subject = match(f);
    return subject === undefined ? undefined : verdict(subject, f.target);
  };
}

/** A row for an error answer from Vault: its errors carry Vault's status and its `errors`. */
function answered(when: (a: Answer) => boolean, verdict: (a: Answer, target: RequestTarget) => Verdict & { readonly code: ErrorCode }): Rule {
  return rule(
    (f) => (f.answer !== undefined && when(f.answer) ? f.answer : undefined),
    (a, target) => ({ ...verdict(a, target), context: { httpStatus: a.status, ...(a.detail === '' ? {} : { detail: a.detail }) } }),
  );
}
const thrown = <E>(type: abstract new (...args: never[]) => E): ((f: Failure) => E | undefined) => (f) => (f.err instanceof type ? f.err : undefined);
const given = (when: (f: Failure) => boolean): ((f: Failure) => Failure | undefined) => (f) => (when(f) ? f : undefined);

const TIMEOUT_NAMES = new Set(['TimeoutError', 'AbortError', 'HeadersTimeoutError', 'BodyTimeoutError']);
const KV2_PATH_HINT = /Invalid path for a versioned K\/V secrets engine/i;

const RULES: readonly Rule[] = [
  // A request cut short because the mount's time budget ran out fails with that, whatever the cut made of it (the
  // budget's own error, an abort), so the caller hears in time which Vault and which request were too slow.
  rule((f) => expiredBudget(f.signal), (expired, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'unknown', transient: false,
    message: `no successful answer from Vault to ${at(t)} within the mount's time budget of ${describeBudget(expired.budget)}; the driver retries the mount`,
  })),
  rule(thrown(ProviderError), (error) => ({ error, reach: 'unknown', transient: false })),
  rule(given((f) => f.signal?.aborted === true), (_, t) => ({
    code: 'DEADLINE_EXCEEDED', reach: 'unknown', transient: false,
    message: `the caller's deadline passed during ${at(t)}`,
  })),

  answered((a) => a.status === 403, (a, t) => ({
    code: 'PERMISSION_DENIED', reach: 'answered', transient: false,
    message: `Vault denied ${at(t)} (403)${a.suffix}`,
  })),
  // Real Vault explains some 404s in `warnings` (found by the real suite's differential test). The common one, a KV
  // v1-style path on a KV v2 mount, is a configuration mistake, not an absent secret: an optional object must not be
  // skipped silently for it.
  answered((a) => a.status === 404 && KV2_PATH_HINT.test(a.warning), (a, t) => ({
    code: 'INVALID_CONFIG', reach: 'answered', transient: false,
    message: `Vault says ${t.path} is not an API path of its versioned KV engine (404): KV v2 reads are <mount>/data/<path>; Vault's hint: ${a.warning}`,
  })),
  answered((a) => a.status === 404, (a, t) => ({
    code: 'SECRET_NOT_FOUND', reach: 'answered', transient: false,
    message: `Vault has no secret at ${at(t)} (404)${a.warning === '' ? '' : `; Vault's hint: ${a.warning}`}`,
  })),
  // Retried as Vault's Go client retries (api.DefaultRetryPolicy over go-retryablehttp's): 429, 5xx except 501 Not
  // Implemented, and 412, which a node answers before doing anything when it has not caught up with the
  // X-Vault-Index a client asked for (so, like 429, nothing happened and even a write may go again).
  answered((a) => a.status === 429 || a.status === 412, (a, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'not-sent', transient: true, retryAfterSeconds: a.retryAfterSeconds,
    message: `Vault answered ${a.status} to ${at(t)}${a.suffix}`,
  })),
  answered((a) => a.status >= 500 && a.status !== 501, (a, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'answered', transient: true, retryAfterSeconds: a.retryAfterSeconds,
    message: `Vault answered ${a.status} to ${at(t)}${a.suffix}`,
  })),
  // Real Vault answers 405 to a read of a write-only path, the usual slip being pki/issue without `method: PUT`.
  answered(() => true, (a, t) => ({
    code: 'VAULT_REQUEST_REJECTED', reach: 'answered', transient: false,
    message: `Vault rejected ${at(t)} (${a.status})${a.suffix}${a.status === 405 && t.method === 'GET' ? '; this path takes a write: set the object\'s method to PUT (or POST)' : ''}`,
  })),

  // Nothing was done at the node that redirected, and nothing was sent to the target.
  rule(thrown(RedirectRefusedError), (err, t) => ({
    code: 'VAULT_REDIRECT_REFUSED', reach: 'not-sent', transient: false, context: { vaultAddress: err.from },
    message: `Vault at ${err.from} redirected ${t.method} ${t.path} to ${err.to ?? 'nowhere'}, ${refusalReason(err)}`,
  })),
  rule(thrown(NonJsonResponseError), (err, t) => ({
    code: 'BAD_VAULT_RESPONSE', reach: 'answered', transient: err.statusCode >= 500, context: { httpStatus: err.statusCode },
    message: `${err.message} for ${at(t)}`,
  })),
  rule(thrown(BodyTooLargeError), (err, t) => ({
    code: 'BAD_VAULT_RESPONSE', reach: 'answered', transient: false,
    message: `Vault's response exceeded ${err.limitBytes} bytes for ${at(t)}`,
  })),
  // A tenant's secret too large to read without holding up every other mount: the mount fails alone, naming the flag.
  rule(thrown(ResponseTooLargeError), (err, t) => ({
    code: 'MOUNT_TOO_LARGE', reach: 'answered', transient: false,
    message: `${err.message} for ${at(t)}`,
  })),
  rule(thrown(ResponseTooDeepError), (err, t) => ({
    code: 'BAD_VAULT_RESPONSE', reach: 'answered', transient: false,
    message: `${err.message} for ${at(t)}`,
  })),

  // No answer. Whatever broke while connecting, the request was never sent. A certificate or protocol failure will
  // fail the same way next time; a refused, reset or timed-out connection may not (a Vault pod restarting, a load
  // balancer dropping a handshake), so those are worth another attempt, for writes too.
  rule(given((f) => TIMEOUT_NAMES.has(f.name)), (_, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'unknown', transient: true,
    message: `Vault did not answer ${at(t)} within the request timeout`,
  })),
  rule(given((f) => f.code !== undefined && TLS_CODE.test(f.code)), (f, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'not-sent', transient: false,
    message: `TLS failure talking to ${t.address} (${f.code}) for ${t.path}`,
  })),
  rule(given((f) => f.code !== undefined && NOT_SENT_CODES.has(f.code)), (f, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'not-sent', transient: true,
    message: `cannot reach Vault at ${t.address} (${f.code}) for ${t.path}`,
  })),
  rule(given((f) => f.err instanceof VaultConnectError), (f, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'not-sent', transient: true,
    message: `cannot connect to Vault at ${t.address} (${f.code ?? 'error'}) for ${t.path}`,
  })),
  rule(given(() => true), (f, t) => ({
    code: 'VAULT_UNAVAILABLE', reach: 'unknown', transient: true,
    message: `connection to Vault at ${t.address} failed (${f.code ?? (f.name || 'error')}) during ${t.path}`,
  })),
];

/** What a login's answer is quoted with when, after `remove`, it still holds part of a credential. */
export const WITHHELD = "[Vault's text withheld: it quoted a credential of the request]";

/** Before anything else reads them: a cut must not leave half of a credential. */
function withoutCredentials(body: unknown, redactor: CredentialRedactor | undefined): unknown {
  if (redactor === undefined || redactor.empty || !isPlainObject(body)) return body;
  const clean = (list: unknown): unknown => (Array.isArray(list) ? list.map((e: unknown) => (typeof e === 'string' ? redactor.remove(e) : e)) : list);
  return { ...body, errors: clean(body['errors']), warnings: clean(body['warnings']) };
}

function answerOf(err: unknown, redactor: CredentialRedactor | undefined): Answer | undefined {
  if (!isApiResponseError(err)) return undefined;
  const status = err.response.statusCode;
  const body = withoutCredentials(err.response.body, redactor);
  // What is left of a credential once the text is re-spaced and cut withholds the text.
  const quotable = (text: string): string => (redactor?.traces(text) === true ? WITHHELD : text);
  const detail = quotable(vaultErrors(body));
  const headers = (err.response.headers ?? {}) as Record<string, unknown>;
  const retryAfterRaw = headers['retry-after'];
  return {
    status,
    detail,
    suffix: detail === '' ? '' : `: ${detail}`,
    warning: quotable(vaultWarning(body)),
    retryAfterSeconds: typeof retryAfterRaw === 'string' && /^\d+$/.test(retryAfterRaw) ? Number(retryAfterRaw) : undefined,
  };
}

/** `redactor` holds the request's credentials: none is quoted, whatever the status (issue 19, class 11). */
export function classifyFailure(err: unknown, target: RequestTarget, callerSignal: AbortSignal | undefined, redactor?: CredentialRedactor): ClassifiedFailure {
  const failure: Failure = { err, target, signal: callerSignal, answer: answerOf(err, redactor), code: errorCode(err), name: err instanceof Error ? err.name : '' };
  for (const classify of RULES) {
    const v = classify(failure);
    if (v === undefined) continue;
    const retry = { reach: v.reach, transient: v.transient, retryAfterSeconds: v.retryAfterSeconds };
    if ('error' in v) return { error: v.error, ...retry };
    const context: ErrorContext = {
      vaultAddress: target.address,
      vaultPath: target.path,
      ...v.context,
    };
    // Anything else of Vault's a message quotes (a redirect's Location) is searched too.
    const message = redactor === undefined ? v.message : redactor.remove(v.message);
    return { error: new ProviderError(v.code, `${message}${namespaceSuffix(target)}`, context), ...retry };
  }
  throw new Error('unreachable: the last rule matches every failure');
}
