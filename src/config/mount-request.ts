/**
 * MountRequest → MountConfig. Pure and total: anything malformed becomes INVALID_CONFIG naming the parameter. The
 * attributes carry the pod's JWT, so no message quotes a value, nor a JSON parser's text (V8 quotes the input).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as z from 'zod';
import { ProviderError } from '../errors.js';
import { objectsMemo } from './objects.js';
import { DEFAULT_INPUT_LIMITS, type InputLimits } from './input-limits.js';
import { parseGoBool } from './go-syntax.js';
import { AuthMethods, usesPodToken, type AuthConfig, type AuthMethod, type DriverToken, type MountConfig, type TlsParameters, type TlsParametersDraft } from './types.js';
import { Sensitive } from './sensitive.js';
import { quoted } from '../shared/message-text.js';
import { isPlainObject } from '../shared/plain-object.js';
import { normaliseAuthMount } from './connection.js';

/** The nodePublishSecretRef keys each method reads: docs/secretproviderclass.md#other-ways-to-log-in-approle-userpass-tls-certificates */
export const CREDENTIAL_KEYS = {
  approle: 'secretId',
  userpass: 'password',
  certificate: 'tls.crt',
  key: 'tls.key',
} as const;

export const AUTH_METHOD_PARAMETERS = ['vaultAuthMethod', 'vaultRoleID', 'vaultUsername'] as const;

export interface MountRequestInput {
  readonly attributes: string;
  readonly secrets: string;
  readonly targetPath: string;
  readonly permission: string;
}

export interface MountRequestDefaults {
  readonly audience?: string | undefined;
  readonly inputLimits?: InputLimits | undefined;
}

/** The key under which the driver passes ServiceAccount tokens, in attributes or (Kubernetes 1.35+) secrets. */
export const TOKENS_KEY = 'csi.storage.k8s.io/serviceAccount.tokens';
const DRIVER_PREFIX = 'csi.storage.k8s.io/';
const DEFAULT_AUDIENCE = 'vault';

const KNOWN_PARAMETERS: ReadonlySet<string> = new Set([
  'roleName',
  'vaultAddress',
  'vaultNamespace',
  'vaultKubernetesMountPath',
  'vaultAuthMountPath',
  'vaultCACertPath',
  'vaultCADirectory',
  'vaultTLSServerName',
  'vaultTLSClientCertPath',
  'vaultTLSClientKeyPath',
  'vaultSkipTLSVerify',
  'audience',
  'objects',
  ...AUTH_METHOD_PARAMETERS,
  'secretProviderClass',
]);

function invalid(parameter: string, message: string): ProviderError {
  return new ProviderError('INVALID_CONFIG', message, { parameter });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid(what, `${what} is not valid JSON`);
  }
}

function nonEmpty(value: string | null | undefined): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : value;
}

function parseAttributes(text: string): ReadonlyMap<string, string> {
  const parsed = parseJson(text, 'attributes');
  if (!isPlainObject(parsed)) throw invalid('attributes', 'attributes must be a JSON object of strings');
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') {
      throw invalid('attributes', `attributes: the value of ${quoted(key)} must be a string`);
    }
    out.set(key, value);
  }
  return out;
}

function parseSecrets(text: string): ReadonlyMap<string, unknown> {
  if (text.trim() === '') return new Map();
  const parsed = parseJson(text, 'secrets');
  if (parsed === null) return new Map();
  if (!isPlainObject(parsed)) throw invalid('secrets', 'secrets must be a JSON object');
  return new Map(Object.entries(parsed));
}

// One audience's entry, as the reference's struct decodes it: both fields optional (null is Go's zero value),
// other fields ignored. z.object builds a fresh object of the known keys, so nothing else is carried along.
const tokenEntrySchema = z
  .object({ token: z.string().nullish(), expirationTimestamp: z.string().nullish() })
  .nullable();

