/**
 * Validated, readonly shapes that flow from the config stage to the rest of a mount. Produced only by
 * `parseMountRequest` (mount-request.ts) and `resolveConnection` (connection.ts).
 */
import type { ParsedTemplate } from './template-syntax.js';
import type { Sensitive } from './sensitive.js';
import type { InputLimits } from './input-limits.js';

export const Encodings = ['utf-8', 'base64', 'hex'] as const;
export type Encoding = (typeof Encodings)[number];

/** `expand` (ours): every key of the secret as a file (`keys`), or a PKI issue as tls.crt/tls.key/ca.crt (`pki`). */
export const ExpandModes = ['keys', 'pki'] as const;
export type ExpandMode = (typeof ExpandModes)[number];

/**
 * `credentialScope` (ours): who shares a dynamic credential or certificate. `pod` (default): every pod gets its own;
 * `workload`: the pods of one Vault identity share one for the reuse window (hashicorp/vault-csi-provider#149) — the
 * pods of a ServiceAccount under Kubernetes auth; under JWT auth, where the identity is the pod, each pod its own.
 */
export const CredentialScopes = ['pod', 'workload'] as const;
export type CredentialScope = (typeof CredentialScopes)[number];

/**
 * The keys of an object that are ours, not the reference's (docs/configuration.md, "Beyond the reference"); absent
 * means the reference's meaning. A template object may have no secret of its own: then secretPath and requestPath
 * are ''.
 */
export interface ObjectExtensions {
  /** Skip the object (no file, an absence version) when Vault has no secret there (404) or not the key. */
  readonly optional?: boolean;
  /** RFC 6901 pointer into the key map (data.data or data); '' is the whole map. Never set with secretKey. */
  readonly jsonPointer?: string;
  /** The file is rendered from this template (its own secret, if any, and other objects' values). */
  readonly template?: ParsedTemplate;
  /** One object, several files under objectName as a directory. */
  readonly expand?: ExpandMode;
  /** Read only as a template input: no file and no ObjectVersion of its own. */
  readonly inputOnly?: boolean;
  /** Absent means `pod`. */
  readonly credentialScope?: CredentialScope;
  /**
   * Vault Enterprise namespace of this object's read, relative to the mount's (vaultNamespace): without leading or
   * trailing slashes, never empty (config/secret-namespace.ts). Absent: the mount's namespace.
   */
  readonly secretNamespace?: string;
}

/** One entry of the SecretProviderClass `objects` YAML list, validated. */
export interface ObjectConfig extends ObjectExtensions {
  /** File path inside the mount and ObjectVersion id; already checked against the driver's path rules. */
  readonly objectName: string;
  /** As written in the SecretProviderClass (used in messages and the version's canonical config). */
  readonly secretPath: string;
  /** Normalised request path: always starts with `/v1/`, query string excluded. */
  readonly requestPath: string;
  /** Query string without the `?`, or '' when there is none (kept verbatim, in order). */
  readonly query: string;
  /** '' means the whole response JSON. */
  readonly secretKey: string;
  /** Upper-case HTTP method; GET by default. */
  readonly method: string;
  /** JSON body sent with the request; undefined when the object has none. */
  readonly secretArgs: Readonly<Record<string, unknown>> | undefined;
  readonly encoding: Encoding;
  /** File mode 0..0o777 from filePermission; undefined means the request's permission. */
  readonly filePermission: number | undefined;
}

