/**
 * Command-line flags and `VAULT_*` environment variables → provider settings, with the reference's names, defaults
 * and Go `flag` syntax, so its DaemonSet starts this provider unchanged. Flags win over the environment. Pure.
 */
import { checkNamespace, normaliseAuthMount, normaliseVaultAddresses } from '../config/connection.js';
import { DEFAULT_GATE_LIMITS, type GateLimits } from '../vault/rate-limit.js';
import { parseGoBool, parseGoDurationMs, parseGoInt } from '../config/go-syntax.js';
import { scanGoFlags, UsageError, type FlagKind } from './go-flags.js';
import type { ProviderDefaults, TlsParameters, TlsParametersDraft } from '../config/types.js';
import type { TrustSettings } from '../config/connection.js';
import { parseTrustFlags } from './trust-flags.js';
import { OPENBAO_FLAGS, SpellingConflict, foldOpenBaoEnv, foldOpenBaoFlags } from './openbao-flags.js';
import {
  DEFAULT_MAX_MOUNTS_IN_FLIGHT,
  DEFAULT_MAX_MOUNTS_PER_NAMESPACE,
  DEFAULT_MAX_MOUNTS_QUEUED,
  DEFAULT_MOUNT_RESPONSE_BUDGET,
  DEFAULT_NODE_MEMORY_BUDGET,
} from '../admission/mount-admission.js';
import { DEFAULT_INPUT_LIMITS, INPUT_LIMIT_FLAGS, MAX_OBJECTS_DEPTH, type InputLimits } from '../config/input-limits.js';

import { LogLevels, type LogLevel } from '../observability/logger.js';
import { trimSlashes } from '../config/connection.js';
import { DEFAULT_MAX_RESPONSE_VALUES } from '../vault/transport.js';
import { DEFAULT_AUDIT_STATE_BYTES } from '../observability/audit.js';
import { DEFAULT_OBJECTS_CACHE_BYTES } from '../config/objects.js';

export { LogLevels, type LogLevel };
export { UsageError };

export const VersionFormats = ['yaml', 'json', 'json-pretty'] as const;
export type VersionFormat = (typeof VersionFormats)[number];

export interface ProviderSettings {
  readonly endpoint: string;
  readonly healthAddr: string;
  readonly logLevel: LogLevel;
  readonly hmacSecretName: string;
  readonly hmacKeyFile: string | undefined;
  readonly cacheSize: number;
  readonly writeFiles: boolean;
  readonly auditLogFile?: string;
  readonly auditStateMaxBytes?: number;
  readonly vaultResponseMaxValues?: number;
  readonly objectsCacheMaxBytes?: number;
  /**
   * Where tokens, leases and certificates are kept across restarts, encrypted (state/kept-state.ts); undefined: only
   * in memory. With its bound in bytes and how long an unused entry is kept.
   */
  readonly stateDir?: string;
  readonly stateMaxBytes?: number;
  readonly stateIdleMs?: number;
  /** Request a pod's token through the TokenRequest API when the driver sent none (needs cluster-wide RBAC); default off. */
  readonly tokenRequestFallback?: boolean;
  readonly requestTimeoutMs: number;
  /**
   * A mount's time budget when its caller sets no deadline (default DEFAULT_MOUNT_TIME_BUDGET_MS). No flag: the
   * driver always passes the kubelet's deadline; tests shorten it.
   */
  readonly mountTimeBudgetMs?: number;
  readonly leaseReuseFraction?: number;
  readonly leaseCacheSize?: number;
  readonly leaseCacheMaxBytes?: number;
  /** Admission control (admission/mount-admission.ts): node-wide bytes in flight, one mount's response bytes, mounts at once. */
  readonly memoryBudgetBytes?: number;
  readonly mountResponseBudgetBytes?: number;
  readonly maxMountsInFlight?: number;
  /** Of those, one namespace's; and how many may wait for a place (0: refused at once). */
  readonly maxMountsInFlightPerNamespace?: number;
  readonly maxMountsQueued?: number;
  /**
   * Which Vault addresses, TLS file directories and skip-verify a SecretProviderClass or pod may use (docs/security.md).
   * Absent (settings built by hand): the strictest policy, the default address only and no TLS file directories.
   */
  readonly trust?: TrustSettings;
  /** Per-Vault-address bound on requests in flight and rate (vault/rate-limit.ts); absent: DEFAULT_GATE_LIMITS. */
  readonly vaultLimits?: GateLimits;
  readonly defaults: ProviderDefaults;
}

export type FlagsResult =
  | { readonly kind: 'run'; readonly settings: ProviderSettings }
  | { readonly kind: 'version'; readonly format: VersionFormat }
  | { readonly kind: 'help'; readonly usage: string };