/** The whole document is checked (as the reference's json.Unmarshal does), then only the wanted audiences read. */
function driverTokenDocument(
  json: string,
  source: 'attributes' | 'secrets',
  audiences: readonly string[],
): { readonly token: { readonly audience: string; readonly token: DriverToken } | undefined } | undefined {
  const where = `${TOKENS_KEY} (in ${source})`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json) as unknown;
  } catch {
    throw invalid(TOKENS_KEY, `${where} is not valid JSON`);
  }
  if (parsed === null) return undefined;
  if (!isPlainObject(parsed)) throw invalid(TOKENS_KEY, `${where} must be a JSON object keyed by audience`);
  const delivered = new Map<string, DriverToken>();
  for (const [aud, entry] of Object.entries(parsed)) {
    const result = tokenEntrySchema.safeParse(entry);
    // Only a configured audience (a parameter we were given) is named: keys of this document are driver
    // input, and nothing from it is quoted.
    if (!result.success) {
      const which = audiences.includes(aud) ? `audience ${quoted(aud)}` : 'another audience';
      throw invalid(TOKENS_KEY, `${where}: the entry for ${which} must be an object with a string token`);
    }
    if (!audiences.includes(aud) || result.data === null) continue;
    // An empty token is no token: the reference then requests one itself.
    const token = nonEmpty(result.data.token);
    if (token !== undefined) delivered.set(aud, { token, expirationTimestamp: nonEmpty(result.data.expirationTimestamp) });
  }
  for (const audience of audiences) {
    const token = delivered.get(audience);
    if (token !== undefined) return { token: { audience, token } };
  }
  return { token: undefined };
}

/** In order of preference (hashicorp/vault-csi-provider#231, #366); an empty entry is refused, not skipped. */
function audienceList(attrs: ReadonlyMap<string, string>, defaults: MountRequestDefaults): readonly string[] {
  const fromParameter = optional(attrs, 'audience');
  const raw = fromParameter ?? nonEmpty(defaults.audience) ?? DEFAULT_AUDIENCE;
  const list = raw.split(',').map((a) => a.trim());
  if (list.some((a) => a === '')) {
    const parameter = fromParameter === undefined ? 'audience (--audience)' : 'audience';
    throw invalid('audience', `${parameter} must be an audience or a comma-separated list of audiences, without empty entries`);
  }
  return list;
}

/** A decimal JSON integer ("420" is 0644), as the reference's os.FileMode decode: "0644" is refused, not guessed. */
function parsePermission(text: string): number {
  const trimmed = text.trim();
  if (!/^(?:0|[1-9][0-9]{0,9})$/.test(trimmed)) {
    throw invalid('permission', 'permission must be a decimal integer file mode such as "420" (0644)');
  }
  const mode = Number(trimmed);
  if (mode > 0o777) throw invalid('permission', 'permission must be at most 511 (0777)');
  return mode;
}

function optional(attrs: ReadonlyMap<string, string>, key: string): string | undefined {
  const v = attrs.get(key);
  return v === undefined || v === '' ? undefined : v;
}

/** The reference tests presence, not emptiness, for "not both"; empty means the --vault-mount default. */
function authMountPath(attrs: ReadonlyMap<string, string>): string | undefined {
  const k8s = attrs.get('vaultKubernetesMountPath');
  const auth = attrs.get('vaultAuthMountPath');
  if (k8s !== undefined && auth !== undefined) {
    throw invalid(
      'vaultAuthMountPath',
      'set only one of vaultKubernetesMountPath and vaultAuthMountPath (they name the same setting)',
    );
  }
  const key = k8s !== undefined ? 'vaultKubernetesMountPath' : 'vaultAuthMountPath';
  const raw = k8s ?? auth;
  if (raw === undefined || raw === '') return undefined;
  return normaliseAuthMount(raw, key);
}