export interface PodInfo {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

/** TLS settings as the SecretProviderClass gives them; every field optional (flags and env fill the gaps). */
export interface TlsParameters {
  readonly caCertPath?: string;
  readonly caDirectory?: string;
  readonly serverName?: string;
  readonly clientCertPath?: string;
  readonly clientKeyPath?: string;
  readonly skipVerify?: boolean;
}

/** TlsParameters while they are being filled in, field by field. */
export type TlsParametersDraft = { -readonly [K in keyof TlsParameters]: TlsParameters[K] };

/** A token the driver gave us for one audience. The token itself is sensitive: never log this object. */
export interface DriverToken {
  readonly token: string;
  readonly expirationTimestamp: string | undefined;
}

/**
 * `vaultAuthMethod` (ours): how the mount logs in to Vault. `kubernetes` (default) and `jwt` send the pod's
 * ServiceAccount token with roleName; the others take their credentials from the volume's nodePublishSecretRef
 * (hashicorp/vault-csi-provider#222 AppRole, #358 userpass, #15 TLS certificates) and need no pod token.
 */
export const AuthMethods = ['kubernetes', 'jwt', 'approle', 'userpass', 'cert'] as const;
export type AuthMethod = (typeof AuthMethods)[number];

/** The methods that log in with the pod's ServiceAccount token. */
export type PodTokenMethod = 'kubernetes' | 'jwt';

/** What a mount logs in with; credentials are Sensitive and never printed. */
export type AuthConfig =
  | { readonly method: PodTokenMethod }
  | { readonly method: 'approle'; readonly roleId: Sensitive; readonly secretId: Sensitive }
  | { readonly method: 'userpass'; readonly username: string; readonly password: Sensitive }
  | { readonly method: 'cert'; readonly certificate: Sensitive; readonly key: Sensitive };

export function usesPodToken(auth: AuthConfig): auth is { readonly method: PodTokenMethod } {
  return auth.method === 'kubernetes' || auth.method === 'jwt';
}

export interface MountConfig {
  /** Required for kubernetes and jwt; for cert the certificate role (`name`), '' for any; unused otherwise. */
  readonly roleName: string;
  readonly auth: AuthConfig;
  /** Undefined when the SecretProviderClass does not set it (flags/env then decide). */
  readonly vaultAddress: string | undefined;
  readonly vaultNamespace: string | undefined;
  /** From vaultKubernetesMountPath or vaultAuthMountPath (never both); undefined means the --vault-mount default. */
  readonly authMountPath: string | undefined;
  /** The spelling that set authMountPath (`vaultAuthMountPath`, `baoKubernetesMountPath`, …), for messages. */
  readonly authMountParameter?: string;
  readonly tls: TlsParameters;
  /**
   * The audience whose token logs in: of the `audience` parameter's comma-separated list (else `--audience`, else
   * "vault"), the first the driver delivered a token for; the first of the list when it delivered none of them.
   */
  readonly audience: string;
  readonly objects: readonly ObjectConfig[];
  readonly pod: PodInfo;
  /** The `secretProviderClass` attribute the driver adds, for logs; '' when absent. */
  readonly secretProviderClass: string;
  /** The JWT for `audience`: from the attributes, or from secrets only when the attributes carry no tokens. */
  readonly driverToken: DriverToken | undefined;
  readonly targetPath: string;
  /** Default file mode from the request's permission (decimal JSON number, e.g. "420" = 0644). */
  readonly permission: number;
  /** Parameters we did not recognise (names only), for a debug log line. */
  readonly ignoredParameters: readonly string[];
}

/** Provider-wide defaults from flags over `VAULT_*` environment variables (environment < flags). */
export interface ProviderDefaults {
  /** One normalised address, or several joined by commas (`--vault-addr a,b`). */
  readonly vaultAddress: string;
  /** Default auth mount (`--vault-mount`, default "kubernetes"). */
  readonly vaultMount: string;
  readonly vaultNamespace: string | undefined;
  readonly tls: TlsParameters;
  /** `--audience`: the audience (list) a SecretProviderClass without `audience` uses; default "vault". */
  readonly audience?: string;
  /** `--max-objects-*`, `--max-template-*` (input-limits.ts); absent: DEFAULT_INPUT_LIMITS. */
  readonly inputLimits?: InputLimits;
}

/**
 * Where and how one mount talks to Vault: defaults overlaid field by field by the SecretProviderClass
 * (flags < SecretProviderClass). Two mounts with equal settings share one Vault client; `key` says when.
 */
export interface ConnectionSettings {
  /** Vault base URL without a trailing slash, e.g. "https://vault.vault.svc:8200": the first of `addresses`. */
  readonly address: string;
  /** Every address the mount may use, in order of preference (one, or the nodes of an HA cluster); never empty. */
  readonly addresses: readonly string[];
  readonly namespace: string | undefined;
  readonly authMount: string;
  readonly tls: {
    readonly caCertPath: string | undefined;
    readonly caDirectory: string | undefined;
    readonly serverName: string | undefined;
    readonly clientCertPath: string | undefined;
    readonly clientKeyPath: string | undefined;
    readonly skipVerify: boolean;
  };
  /** Canonical string of every field above, for client and token cache keys. */
  readonly key: string;
}