/** Vault's Go client (api.DefaultConfig) talks to this address when neither the flag nor VAULT_ADDR is set. */
export const DEFAULT_VAULT_ADDRESS = 'https://127.0.0.1:8200';
/** kubelet gives a whole Mount 2 minutes, and a mount may need a login and a read: 30 s each fails clearly. */
export const DEFAULT_REQUEST_TIMEOUT = '30s';

/** Leased responses kept: a node runs at most ~110 pods, each with a few dynamic secrets or certificates. */
export const DEFAULT_LEASE_CACHE_SIZE = 5000;
/** 8 MiB of response JSON (~2000 certificate bundles; its share of the old space: docs/benchmark.md, "Memory"). */
export const DEFAULT_LEASE_CACHE_BYTES = 8 * 1024 * 1024;

/** The state file's bound: the token cache (4 KiB × 1000) and the lease cache (8 MiB) with room to spare. */
export const DEFAULT_STATE_MAX_BYTES = 16 * 1024 * 1024;
/** Several of the driver's rotation polls (2m in deploy/driver), so a running pod's entries are always fresh. */
export const DEFAULT_STATE_IDLE_TIMEOUT = '30m';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly valueName?: string;
  /** The value the flag takes when it is not given, as it would be written: the parse reads it from here alone. */
  readonly default?: string;
  readonly help: string;
}

