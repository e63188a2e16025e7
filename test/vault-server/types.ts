// Shared vocabulary of the Vault test server: kept free of logic so every module can import it.

/** Injectable clock, in milliseconds since the epoch, so tests can expire tokens and leases without sleeping. */
export type Clock = () => number;

export const REQUEST_KINDS = ['login', 'read', 'write', 'renew', 'revoke', 'issue', 'dynamic', 'sys', 'other'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/**
 * One line of the request log. It deliberately holds no token, JWT or body: tests assert on traffic
 * shape (how many logins, which paths) and the log must be safe to print on failure.
 */
export interface RequestLogEntry {
  readonly method: string;
  /** URL path as sent, without the query string, e.g. `/v1/team-a/secret/data/app`. */
  readonly path: string;
  /** Path relative to the resolved namespace and without `/v1/`, e.g. `secret/data/app`. */
  readonly route: string;
  /** Query parameters; values of credential-like keys are replaced by `<redacted>`. */
  readonly query: Readonly<Record<string, string>>;
  /** Resolved namespace path without slashes; `''` is the root namespace. */
  readonly namespace: string;
  readonly hadToken: boolean;
  /** HTTP status sent; 0 when the connection was reset by a fault. */
  readonly status: number;
  readonly kind: RequestKind;
  /** True when an injected fault decided the response. */
  readonly faulted: boolean;
  /** Clock time (ms) when the request arrived. */
  readonly at: number;
}

export type JsonObject = Record<string, unknown>;

/** What a handler produces; the server turns it into an HTTP response. */
export interface Reply {
  readonly status: number;
  /** Serialised as JSON unless it is a string or a Buffer (sent as-is) or undefined (no body). */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export const CAPABILITIES = ['create', 'read', 'update', 'delete', 'list', 'patch', 'sudo', 'deny'] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** The logical operation Vault derives from the HTTP method (and existence check for writes). */
export type Operation = 'read' | 'list' | 'create' | 'update' | 'delete' | 'patch';
