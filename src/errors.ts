/**
 * The one error catalog (docs/operations.md#errors): stable codes, their gRPC status decided here only. Messages are
 * built from names and paths; Vault's own text goes through `sanitizeVaultMessage` before it is quoted.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { shortened } from './shared/message-text.js';

export const ErrorCodes = [
  'INVALID_CONFIG',
  'PARAMETER_NOT_ALLOWED',
  'TOKEN_UNAVAILABLE',
  'FOREIGN_TOKEN',
  'CREDENTIALS_MISSING',
  'CREDENTIALS_INVALID',
  'AUTH_FAILED',
  'PERMISSION_DENIED',
  'SECRET_NOT_FOUND',
  'KEY_NOT_FOUND',
  'DECODE_FAILED',
  'BAD_VAULT_RESPONSE',
  'VAULT_REQUEST_REJECTED',
  'VAULT_REDIRECT_REFUSED',
  'VAULT_UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'MOUNT_TOO_LARGE',
  'NODE_BUDGET_EXCEEDED',
  'WRITE_FAILED',
  'LOCAL_FILE_ERROR',
  'KUBERNETES_API_ERROR',
  'SHUTTING_DOWN',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

const grpcByCode: Readonly<Record<ErrorCode, GrpcStatus>> = {
  INVALID_CONFIG: GrpcStatus.INVALID_ARGUMENT,
  PARAMETER_NOT_ALLOWED: GrpcStatus.PERMISSION_DENIED,
  TOKEN_UNAVAILABLE: GrpcStatus.UNAUTHENTICATED,
  FOREIGN_TOKEN: GrpcStatus.PERMISSION_DENIED,
  CREDENTIALS_MISSING: GrpcStatus.FAILED_PRECONDITION,
  CREDENTIALS_INVALID: GrpcStatus.FAILED_PRECONDITION,
  AUTH_FAILED: GrpcStatus.PERMISSION_DENIED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  SECRET_NOT_FOUND: GrpcStatus.NOT_FOUND,
  KEY_NOT_FOUND: GrpcStatus.NOT_FOUND,
  DECODE_FAILED: GrpcStatus.FAILED_PRECONDITION,
  BAD_VAULT_RESPONSE: GrpcStatus.INTERNAL,
  VAULT_REQUEST_REJECTED: GrpcStatus.FAILED_PRECONDITION,
  VAULT_REDIRECT_REFUSED: GrpcStatus.FAILED_PRECONDITION,
  VAULT_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  MOUNT_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  NODE_BUDGET_EXCEEDED: GrpcStatus.RESOURCE_EXHAUSTED,
  WRITE_FAILED: GrpcStatus.INTERNAL,
  LOCAL_FILE_ERROR: GrpcStatus.FAILED_PRECONDITION,
  KUBERNETES_API_ERROR: GrpcStatus.FAILED_PRECONDITION,
  SHUTTING_DOWN: GrpcStatus.UNAVAILABLE,
  INTERNAL: GrpcStatus.INTERNAL,
};

/** Context that names what failed: the object and the Vault path, never a value. */
export interface ErrorContext {
  readonly objectName?: string;
  readonly vaultPath?: string;
  readonly vaultAddress?: string;
  readonly parameter?: string;
  readonly httpStatus?: number;
  /** Vault's own error text, sanitised (see sanitizeVaultMessage). */
  readonly detail?: string;
}

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.context = context;
  }

  /** The message as the pod's events show it: code first, so operators can grep the troubleshooting table. */
  get publicMessage(): string {
    return `${this.code}: ${this.message}`;
  }

  /** A copy with the object it concerns named in front of the message, for errors raised below the mount. */
  forObject(objectName: string, vaultPath?: string): ProviderError {
    if (this.context.objectName !== undefined) return this;
    const where = vaultPath ?? this.context.vaultPath;
    const prefix = where === undefined ? `object "${objectName}"` : `object "${objectName}" (Vault path ${where})`;
    return new ProviderError(
      this.code,
      `${prefix}: ${this.message}`,
      { ...this.context, objectName, ...(where === undefined ? {} : { vaultPath: where }) },
      { cause: this.cause },
    );
  }
}

export function grpcStatusFor(code: ErrorCode): GrpcStatus {
  return grpcByCode[code];
}