/** Every flag the binary accepts; the Helm chart has a value for each daemon flag (test/deploy/helm-chart.test.ts). */
export const FLAGS: readonly FlagSpec[] = [
  { name: 'endpoint', kind: 'string', valueName: 'path', default: '/tmp/vault.sock', help: 'Unix socket on which the secrets-store CSI driver reaches this provider.' },
  { name: 'debug', kind: 'bool', help: 'Deprecated: same as -log-level=debug (an explicit -log-level wins).' },
  { name: 'log-level', kind: 'string', valueName: 'level', default: 'info', help: `Log level: ${LogLevels.join(', ')}.` },
  { name: 'version', kind: 'bool', help: 'Print version information and exit.' },
  { name: 'output', kind: 'string', valueName: 'format', default: 'json', help: `Format of -version: ${VersionFormats.join(', ')}.` },
  { name: 'health-addr', kind: 'string', valueName: 'host:port', default: ':8080', help: 'Listen address of the health endpoint (GET /health/ready).' },
  { name: 'hmac-secret-name', kind: 'string', valueName: 'name', default: 'vault-csi-provider-hmac-key', help: 'Kubernetes Secret, in the provider\'s namespace, that holds the HMAC key for object versions; created when missing.' },
  { name: 'hmac-key-file', kind: 'string', valueName: 'path', help: 'Read the HMAC key from this file instead of a Kubernetes Secret.' },
  { name: 'cache-size', kind: 'string', valueName: 'n', default: '1000', help: 'Maximum number of Vault tokens kept in memory (about one per pod that mounts secrets on this node).' },
  { name: 'lease-reuse-fraction', kind: 'string', valueName: 'fraction', default: '2/3', help: 'Share of a lease\'s or certificate\'s lifetime during which republishes give a pod the same database credential or certificate; the first mount after it gets a new one. A fraction (2/3) or a decimal, at least 0 and below 1; 0 fetches anew on every mount.' },
  { name: 'lease-cache-size', kind: 'string', valueName: 'n', default: String(DEFAULT_LEASE_CACHE_SIZE), help: 'Maximum number of leased responses (dynamic credentials, certificates) kept in memory: one per pod and distinct request.' },
  { name: 'lease-cache-max-bytes', kind: 'string', valueName: 'bytes', default: String(DEFAULT_LEASE_CACHE_BYTES), help: 'Maximum size, in bytes of response JSON, of the leased responses kept in memory.' },
  { name: 'max-objects-bytes', kind: 'string', valueName: 'bytes', default: String(DEFAULT_INPUT_LIMITS.objectsBytes), help: 'Longest objects parameter (SecretProviderClass with the pod\'s volumeAttributes on top), in bytes; a longer one fails the mount with INVALID_ARGUMENT (INVALID_CONFIG) before it is parsed.' },
  { name: 'max-objects-tokens', kind: 'string', valueName: 'n', default: String(DEFAULT_INPUT_LIMITS.objectsTokens), help: 'Most YAML tokens in the objects parameter (keys, values, indicators, line breaks, indentation; a block scalar is one), and most YAML nodes once its aliases are expanded. Bounds the YAML parser\'s work.' },
  { name: 'max-objects-depth', kind: 'string', valueName: 'n', default: String(DEFAULT_INPUT_LIMITS.objectsDepth), help: `Deepest nesting of lists and maps in the objects parameter, the list of objects being level 1 (secretArgs nest below level 3); at most ${MAX_OBJECTS_DEPTH}.` },
  { name: 'max-objects-aliases', kind: 'string', valueName: 'n', default: String(DEFAULT_INPUT_LIMITS.objectsAliases), help: 'Most YAML aliases (*name, <<: *name) in the objects parameter.' },
  { name: 'max-objects-per-mount', kind: 'string', valueName: 'n', default: String(DEFAULT_INPUT_LIMITS.objectsPerMount), help: 'Most objects one mount may list.' },
  { name: 'max-template-bytes', kind: 'string', valueName: 'bytes', default: String(DEFAULT_INPUT_LIMITS.templateBytes), help: 'Longest template of one object, in bytes.' },
  { name: 'max-template-actions', kind: 'string', valueName: 'n', default: String(DEFAULT_INPUT_LIMITS.templateActions), help: 'Most actions ({{ ... }}) in one template.' },
  { name: 'max-template-arguments', kind: 'string', valueName: 'n', default: String(DEFAULT_INPUT_LIMITS.templateArguments), help: 'Most arguments of one template action (the helper not counted).' },
  { name: 'memory-budget', kind: 'string', valueName: 'bytes', default: String(DEFAULT_NODE_MEMORY_BUDGET), help: 'Bytes the mounts in flight may hold together: Vault responses as they arrive and once parsed, file contents, rendered templates. A mount that would pass it fails with RESOURCE_EXHAUSTED (NODE_BUDGET_EXCEEDED) and is retried by the driver.' },
  { name: 'mount-response-budget', kind: 'string', valueName: 'bytes', default: String(DEFAULT_MOUNT_RESPONSE_BUDGET), help: 'Bytes of Vault responses one mount may read (at most -memory-budget): by default the driver\'s 4 MiB receive limit for files plus 4 MiB that templates may read through inputOnly objects. Over it the mount fails with RESOURCE_EXHAUSTED (MOUNT_TOO_LARGE).' },
  { name: 'max-mounts-in-flight', kind: 'string', valueName: 'n', default: String(DEFAULT_MAX_MOUNTS_IN_FLIGHT), help: 'Mounts served at once; more wait their turn in a queue fair across namespaces (-max-mounts-queued).' },
  { name: 'max-mounts-in-flight-per-namespace', kind: 'string', valueName: 'n', default: String(DEFAULT_MAX_MOUNTS_PER_NAMESPACE), help: 'Of -max-mounts-in-flight, the most one namespace\'s mounts may hold; its next ones wait their turn while other namespaces\' mounts go.' },
  { name: 'max-mounts-queued', kind: 'string', valueName: 'n', default: String(DEFAULT_MAX_MOUNTS_QUEUED), help: 'Mounts that may wait for a place, each for at most half its time budget; past it (or past that time) a mount fails with RESOURCE_EXHAUSTED (NODE_BUDGET_EXCEEDED) and is retried by the driver. 0: refuse at once.' },
  { name: 'write-files', kind: 'bool', help: 'Write the files into the target path ourselves (for drivers before v0.0.21, which expect it).' },
  { name: 'audit-log-file', kind: 'string', valueName: 'path', help: 'Append the audit lines (one per Mount) to this file instead of the main log on stdout.' },
  { name: 'audit-state-max-bytes', kind: 'string', valueName: 'bytes', default: String(DEFAULT_AUDIT_STATE_BYTES), help: 'Bytes of object names and versions the audit keeps to say what changed since a pod volume\'s last mount; past it the least recently mounted volumes are forgotten (their next mount is logged as a first mount).' },
  { name: 'objects-cache-max-bytes', kind: 'string', valueName: 'bytes', default: String(DEFAULT_OBJECTS_CACHE_BYTES), help: 'Bytes of parsed SecretProviderClass objects lists kept for republishes (each counted as its text twice and its parsed form as V8 holds it); past it the least recently used are parsed again when next needed.' },
  { name: 'vault-response-max-values', kind: 'string', valueName: 'n', default: String(DEFAULT_MAX_RESPONSE_VALUES), help: 'JSON values (strings, lists, maps and their entries) one Vault response may hold; a larger one fails the mount with RESOURCE_EXHAUSTED (MOUNT_TOO_LARGE) while it arrives, before it is parsed.' },
  { name: 'state-dir', kind: 'string', valueName: 'path', help: 'Keep Vault tokens, leases and certificates across restarts in an encrypted file in this directory (a node-local hostPath of its own, not the socket directory); the key is derived from the HMAC key. Empty: kept in memory only, and a restart logs in and mints again.' },
  { name: 'state-max-bytes', kind: 'string', valueName: 'bytes', default: String(DEFAULT_STATE_MAX_BYTES), help: 'Largest state file written or read; the least recently used entries are left out to stay under it.' },
  { name: 'state-idle-timeout', kind: 'string', valueName: 'duration', default: DEFAULT_STATE_IDLE_TIMEOUT, help: 'An entry no mount used for this long (Go duration) is left out of the state file: the provider is not told when a pod goes away. Keep it above the driver\'s rotation poll interval.' },
  { name: 'token-request-fallback', kind: 'bool', help: 'When the driver sends no ServiceAccount token, request one through the TokenRequest API (needs create on serviceaccounts/token cluster-wide: deploy/overlays/token-request-fallback). Off: such a mount fails with TOKEN_UNAVAILABLE naming the CSIDriver\'s tokenRequests.' },
  { name: 'vault-request-timeout', kind: 'string', valueName: 'duration', default: DEFAULT_REQUEST_TIMEOUT, help: 'Deadline of one request to Vault, as a Go duration (30s, 1m, 1m30s).' },
  { name: 'vault-addr', kind: 'string', valueName: 'url', help: `Default Vault address, or the comma-separated addresses of one HA cluster's nodes (tried in order; a failed one is skipped for 30s). Environment: VAULT_ADDR. Without either: ${DEFAULT_VAULT_ADDRESS}.` },
  { name: 'vault-max-in-flight', kind: 'string', valueName: 'n', default: String(DEFAULT_GATE_LIMITS.maxInFlight), help: 'Most requests in flight to one Vault address at once, across all mounts; more wait their turn.' },
  { name: 'vault-rate-limit', kind: 'string', valueName: 'per-second', default: String(DEFAULT_GATE_LIMITS.ratePerSecond), help: 'Requests a second to one Vault address, across all mounts (a token bucket; a 429 halves it until Vault answers again).' },
  { name: 'vault-rate-burst', kind: 'string', valueName: 'n', default: String(DEFAULT_GATE_LIMITS.burst), help: 'Requests to one Vault address that may go at once above -vault-rate-limit (the token bucket\'s size).' },
  { name: 'vault-max-in-flight-per-tenant', kind: 'string', valueName: 'n', default: String(DEFAULT_GATE_LIMITS.maxInFlightPerTenant), help: 'Of -vault-max-in-flight, the most one tenant (a pod namespace) may have in flight to one Vault address; a 429 or failures slow only the tenant they answered.' },
  { name: 'vault-mount', kind: 'string', valueName: 'path', default: 'kubernetes', help: 'Default auth mount used to log in (a Kubernetes or JWT auth method).' },
  { name: 'audience', kind: 'string', valueName: 'audiences', default: 'vault', help: 'Default audience of the ServiceAccount token that logs in, for a SecretProviderClass without an audience parameter: one audience or a comma-separated list in order of preference (the first the driver delivered a token for is used).' },
  { name: 'vault-namespace', kind: 'string', valueName: 'namespace', help: 'Default Vault namespace. Environment: VAULT_NAMESPACE.' },
  { name: 'vault-tls-ca-cert', kind: 'string', valueName: 'path', help: 'PEM CA certificate file to trust for Vault; preferred over -vault-tls-ca-directory. Environment: VAULT_CACERT.' },
  { name: 'vault-tls-ca-directory', kind: 'string', valueName: 'path', help: 'Directory of PEM CA certificates to trust for Vault. Environment: VAULT_CAPATH.' },
  { name: 'vault-tls-server-name', kind: 'string', valueName: 'name', help: 'Server name (SNI) for TLS connections to Vault. Environment: VAULT_TLS_SERVER_NAME.' },
  { name: 'vault-tls-client-cert', kind: 'string', valueName: 'path', help: 'PEM client certificate for mutual TLS with Vault; needs -vault-tls-client-key. Environment: VAULT_CLIENT_CERT.' },
  { name: 'vault-tls-client-key', kind: 'string', valueName: 'path', help: 'PEM client key for mutual TLS with Vault; needs -vault-tls-client-cert. Environment: VAULT_CLIENT_KEY.' },
  { name: 'vault-tls-skip-verify', kind: 'bool', help: 'Do not verify Vault\'s TLS certificate (insecure). Environment: VAULT_SKIP_VERIFY.' },
  { name: 'allowed-vault-addresses', kind: 'string', valueName: 'urls', help: 'Comma-separated Vault addresses a SecretProviderClass or pod may name in vaultAddress (the default address is always allowed; * allows any). Default: only the default address (-vault-addr, VAULT_ADDR, or its default).' },
  { name: 'allowed-tls-directories', kind: 'string', valueName: 'dirs', help: 'Comma-separated absolute directories from which a SecretProviderClass or pod may name TLS files (vaultCACertPath, vaultCADirectory, vaultTLSClientCertPath, vaultTLSClientKeyPath); symlinks are resolved first. Default: none, beyond the -vault-tls-* files themselves.' },
  { name: 'allow-skip-tls-verify', kind: 'bool', help: 'Let a SecretProviderClass or pod set vaultSkipTLSVerify=true (refused otherwise).' },
  { name: 'trust-policy', kind: 'string', valueName: 'policy', default: 'strict', help: 'strict, or reference: accept any vaultAddress, TLS files anywhere on the node, vaultSkipTLSVerify and any auth mount, as hashicorp/vault-csi-provider does (the provider\'s own credentials stay unreadable). Not together with the four -allow* flags.' },
  { name: 'allowed-auth-mounts', kind: 'string', valueName: 'paths', help: 'Comma-separated auth mount paths a SecretProviderClass or pod may log in at (vaultAuthMountPath, or an object reading auth/<mount>/login) while the connection presents a client certificate of the operator\'s (-vault-tls-client-cert, or a vaultTLSClientCertPath file): a cert auth method there would log it in as that certificate\'s owner. * allows any. Default: only -vault-mount (and the default path of the mount\'s own vaultAuthMethod). Without a client certificate any auth mount may be named.' },
];
const OPENBAO_FLAG_SPECS: readonly FlagSpec[] = OPENBAO_FLAGS.map(([openbao, ours]) => {
  const spec = FLAGS.find((f) => f.name === ours);
  if (spec === undefined) throw new Error(`no flag -${ours} for -${openbao}`);
  return { ...spec, name: openbao, help: `The OpenBao provider's spelling of -${ours}; give only one of the two.` };
});
const ALL_FLAGS: readonly FlagSpec[] = [...FLAGS, ...OPENBAO_FLAG_SPECS];
const FLAG_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(ALL_FLAGS.map((f) => [f.name, f]));

