/**
 * The one error catalog. Every failure that leaves the provider carries one of these stable codes; the gRPC status
 * it maps to is decided here and nowhere else (see `grpcStatusFor`).
 *
 * Messages are built by our own code from names and paths only: a secret value, a Vault token or a JWT must never
 * be passed into a ProviderError message. Vault's own error strings are passed through `sanitizeVaultMessage`
 * before they are quoted.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { shortened } from './shared/message-text.js';

export const ErrorCodes = [
  /** The SecretProviderClass, the pod's volumeAttributes or the MountRequest itself is malformed. */
  'INVALID_CONFIG',
  /**
   * A well-formed parameter this node's operator does not allow a mount to use: a Vault address outside
   * --allowed-vault-addresses, a TLS file outside --allowed-tls-directories, vaultSkipTLSVerify without
   * --allow-skip-tls-verify. Distinct from INVALID_CONFIG because someone else fixes it: the manifest is fine, the
   * node's policy says no (SECURITY.md).
   */
  'PARAMETER_NOT_ALLOWED',
  /** No ServiceAccount token for the configured audience, and none could be requested. */
  'TOKEN_UNAVAILABLE',
  /**
   * The ServiceAccount token in the request is not the pod's own: another ServiceAccount's, bound to another pod, or
   * no ServiceAccount token at all. Refused before any login (DESIGN.md §5).
   */
  'FOREIGN_TOKEN',
  /**
   * vaultAuthMethod approle, userpass or cert, and the volume's nodePublishSecretRef Secret lacks the key that
   * method reads (secretId, password, tls.crt and tls.key), or the volume has no nodePublishSecretRef at all.
   */
  'CREDENTIALS_MISSING',
  /** The nodePublishSecretRef's tls.crt / tls.key are not a PEM certificate and its unencrypted private key. */
  'CREDENTIALS_INVALID',
  /** Vault refused the login (bad role, bound names, audience, expired JWT, wrong secret ID or password). */
  'AUTH_FAILED',
  /** Vault answered 403 on a read and the token is alive (its policy says no), or again after one fresh login. */
  'PERMISSION_DENIED',
  /** Vault has nothing at the path (404, or an empty response). */
  'SECRET_NOT_FOUND',
  /** The response has no such key. */
  'KEY_NOT_FOUND',
  /** The value cannot be decoded with the object's encoding. */
  'DECODE_FAILED',
  /** Vault answered with something that is not a Vault response (not JSON, wrong shape). */
  'BAD_VAULT_RESPONSE',
  /** Vault rejected the request (400 and other 4xx). */
  'VAULT_REQUEST_REJECTED',
  /**
   * Vault answered with a redirect (a standby pointing at the active node) that the provider does not follow: to an
   * address the trust policy does not allow, from https to http, or a second one. The message names both addresses.
   */
  'VAULT_REDIRECT_REFUSED',
  /** Vault unreachable, TLS failure, sealed, or 5xx after retries. */
  'VAULT_UNAVAILABLE',
  /** The caller's deadline or the request timeout passed. */
  'DEADLINE_EXCEEDED',
  /** The files of the mount exceed the driver's gRPC message limit, or the mount would pass its memory budget. */
  'MOUNT_TOO_LARGE',
  /**
   * The node's provider is at a bound that all mounts share: bytes in flight (--memory-budget) or mounts in progress
   * (--max-mounts-in-flight). Transient: this mount fails alone and the driver retries it.
   */
  'NODE_BUDGET_EXCEEDED',
  /** Writing the files into the target path failed (--write-files mode). */
  'WRITE_FAILED',
  /** A local file named by the configuration (CA, client certificate, HMAC key) cannot be read. */
  'LOCAL_FILE_ERROR',
  /**
   * The Kubernetes API refused or failed a call the provider itself needs (the HMAC Secret): missing RBAC (403),
   * an API server error or timeout. Not INTERNAL: nothing is wrong with the provider, the operator fixes it, and the
   * message says how; the failure is not kept, so the next mount asks the API server again.
   */
  'KUBERNETES_API_ERROR',
  /** The provider is shutting down and takes no new mounts; the driver retries. */
  'SHUTTING_DOWN',
  /** A bug or an unexpected failure. */
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

/**
 * Characters of one Vault error string that are read at all: far more than any message Vault writes of its own,
 * and what is quoted is cut to 200 after redaction anyway. Vault echoes request input into some errors (a refused
 * PKI common_name, an unknown role name), so a tenant chooses how long the text is; nothing past this is scanned.
 */
export const VAULT_MESSAGE_SCAN_CHARS = 2048;
/** Characters of a sanitised Vault message that are quoted. */
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
 * Where a JWT or a Vault token starts in `text[start, end)` (a run of token characters and dots), and which it is;
 * undefined when the run holds neither. The shapes are those the redaction has always used: `eyJ` then at least
 * four base64url characters and a dot (a JWT's encoded header and more), and `hvs.`, `hvb.`, `hvr.`, `s.`, `b.` or
 * `r.` at a word boundary then at least eight base64url characters (a Vault token, service, batch or recovery).
 * One pass over the run's dot-separated segments.
 */
function secretInRun(text: string, start: number, end: number): { at: number; kind: 'jwt' | 'token' } | undefined {
  let segment = start;
  while (segment < end) {
    let dot = segment;
    while (dot < end && text.charCodeAt(dot) !== 0x2e) dot++;
    // Both shapes need a dot after the segment they start in.
    if (dot >= end) return undefined;
    // A JWT: eyJ and four more base64url characters before this dot.
    let jwt = -1;
    for (let j = segment; j + JWT_START.length + 4 <= dot; j++) {
      if (text.startsWith(JWT_START, j)) {
        jwt = j;
        break;
      }
    }
    // A Vault token: a prefix that is the segment's last word (after its start or a '-'), this dot, then eight
    // base64url characters.
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

/**
 * `text` with every run of token characters and dots that holds a JWT or a Vault token redacted from where that
 * starts to the run's end. Linear: each character is looked at a bounded number of times. (Regexes did this before,
 * with a search from every `eyJ` that re-read the rest of its run: quadratic, ten seconds for 128 KiB.)
 */
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
 * Vault's error strings are usually safe ("permission denied", "role not found"), but some echo request input.
 * Read at most VAULT_MESSAGE_SCAN_CHARS of them (a token-shaped word the cut falls in is dropped whole, so no part
 * of one survives unrecognised), fold whitespace, redact anything shaped like a JWT or a Vault token, and quote at
 * most VAULT_MESSAGE_QUOTE_CHARS.
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