function tlsParameters(attrs: ReadonlyMap<string, string>): TlsParameters {
  const tls: TlsParametersDraft = {};
  const set = (field: Exclude<keyof TlsParameters, 'skipVerify'>, key: string): void => {
    const v = optional(attrs, key);
    if (v !== undefined) tls[field] = v;
  };
  set('caCertPath', 'vaultCACertPath');
  set('caDirectory', 'vaultCADirectory');
  set('serverName', 'vaultTLSServerName');
  set('clientCertPath', 'vaultTLSClientCertPath');
  set('clientKeyPath', 'vaultTLSClientKeyPath');
  // Presence, not emptiness, as in the reference: an empty value is a ParseBool error there and here.
  const skip = attrs.get('vaultSkipTLSVerify');
  if (skip !== undefined) {
    const value = parseGoBool(skip);
    if (value === undefined) {
      throw invalid('vaultSkipTLSVerify', 'vaultSkipTLSVerify must be true or false (or 1, t, T, TRUE, True, 0, f, F, FALSE, False)');
    }
    tls.skipVerify = value;
  }
  return tls;
}

export function parseMountRequest(req: MountRequestInput, defaults: MountRequestDefaults = {}): MountConfig {
  // OpenBao's spellings (baoAddress, openbaoNamespace, …) become the reference's; two spellings of one setting are
  // refused (canonicalParameters, below).
  const given = parseAttributes(req.attributes);
  const attrs = canonicalParameters(given);
  const secrets = parseSecrets(req.secrets);

  if (req.targetPath === '') throw invalid('targetPath', 'the mount request has no target path');
  const permission = parsePermission(req.permission);

  const auth = parseAuthMethod(attrs, secrets);
  const roleName = optional(attrs, 'roleName') ?? '';
  if (roleName === '' && usesPodToken(auth)) throw invalid('roleName', 'roleName is required in the SecretProviderClass parameters');

  const audiences = audienceList(attrs, defaults);
  let audience = audiences[0] ?? DEFAULT_AUDIENCE;

  // The attributes first: the driver puts the kubelet's tokens there (driver v1.6 copies them there too when
  // Kubernetes 1.35 delivers them in its secrets), while on most clusters `secrets` is the pod author's own
  // nodePublishSecretRef. So `secrets` is read only when the attributes carry no tokens at all. Either way the token
  // must be the pod's own (auth/jwt-claims.ts) before it may log in.
  let chosen: { readonly audience: string; readonly token: DriverToken } | undefined;
  const attrTokens = optional(attrs, TOKENS_KEY);
  const attrDocument = attrTokens === undefined ? undefined : driverTokenDocument(attrTokens, 'attributes', audiences);
  if (attrDocument !== undefined) {
    chosen = attrDocument.token;
  } else {
    const secretTokens = secrets.get(TOKENS_KEY);
    if (secretTokens !== undefined && secretTokens !== null && secretTokens !== '') {
      if (typeof secretTokens !== 'string') throw invalid(TOKENS_KEY, `${TOKENS_KEY} (in secrets) must be a JSON string`);
      chosen = driverTokenDocument(secretTokens, 'secrets', audiences)?.token;
    }
  }
  if (chosen !== undefined) audience = chosen.audience;
  // The other methods log in without the pod's token: none is kept, so none can be used (or leak) by mistake.
  const driverToken = usesPodToken(auth) ? chosen?.token : undefined;

  const authMount = authMountPath(attrs);
  const tls = tlsParameters(attrs);

  const objectsText = attrs.get('objects') ?? '';
  // Memoised: a republish sends the same text every minute (objectsMemo in objects.ts).
  const { objects, ignoredKeys } = objectsMemo.parse(objectsText, defaults.inputLimits ?? DEFAULT_INPUT_LIMITS);

  const ignoredParameters = [
    ...[...attrs.keys()].filter((k) => !KNOWN_PARAMETERS.has(k) && !k.startsWith(DRIVER_PREFIX)),
    ...ignoredKeys,
  ];

  return {
    roleName,
    auth,
    vaultAddress: optional(attrs, 'vaultAddress'),
    vaultNamespace: optional(attrs, 'vaultNamespace'),
    authMountPath: authMount,
    ...(authMount === undefined ? {} : { authMountParameter: givenSpelling(given, 'vaultKubernetesMountPath') ?? givenSpelling(given, 'vaultAuthMountPath') ?? 'vaultAuthMountPath' }),
    tls,
    audience,
    objects,
    pod: {
      name: attrs.get(`${DRIVER_PREFIX}pod.name`) ?? '',
      namespace: attrs.get(`${DRIVER_PREFIX}pod.namespace`) ?? '',
      uid: attrs.get(`${DRIVER_PREFIX}pod.uid`) ?? '',
      serviceAccountName: attrs.get(`${DRIVER_PREFIX}serviceAccount.name`) ?? '',
    },
    secretProviderClass: attrs.get('secretProviderClass') ?? '',
    driverToken,
    targetPath: req.targetPath,
    permission,
    ignoredParameters,
  };
}