export function usageText(program = 'vault-csi-provider'): string {
  const lines = [`Usage of ${program}:`];
  // Byte order, as Go's sort.Strings; localeCompare would load ICU's collator (about 6 MiB resident) at every start.
  for (const f of [...ALL_FLAGS].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    lines.push(f.kind === 'bool' ? `  -${f.name}` : `  -${f.name} ${f.valueName ?? 'value'}`);
    lines.push(`    \t${f.help}${f.default === undefined ? '' : ` (default ${JSON.stringify(f.default)})`}`);
  }
  return lines.join('\n');
}

type Parsed = Map<string, string>;

/** The flag's value as given, else its default from FLAGS. */
function valueOf(values: Parsed, flag: string): string {
  const given = values.get(flag);
  if (given !== undefined) return given;
  const fallback = FLAG_BY_NAME.get(flag)?.default;
  if (fallback === undefined) throw new Error(`-${flag} has no default in FLAGS`);
  return fallback;
}

type Env = Readonly<Record<string, string | undefined>>;

/** A non-empty flag wins, then a non-empty environment variable (Vault's client ignores empty ones too). */
function stringSetting(values: Parsed, flag: string, env: Env, envName?: string): string | undefined {
  const fromFlag = values.get(flag);
  if (fromFlag !== undefined && fromFlag !== '') return fromFlag;
  const fromEnv = envName === undefined ? undefined : env[envName];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

const HOST_PORT = /^(?:\[[0-9A-Za-z:.%]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

function logLevelFrom(values: Parsed, usage: string): LogLevel {
  const raw = values.get('log-level');
  // The reference lets -log-level (default info) win over -debug, which makes -debug a no-op; an explicit
  // -log-level still wins here, but -debug alone now does what it says.
  if (raw === undefined || raw.trim() === '') return values.get('debug') === 'true' ? 'debug' : 'info';
  const level = raw.trim().toLowerCase();
  // The reference falls back to info on a typo; a typo in a log level is better caught at start-up.
  if (!(LogLevels as readonly string[]).includes(level)) {
    throw new UsageError(`invalid value ${JSON.stringify(raw)} for -log-level: use one of ${LogLevels.join(', ')}`, usage);
  }
  return level as LogLevel;
}

/** `parse()`, its INVALID_CONFIG as a usage error (a flag the provider cannot start with). */
function asUsage<T>(parse: () => T, usage: string): T {
  try {
    return parse();
  } catch (err: unknown) {
    throw new UsageError(err instanceof Error ? err.message : 'invalid value', usage);
  }
}

function defaultsFrom(values: Parsed, env: Env, usage: string): ProviderDefaults {
  const rawAddress = stringSetting(values, 'vault-addr', env, 'VAULT_ADDR') ?? DEFAULT_VAULT_ADDRESS;
  let vaultAddress: string;
  try {
    vaultAddress = normaliseVaultAddresses(rawAddress, stringSetting(values, 'vault-addr', {}) !== undefined ? '-vault-addr' : 'VAULT_ADDR').join(',');
  } catch (err: unknown) {
    throw new UsageError(err instanceof Error ? err.message : 'invalid Vault address', usage);
  }

  // Validated and normalised here, once: every mount trusts the defaults (config/connection.ts).
  const rawMount = valueOf(values, 'vault-mount');
  if (trimSlashes(rawMount) === '') throw new UsageError('-vault-mount must not be empty', usage);
  const mount = asUsage(() => normaliseAuthMount(rawMount, '-vault-mount'), usage);
  const rawNamespace = stringSetting(values, 'vault-namespace', env, 'VAULT_NAMESPACE');
  const vaultNamespace = rawNamespace === undefined ? undefined : asUsage(() => checkNamespace(rawNamespace, stringSetting(values, 'vault-namespace', {}) !== undefined ? '-vault-namespace' : 'VAULT_NAMESPACE'), usage);

  let skipVerify: boolean;
  const skipFlag = values.get('vault-tls-skip-verify');
  if (skipFlag !== undefined) {
    skipVerify = skipFlag === 'true';
  } else {
    const rawEnv = env.VAULT_SKIP_VERIFY;
    if (rawEnv === undefined || rawEnv === '') {
      skipVerify = false;
    } else {
      const parsed = parseGoBool(rawEnv);
      if (parsed === undefined) throw new UsageError('could not parse VAULT_SKIP_VERIFY: use true or false', usage);
      skipVerify = parsed;
    }
  }

  const tls: TlsParametersDraft = { skipVerify };
  const put = (field: Exclude<keyof TlsParameters, 'skipVerify'>, flag: string, envName: string): void => {
    const v = stringSetting(values, flag, env, envName);
    if (v !== undefined) tls[field] = v;
  };
  put('caCertPath', 'vault-tls-ca-cert', 'VAULT_CACERT');
  put('caDirectory', 'vault-tls-ca-directory', 'VAULT_CAPATH');
  put('serverName', 'vault-tls-server-name', 'VAULT_TLS_SERVER_NAME');
  put('clientCertPath', 'vault-tls-client-cert', 'VAULT_CLIENT_CERT');
  put('clientKeyPath', 'vault-tls-client-key', 'VAULT_CLIENT_KEY');
  if ((tls.clientCertPath === undefined) !== (tls.clientKeyPath === undefined)) {
    throw new UsageError(
      'a Vault client certificate needs its key: set both -vault-tls-client-cert and -vault-tls-client-key (or VAULT_CLIENT_CERT and VAULT_CLIENT_KEY)',
      usage,
    );
  }

  // hashicorp/vault-csi-provider#366: the operator's default audience (list) a SecretProviderClass may override.
  const audience = values.get('audience');
  if (audience !== undefined && audience.split(',').some((a) => a.trim() === '')) {
    throw new UsageError('-audience must be an audience or a comma-separated list of audiences, without empty entries', usage);
  }

  return {
    vaultAddress,
    vaultMount: mount,
    vaultNamespace,
    tls,
    ...(audience === undefined ? {} : { audience }),
    ...inputLimitsFrom(values, usage),
  };
}

/** The caps on what a SecretProviderClass may ask; none given: no entry (DEFAULT_INPUT_LIMITS). */
function inputLimitsFrom(values: Parsed, usage: string): { inputLimits?: InputLimits } {
  if (!Object.values(INPUT_LIMIT_FLAGS).some((flag) => values.has(flag))) return {};
  const entries = (Object.keys(INPUT_LIMIT_FLAGS) as Array<keyof InputLimits>).map((cap) => [cap, positiveInt(values, INPUT_LIMIT_FLAGS[cap], usage)] as const);
  const limits = Object.fromEntries(entries) as Record<keyof InputLimits, number>;
  if (limits.objectsDepth > MAX_OBJECTS_DEPTH) {
    throw new UsageError(`invalid value ${JSON.stringify(values.get(INPUT_LIMIT_FLAGS.objectsDepth))} for -${INPUT_LIMIT_FLAGS.objectsDepth}: at most ${MAX_OBJECTS_DEPTH}`, usage);
  }
  return { inputLimits: limits };
}

/** Throws UsageError for anything we cannot run with; the caller exits with status 2, as Go programs do. */
export function parseFlags(argv: readonly string[], givenEnv: Env): FlagsResult {
  const usage = usageText();
  const scanned = scanGoFlags(argv, { kindOf: (name) => FLAG_BY_NAME.get(name)?.kind, usage });
  if (scanned === 'help') return { kind: 'help', usage };
  // The OpenBao provider's -openbao-* flags and BAO_* variables become ours; both spellings of one is an error.
  const openBao = <T>(fold: () => T): T => {
    try {
      return fold();
    } catch (err: unknown) {
      if (err instanceof SpellingConflict) throw new UsageError(err.message, usage);
      throw err;
    }
  };
  const values = openBao(() => foldOpenBaoFlags(scanned));

  const output = valueOf(values, 'output');
  // The reference accepts an empty -output as its default.
  const format = output === '' ? 'json' : output;
  if (!(VersionFormats as readonly string[]).includes(format)) {
    throw new UsageError(`-output should be one of: ${VersionFormats.join(', ')}`, usage);
  }
  // -version needs nothing else to be valid, so a broken environment cannot hide the version.
  if (values.get('version') === 'true') return { kind: 'version', format: format as VersionFormat };
  const env = openBao(() => foldOpenBaoEnv(givenEnv));

  const endpoint = valueOf(values, 'endpoint');
  if (endpoint === '') throw new UsageError('-endpoint must not be empty', usage);

  const healthAddr = valueOf(values, 'health-addr');
  const port = HOST_PORT.exec(healthAddr)?.[1];
  if (port === undefined || Number(port) > 65535) {
    throw new UsageError(`-health-addr must be host:port or :port, such as ":8080"`, usage);
  }

  const hmacSecretName = valueOf(values, 'hmac-secret-name');
  const hmacKeyFile = stringSetting(values, 'hmac-key-file', env);
  if (hmacKeyFile === undefined && (hmacSecretName.length > 253 || !DNS_SUBDOMAIN.test(hmacSecretName))) {
    throw new UsageError('-hmac-secret-name must be a Kubernetes object name (lower-case letters, digits, - and .)', usage);
  }

  const rawCacheSize = valueOf(values, 'cache-size');
  const cacheSize = parseGoInt(rawCacheSize);
  if (cacheSize === undefined || cacheSize < 1n || cacheSize > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UsageError(`invalid value ${JSON.stringify(rawCacheSize)} for -cache-size: use a positive integer`, usage);
  }

  const rawTimeout = valueOf(values, 'vault-request-timeout');
  const timeoutMs = parseGoDurationMs(rawTimeout);
  if (timeoutMs === undefined || timeoutMs < 1) {
    throw new UsageError(
      `invalid value ${JSON.stringify(rawTimeout)} for -vault-request-timeout: use a positive Go duration such as 30s or 1m`,
      usage,
    );
  }

  return {
    kind: 'run',
    settings: {
      endpoint,
      healthAddr,
      logLevel: logLevelFrom(values, usage),
      hmacSecretName,
      hmacKeyFile,
      cacheSize: Number(cacheSize),
      writeFiles: values.get('write-files') === 'true',
      ...auditSettingsFrom(values),
      ...answerBoundsFrom(values, usage),
      ...stateSettingsFrom(values, usage),
      requestTimeoutMs: Math.ceil(timeoutMs),
      ...leaseSettingsFrom(values, usage),
      ...admissionSettingsFrom(values, usage),
      trust: trustFrom(values, usage),
      vaultLimits: {
        maxInFlight: positiveInt(values, 'vault-max-in-flight', usage),
        maxInFlightPerTenant: positiveInt(values, 'vault-max-in-flight-per-tenant', usage),
        ratePerSecond: positiveInt(values, 'vault-rate-limit', usage),
        burst: positiveInt(values, 'vault-rate-burst', usage),
      },
      defaults: defaultsFrom(values, env, usage),
    },
  };
}

function parseFraction(raw: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:\/\s*([0-9]+(?:\.[0-9]*)?)\s*)?$/.exec(raw);
  if (m === null) return undefined;
  const value = Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2]));
  return Number.isFinite(value) ? value : undefined;
}

