/** Validated, readonly shapes that flow from the config stage to the rest of a mount. */
import type { ParsedTemplate } from './template-syntax.js';
import type { Sensitive } from './sensitive.js';
import type { InputLimits } from './input-limits.js';

export const Encodings = ['utf-8', 'base64', 'hex'] as const;
export type Encoding = (typeof Encodings)[number];

/** `expand` (ours): every key of the secret as a file (`keys`), or a PKI issue as tls.crt/tls.key/ca.crt (`pki`). */
export const ExpandModes = ['keys', 'pki'] as const;
export type ExpandMode = (typeof ExpandModes)[number];

/** `credentialScope` (ours): who shares a dynamic credential (hashicorp/vault-csi-provider#149). */
export const CredentialScopes = ['pod', 'workload'] as const;
export type CredentialScope = (typeof CredentialScopes)[number];

/** The keys of an object that are ours (docs/secretproviderclass.md); a template object may have no secret path. */
export interface ObjectExtensions {
  readonly optional?: boolean;
  /** RFC 6901 pointer into the key map (data.data or data); '' is the whole map. Never set with secretKey. */
  readonly jsonPointer?: string;
  readonly template?: ParsedTemplate;
  readonly expand?: ExpandMode;
  readonly inputOnly?: boolean;
  readonly credentialScope?: CredentialScope;
  /** Vault Enterprise namespace of this read, relative to the mount's; absent: the mount's. */
  readonly secretNamespace?: string;
}

export interface ObjectConfig extends ObjectExtensions {
  /** File path inside the mount and ObjectVersion id; already checked against the driver's path rules. */
  readonly objectName: string;
  readonly secretPath: string;
  readonly requestPath: string;
  readonly query: string;
  readonly secretKey: string;
  readonly method: string;
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

export type TlsParametersDraft = { -readonly [K in keyof TlsParameters]: TlsParameters[K] };

/** A token the driver gave us for one audience. The token itself is sensitive: never log this object. */
export interface DriverToken {
  readonly token: string;
  readonly expirationTimestamp: string | undefined;
}

/** `vaultAuthMethod` (ours): hashicorp/vault-csi-provider#222 AppRole, #358 userpass, #15 TLS certificates. */
export const AuthMethods = ['kubernetes', 'jwt', 'approle', 'userpass', 'cert'] as const;
export type AuthMethod = (typeof AuthMethods)[number];

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
  readonly vaultAddress: string | undefined;
  readonly vaultNamespace: string | undefined;
  /** From vaultKubernetesMountPath or vaultAuthMountPath (never both); undefined means the --vault-mount default. */
  readonly authMountPath: string | undefined;
  /** The spelling that set authMountPath (`vaultAuthMountPath`, `baoKubernetesMountPath`, …), for messages. */
  readonly authMountParameter?: string;
  readonly tls: TlsParameters;
  /** The first audience of the list the driver delivered a token for (else the first of the list). */
  readonly audience: string;
  readonly objects: readonly ObjectConfig[];
  readonly pod: PodInfo;
  readonly secretProviderClass: string;
  readonly driverToken: DriverToken | undefined;
  readonly targetPath: string;
  readonly permission: number;
  readonly ignoredParameters: readonly string[];
}

export interface ProviderDefaults {
  readonly vaultAddress: string;
  readonly vaultMount: string;
  readonly vaultNamespace: string | undefined;
  readonly tls: TlsParameters;
  readonly audience?: string;
  readonly inputLimits?: InputLimits;
}

/** Defaults overlaid field by field by the SecretProviderClass; `key` says when two mounts share one Vault client. */
export interface ConnectionSettings {
  /** Vault base URL without a trailing slash, e.g. "https://vault.vault.svc:8200": the first of `addresses`. */
  readonly address: string;
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
  readonly key: string;
}
