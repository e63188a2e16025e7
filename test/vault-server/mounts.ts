// Contracts between the core router and the secrets engines / auth methods mounted in a namespace.
import type { X509Certificate } from 'node:crypto';
import type { JsonObject, Operation, Reply, RequestKind } from './types.js';
import type { TokenEntry } from './tokens.js';
import type { Namespace } from './namespaces.js';

export interface EngineRequest {
  readonly op: Operation;
  readonly method: string;
  /** Path inside the mount, without a leading slash (`data/app` for `secret/data/app`). */
  readonly subPath: string;
  readonly query: URLSearchParams;
  readonly body: JsonObject;
  readonly ns: Namespace;
  readonly mount: MountEntry;
  readonly token: TokenEntry | undefined;
  readonly now: number;
}

export interface SecretEngine {
  readonly type: string;
  handle(req: EngineRequest): Promise<Reply> | Reply;
  /** Existence check so a write is classed as create or update before the ACL check, like Vault. */
  exists?(subPath: string): boolean;
  /** Request-log classification for engine-specific paths (creds, issue). */
  kindOf?(method: string, subPath: string): RequestKind | undefined;
  /** Paths Vault serves without a token (e.g. PKI's `ca/pem`). */
  isUnauthenticated?(subPath: string): boolean;
}

export interface MountEntry {
  /** Mount path with a trailing slash, e.g. `secret/`. */
  readonly path: string;
  readonly type: string;
  readonly accessor: string;
  readonly uuid: string;
  readonly description: string;
  readonly options: Readonly<Record<string, string>> | null;
  readonly engine: SecretEngine;
}

/** What an auth method decides on a successful login; the core turns it into a token. */
export interface LoginGrant {
  readonly policies: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly displayName: string;
  readonly aliasName: string;
  readonly ttlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly role: string;
}

export interface LoginRequest {
  readonly body: JsonObject;
  readonly now: number;
  readonly mountAccessor: string;
  /** The path under the auth mount: `login`, or `login/<name>` (userpass). */
  readonly subPath: string;
  /** Whether the request came over TLS, and the client certificate chain it presented (leaf first), if any. */
  readonly tls: boolean;
  readonly clientCertificates: readonly X509Certificate[];
}

export interface AuthEngine {
  readonly type: string;
  /** Either a grant, or a ready error reply with the plugin's own status and wording. */
  login(req: LoginRequest): Promise<LoginGrant | Reply> | LoginGrant | Reply;
}

export interface AuthMountEntry {
  /** Path under `auth/` with a trailing slash, e.g. `kubernetes/`. */
  readonly path: string;
  readonly type: string;
  readonly accessor: string;
  readonly uuid: string;
  readonly engine: AuthEngine;
}

export function isReply(value: LoginGrant | Reply): value is Reply {
  return 'status' in value;
}