function positiveInt(values: Parsed, flag: string, usage: string, min = 1): number {
  const raw = valueOf(values, flag);
  const n = parseGoInt(raw);
  if (n === undefined || n < BigInt(min) || n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UsageError(`invalid value ${JSON.stringify(raw)} for -${flag}: use a ${min === 0 ? 'non-negative' : 'positive'} integer`, usage);
  }
  return Number(n);
}

function leaseSettingsFrom(values: Parsed, usage: string): Pick<ProviderSettings, 'leaseReuseFraction' | 'leaseCacheSize' | 'leaseCacheMaxBytes'> {
  const rawFraction = valueOf(values, 'lease-reuse-fraction');
  const fraction = parseFraction(rawFraction);
  // 1 would hand out a credential up to the instant it dies, leaving the app no time to move to the next one.
  if (fraction === undefined || fraction < 0 || fraction >= 1) {
    throw new UsageError(
      `invalid value ${JSON.stringify(rawFraction)} for -lease-reuse-fraction: use a fraction such as 2/3 or 0.5, at least 0 and below 1`,
      usage,
    );
  }
  return {
    leaseReuseFraction: fraction,
    leaseCacheSize: positiveInt(values, 'lease-cache-size', usage),
    leaseCacheMaxBytes: positiveInt(values, 'lease-cache-max-bytes', usage),
  };
}