/** Any thrown value as a ProviderError; unknown failures become INTERNAL without echoing their text. */
export function toProviderError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  const kind = err instanceof Error ? err.name : typeof err;
  return new ProviderError('INTERNAL', `unexpected ${kind}`, {}, { cause: err });
}

/** Why `signal` aborted, as an Error: its reason when that is one (our own deadline and cancel errors), else a plain one. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}

/** The errno-style code of a failed call (`ENOENT`, `ECONNREFUSED`, `ENOSPC`, …), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    return typeof err.code === 'string' ? err.code : undefined;
  }
  return undefined;
}

/** Vault echoes request input into some errors, so a tenant chooses the length: nothing past this is scanned. */
export const VAULT_MESSAGE_SCAN_CHARS = 2048;
export const VAULT_MESSAGE_QUOTE_CHARS = 200;

/** [A-Za-z0-9_-]: the base64url alphabet of JWTs and Vault tokens. */
function isTokenChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) || code === 0x5f || code === 0x2d;
}

/** A character of a token-shaped word: the base64url alphabet and `.`. */
function isWordRunChar(code: number): boolean {
  return isTokenChar(code) || code === 0x2e;
}

/** [A-Za-z0-9_]: what `\b` counts as a word character. */
function isWordChar(code: number): boolean {
  return isTokenChar(code) && code !== 0x2d;
}

const VAULT_TOKEN_PREFIXES: ReadonlySet<string> = new Set(['hvs', 'hvb', 'hvr', 's', 'b', 'r']);
const JWT_START = 'eyJ';

/**
 * Where a JWT (`eyJ`, four base64url characters, a dot) or a Vault token (`hvs.`, `s.`, … at a word boundary, then
 * eight base64url characters) starts in the run `text[start, end)`. One pass over its dot-separated segments.
 */
function secretInRun(text: string, start: number, end: number): { at: number; kind: 'jwt' | 'token' } | undefined {
  let segment = start;
  while (segment < end) {
    let dot = segment;
    while (dot < end && text.charCodeAt(dot) !== 0x2e) dot++;
    if (dot >= end) return undefined;
    let jwt = -1;
    for (let j = segment; j + JWT_START.length + 4 <= dot; j++) {
      if (text.startsWith(JWT_START, j)) {
        jwt = j;
        break;
      }
    }
    // A Vault token: a prefix that is the segment's last word, this dot, then eight base64url characters.
    let word = dot;
    while (word > segment && isWordChar(text.charCodeAt(word - 1))) word--;
    let token = -1;
    if (VAULT_TOKEN_PREFIXES.has(text.slice(word, dot))) {
      let count = 0;
      for (let i = dot + 1; i < end && count < 8 && isTokenChar(text.charCodeAt(i)); i++) count++;
      if (count >= 8) token = word;
    }
    if (jwt !== -1 && (token === -1 || jwt <= token)) return { at: jwt, kind: 'jwt' };
    if (token !== -1) return { at: token, kind: 'token' };
    segment = dot + 1;
  }
  return undefined;
}

/** Each run of token characters and dots that holds a JWT or a Vault token is redacted from there to its end. Linear. */
export function redactTokens(text: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    if (!isWordRunChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < text.length && isWordRunChar(text.charCodeAt(i))) i++;
    const secret = secretInRun(text, start, i);
    if (secret === undefined) continue;
    // From the first secret to the end of its run: whatever follows it in the run goes too.
    out += `${text.slice(copied, secret.at)}${secret.kind === 'jwt' ? '<redacted-jwt>' : '<redacted-token>'}`;
    copied = i;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Some of Vault's error strings echo request input: read at most VAULT_MESSAGE_SCAN_CHARS (a token-shaped word the
 * cut falls in is dropped whole), fold whitespace, redact tokens, quote at most VAULT_MESSAGE_QUOTE_CHARS.
 */
export function sanitizeVaultMessage(raw: string): string {
  let text = raw;
  if (text.length > VAULT_MESSAGE_SCAN_CHARS) {
    let cut = VAULT_MESSAGE_SCAN_CHARS;
    if (isWordRunChar(text.charCodeAt(cut))) {
      while (cut > 0 && isWordRunChar(text.charCodeAt(cut - 1))) cut--;
    }
    text = `${text.slice(0, cut)}…`;
  }
  const folded = text.replace(/\s+/g, ' ').trim();
  return shortened(redactTokens(folded), VAULT_MESSAGE_QUOTE_CHARS);
}