// The OpenBao provider's spellings of the parameters (`bao…`, `openbao…`), renamed to the reference's before anything
// reads them. Two spellings of one setting are refused even when they agree: the OpenBao provider silently takes the
// first it finds, and a refusal cannot pick the wrong Vault. The six auth-mount spellings form one group. Pure.

/** The prefixes the OpenBao provider accepts, in its order of lookup; `vault` is the reference's own. */
const PREFIXES = ['vault', 'bao', 'openbao'] as const;

/** Settings spelled `<prefix><suffix>` (the reference's is `vault<suffix>`). */
const PREFIXED_SUFFIXES = [
  'Address',
  'Namespace',
  'CACertPath',
  'CADirectory',
  'TLSServerName',
  'TLSClientCertPath',
  'TLSClientKeyPath',
  'SkipTLSVerify',
] as const;

/** One setting: each of its spellings with the name it is renamed to. */
type SpellingGroup = ReadonlyArray<readonly [spelling: string, canonical: string]>;

function prefixed(suffix: string): SpellingGroup {
  return PREFIXES.map((p) => [`${p}${suffix}`, `vault${suffix}`] as const);
}

export const SPELLING_GROUPS: readonly SpellingGroup[] = [
  [['roleName', 'roleName'], ...PREFIXES.map((p) => [`${p}RoleName`, 'roleName'] as const)],
  ...PREFIXED_SUFFIXES.map(prefixed),
  [...prefixed('KubernetesMountPath'), ...prefixed('AuthMountPath')],
];

interface Spelling {
  readonly canonical: string;
  readonly group: number;
}

const SPELLINGS: ReadonlyMap<string, Spelling> = new Map(
  SPELLING_GROUPS.flatMap((group, index) => group.map(([spelling, canonical]) => [spelling, { canonical, group: index }] as const)),
);

export function canonicalParameters(attrs: ReadonlyMap<string, string>): ReadonlyMap<string, string> {
  const given = new Map<number, string>();
  let renames = false;
  for (const key of attrs.keys()) {
    const spelling = SPELLINGS.get(key);
    if (spelling === undefined) continue;
    const earlier = given.get(spelling.group);
    if (earlier !== undefined) {
      // Named in the group's order, so the message does not depend on the order of the attributes' JSON.
      const group = SPELLING_GROUPS[spelling.group]!.map(([s]) => s);
      const [first, second] = group.indexOf(earlier) < group.indexOf(key) ? [earlier, key] : [key, earlier];
      throw new ProviderError('INVALID_CONFIG', `set only one of ${first} and ${second} (they name the same setting)`, {
        parameter: second,
      });
    }
    given.set(spelling.group, key);
    if (spelling.canonical !== key) renames = true;
  }
  if (!renames) return attrs;
  const out = new Map<string, string>();
  for (const [key, value] of attrs) out.set(SPELLINGS.get(key)?.canonical ?? key, value);
  return out;
}

/** The key of `attrs` (as the request spelt it) that sets the setting `canonical` names, if any. */
export function givenSpelling(attrs: ReadonlyMap<string, string>, canonical: string): string | undefined {
  for (const key of attrs.keys()) if (SPELLINGS.get(key)?.canonical === canonical) return key;
  return undefined;
}

// `vaultAuthMethod` and its credentials (from the nodePublishSecretRef, forwarded as `secrets`) → AuthConfig, pure.
// No message quotes a value: the role ID and every secret are named by their key only.