function admissionSettingsFrom(
  values: Parsed,
  usage: string,
): Pick<ProviderSettings, 'memoryBudgetBytes' | 'mountResponseBudgetBytes' | 'maxMountsInFlight' | 'maxMountsInFlightPerNamespace' | 'maxMountsQueued'> {
  const node = positiveInt(values, 'memory-budget', usage);
  // A mount budget above the node's could never be used; the default follows a smaller node budget down.
  const perMount = positiveInt(values, 'mount-response-budget', usage);
  const mount = values.has('mount-response-budget') ? perMount : Math.min(perMount, node);
  if (mount > node) {
    throw new UsageError(`-mount-response-budget (${mount}) must not exceed -memory-budget (${node}): one mount cannot hold more than all of them`, usage);
  }
  return {
    memoryBudgetBytes: node,
    mountResponseBudgetBytes: mount,
    maxMountsInFlight: positiveInt(values, 'max-mounts-in-flight', usage),
    maxMountsInFlightPerNamespace: positiveInt(values, 'max-mounts-in-flight-per-namespace', usage),
    maxMountsQueued: positiveInt(values, 'max-mounts-queued', usage, 0),
  };
}

function trustFrom(values: Parsed, usage: string): TrustSettings {
  try {
    return parseTrustFlags({
      addresses: values.get('allowed-vault-addresses'),
      directories: values.get('allowed-tls-directories'),
      allowSkipTlsVerify: values.get('allow-skip-tls-verify') === 'true',
      authMounts: values.get('allowed-auth-mounts'),
      policy: values.get('trust-policy'),
    });
  } catch (err: unknown) {
    throw new UsageError(err instanceof Error ? err.message : 'invalid trust flags', usage);
  }
}

function answerBoundsFrom(values: Parsed, usage: string): Pick<ProviderSettings, 'auditStateMaxBytes' | 'vaultResponseMaxValues' | 'objectsCacheMaxBytes'> {
  return {
    ...(values.has('objects-cache-max-bytes') ? { objectsCacheMaxBytes: positiveInt(values, 'objects-cache-max-bytes', usage) } : {}),
    ...(values.has('audit-state-max-bytes') ? { auditStateMaxBytes: positiveInt(values, 'audit-state-max-bytes', usage) } : {}),
    ...(values.has('vault-response-max-values') ? { vaultResponseMaxValues: positiveInt(values, 'vault-response-max-values', usage) } : {}),
  };
}

function auditSettingsFrom(values: Parsed): Pick<ProviderSettings, 'auditLogFile'> {
  const path = values.get('audit-log-file');
  return path === undefined || path === '' ? {} : { auditLogFile: path };
}

function stateSettingsFrom(values: Parsed, usage: string): Pick<ProviderSettings, 'stateDir' | 'stateMaxBytes' | 'stateIdleMs' | 'tokenRequestFallback'> {
  const dir = values.get('state-dir');
  const rawIdle = valueOf(values, 'state-idle-timeout');
  const idleMs = parseGoDurationMs(rawIdle);
  if (idleMs === undefined || idleMs < 1000) {
    throw new UsageError(`invalid value ${JSON.stringify(rawIdle)} for -state-idle-timeout: use a Go duration of at least 1s, such as 30m`, usage);
  }
  return {
    ...(dir === undefined || dir === '' ? {} : { stateDir: dir }),
    stateMaxBytes: positiveInt(values, 'state-max-bytes', usage),
    stateIdleMs: Math.ceil(idleMs),
    tokenRequestFallback: values.get('token-request-fallback') === 'true',
  };
}