function missing(method: AuthMethod, key: string): ProviderError {
  return new ProviderError(
    'CREDENTIALS_MISSING',
    `vaultAuthMethod "${method}" reads "${key}" from the volume's nodePublishSecretRef Secret, and the mount request carries none: set nodePublishSecretRef on the volume to a Secret with that key`,
    { parameter: key },
  );
}

/** A non-empty string under `key` of the nodePublishSecretRef; anything else is missing. */
function credential(secrets: ReadonlyMap<string, unknown>, method: AuthMethod, key: string): Sensitive {
  const value = secrets.get(key);
  if (typeof value !== 'string' || value.trim() === '') throw missing(method, key);
  return new Sensitive(value);
}

/** A PEM certificate and its private key that Node's TLS will take; errors name the keys, never the contents. */
function certificatePair(secrets: ReadonlyMap<string, unknown>): { certificate: Sensitive; key: Sensitive } {
  const certificate = credential(secrets, 'cert', CREDENTIAL_KEYS.certificate);
  const key = credential(secrets, 'cert', CREDENTIAL_KEYS.key);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificate.reveal());
  } catch {
    throw new ProviderError('CREDENTIALS_INVALID', `"${CREDENTIAL_KEYS.certificate}" of the nodePublishSecretRef Secret is not a PEM certificate`, {
      parameter: CREDENTIAL_KEYS.certificate,
    });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key.reveal());
  } catch {
    throw new ProviderError('CREDENTIALS_INVALID', `"${CREDENTIAL_KEYS.key}" of the nodePublishSecretRef Secret is not an unencrypted PEM private key`, {
      parameter: CREDENTIAL_KEYS.key,
    });
  }
  if (!cert.checkPrivateKey(privateKey)) {
    throw new ProviderError('CREDENTIALS_INVALID', `"${CREDENTIAL_KEYS.key}" of the nodePublishSecretRef Secret is not the key of "${CREDENTIAL_KEYS.certificate}"`, {
      parameter: CREDENTIAL_KEYS.key,
    });
  }
  return { certificate, key };
}

/** Vault's userpass names: lower-cased by Vault; no '/' (it is a path segment), no whitespace or control characters. */
function validUsername(name: string): boolean {
  // `.` and `..` are dot segments: the request URL would resolve them and send the password to another path.
  if (name.length > 256 || name.includes('/') || /\s/.test(name) || name === '.' || name === '..') return false;
  return [...name].every((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f);
}

export function parseAuthMethod(attrs: ReadonlyMap<string, string>, secrets: ReadonlyMap<string, unknown>): AuthConfig {
  const raw = attrs.get('vaultAuthMethod');
  const method = raw === undefined || raw === '' ? 'kubernetes' : raw;
  if (!(AuthMethods as readonly string[]).includes(method)) {
    throw invalid('vaultAuthMethod', `vaultAuthMethod must be one of ${AuthMethods.join(', ')}`);
  }
  switch (method as AuthMethod) {
    case 'kubernetes':
    case 'jwt':
      return { method: method as 'kubernetes' | 'jwt' };
    case 'approle': {
      const roleId = attrs.get('vaultRoleID');
      if (roleId === undefined || roleId === '') throw invalid('vaultRoleID', 'vaultAuthMethod "approle" needs vaultRoleID (the AppRole\'s role ID)');
      return { method: 'approle', roleId: new Sensitive(roleId), secretId: credential(secrets, 'approle', CREDENTIAL_KEYS.approle) };
    }
    case 'userpass': {
      const username = attrs.get('vaultUsername');
      if (username === undefined || username === '') throw invalid('vaultUsername', 'vaultAuthMethod "userpass" needs vaultUsername');
      if (!validUsername(username)) throw invalid('vaultUsername', 'vaultUsername must be one path segment: no "/", spaces or control characters');
      return { method: 'userpass', username, password: credential(secrets, 'userpass', CREDENTIAL_KEYS.userpass) };
    }
    case 'cert':
      return { method: 'cert', ...certificatePair(secrets) };
  }
}
