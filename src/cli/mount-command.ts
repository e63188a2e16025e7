/**
 * `vault-csi-provider mount`: one Mount without a cluster, through the real pieces, written as `--write-files` does.
 * Prints objects, paths, sizes, modes and versions, never contents; the exit code says what went wrong.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { jwtIdentity } from '../auth/jwt-claims.js';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { ErrorCode } from '../errors.js';
import { errnoCode, ProviderError, toProviderError } from '../errors.js';
import { parseMountRequest, TOKENS_KEY } from '../config/mount-request.js';
import type { VaultClientPool } from '../vault/client-pool.js';
import type { HmacKeySource } from '../mount/hmac-key.js';
import { ProviderMetrics } from '../observability/metrics.js';
import type { VaultClientOptions } from '../vault/client.js';
import { AtomicWriter } from '../output/atomic-writer.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { parseFlags } from './flags.js';
import { scanGoFlags, UsageError, type FlagKind } from './go-flags.js';
import { driverAttributes, ManifestError, parsePod, parseSecretProviderClasses, selectVolume, type PodManifest } from './manifests.js';
import type { MountResult } from '../conductor/mount-service.js';
import { buildMountService, buildVaultClients, hmacKeyFor, trustPolicyFor } from './object-graph.js';

/**
 * Exit codes (docs/secretproviderclass.md#vault-csi-provider-mount-a-secretproviderclass-without-a-cluster): scripts can
 * tell a bad manifest from a Vault that says no.
 */
export const MountExitCodes = {
  ok: 0,
  /** Anything else: Vault unreachable or sealed, TLS, a write that failed, a bad value (DECODE_FAILED). */
  failed: 1,
  /** The command line: an unknown flag, a missing one, an input file that cannot be read. */
  usage: 2,
  /** The SecretProviderClass (or the Pod's volume) is invalid: INVALID_CONFIG, or a manifest Kubernetes would refuse. */
  invalidSecretProviderClass: 3,
  /** Vault refused the login (AUTH_FAILED), there is no token to log in with (TOKEN_UNAVAILABLE), or it is not the pod's (FOREIGN_TOKEN). */
  authentication: 4,
  /** A secret or key the SecretProviderClass names is not in Vault (SECRET_NOT_FOUND, KEY_NOT_FOUND). */
  missingSecret: 5,
  /** The role's policies do not allow a path (PERMISSION_DENIED), or the trust flags a parameter (PARAMETER_NOT_ALLOWED). */
  permissionDenied: 6,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_CONFIG':
      return MountExitCodes.invalidSecretProviderClass;
    case 'AUTH_FAILED':
    case 'FOREIGN_TOKEN':
    case 'TOKEN_UNAVAILABLE':
      return MountExitCodes.authentication;
    case 'SECRET_NOT_FOUND':
    case 'KEY_NOT_FOUND':
      return MountExitCodes.missingSecret;
    case 'PERMISSION_DENIED':
    case 'PARAMETER_NOT_ALLOWED':
      return MountExitCodes.permissionDenied;
    default:
      return MountExitCodes.failed;
  }
}

export interface MountCommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Tests: a fixed key so versions are stable; default: --hmac-key-file, else a random key. */
  readonly hmacKey?: HmacKeySource;
  readonly vaultClient?: VaultClientOptions;
}

interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly help: string;
  /** Passed on to the daemon's flag parser, which gives it the daemon's meaning (and environment variables). */
  readonly daemon?: true;
}

const FLAGS: readonly FlagSpec[] = [
  { name: 'secret-provider-class', kind: 'string', help: 'YAML file holding the SecretProviderClass (required).' },
  { name: 'name', kind: 'string', help: 'Which SecretProviderClass of the file, when it holds several and no --pod chooses.' },
  { name: 'pod', kind: 'string', help: 'YAML file of the Pod (or Deployment, StatefulSet, Job, …) whose volume mounts it: its volumeAttributes, namespace and ServiceAccount.' },
  { name: 'volume', kind: 'string', help: 'Which secrets-store volume of the pod, when it has several.' },
  { name: 'jwt-file', kind: 'string', help: 'File holding the ServiceAccount JWT to log in with (required), e.g. from `kubectl create token <sa> --audience vault`.' },
  { name: 'target', kind: 'string', help: 'Directory to write the files into, created when missing (required).' },
  { name: 'namespace', kind: 'string', help: 'The pod\'s namespace without --pod (default: the SecretProviderClass\'s, else "default").' },
  { name: 'service-account', kind: 'string', help: 'The pod\'s ServiceAccount without --pod (default "default").' },
  { name: 'permission', kind: 'string', help: 'Default file mode, octal (default 0644), as the driver\'s filePermission.' },
  { name: 'log-level', kind: 'string', daemon: true, help: 'Log level of the JSON lines on stderr (default "warn").' },
  { name: 'hmac-key-file', kind: 'string', daemon: true, help: 'Key for object versions (the node\'s, to compare versions); default: a random key per run.' },
  { name: 'vault-addr', kind: 'string', daemon: true, help: 'Default Vault address (VAULT_ADDR); a vaultAddress parameter wins, as on a node.' },
  { name: 'vault-mount', kind: 'string', daemon: true, help: 'Default auth mount (default "kubernetes").' },
  { name: 'vault-namespace', kind: 'string', daemon: true, help: 'Default Vault namespace (VAULT_NAMESPACE).' },
  { name: 'vault-tls-ca-cert', kind: 'string', daemon: true, help: 'Default CA file (VAULT_CACERT).' },
  { name: 'vault-tls-ca-directory', kind: 'string', daemon: true, help: 'Default CA directory (VAULT_CAPATH).' },
  { name: 'vault-tls-server-name', kind: 'string', daemon: true, help: 'Default TLS server name (VAULT_TLS_SERVER_NAME).' },
  { name: 'vault-tls-client-cert', kind: 'string', daemon: true, help: 'Default client certificate (VAULT_CLIENT_CERT).' },
  { name: 'vault-tls-client-key', kind: 'string', daemon: true, help: 'Default client key (VAULT_CLIENT_KEY).' },
  { name: 'vault-tls-skip-verify', kind: 'bool', daemon: true, help: 'Do not verify Vault\'s certificate (VAULT_SKIP_VERIFY).' },
  { name: 'vault-request-timeout', kind: 'string', daemon: true, help: 'Deadline of one request to Vault (default 30s).' },
  { name: 'allowed-vault-addresses', kind: 'string', daemon: true, help: 'As on a node: the Vault addresses a vaultAddress parameter may name (default: only the provider\'s own address: --vault-addr, else VAULT_ADDR, else the built-in default).' },
  { name: 'allowed-tls-directories', kind: 'string', daemon: true, help: 'As on a node: directories from which parameters may name TLS files.' },
  { name: 'allow-skip-tls-verify', kind: 'bool', daemon: true, help: 'As on a node: let vaultSkipTLSVerify=true through.' },
  { name: 'trust-policy', kind: 'string', daemon: true, help: 'As on a node: strict (default) or reference (the three above and --allowed-auth-mounts at their widest).' },
  { name: 'allowed-auth-mounts', kind: 'string', daemon: true, help: 'As on a node: the auth mounts a mount may log in at while a client certificate of the operator\'s is presented (default: only --vault-mount).' },
];
const FLAG_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.name, f]));

export function mountUsage(): string {
  const lines = [
    'Usage: vault-csi-provider mount --secret-provider-class FILE --jwt-file FILE --target DIR [flags]',
    '',
    'Mounts one SecretProviderClass as the provider would on a node, without a cluster: the files are written',
    'into DIR atomically and a table of objects, paths, sizes, modes and versions is printed (never contents).',
    '',
    'Exit codes: 0 mounted; 1 other failure; 2 usage; 3 invalid SecretProviderClass; 4 authentication failed;',
    '5 secret or key missing in Vault; 6 permission denied.',
    '',
    'Flags:',
  ];
  for (const f of FLAGS) lines.push(`  --${f.name}${f.kind === 'bool' ? '' : ' value'}`, `      ${f.help}`);
  return lines.join('\n');
}

function required(values: ReadonlyMap<string, string>, name: string): string {
  const value = values.get(name);
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`, mountUsage());
  return value;
}

async function readInput(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err: unknown) {
    const code = errnoCode(err) ?? 'error';
    throw new UsageError(`cannot read the ${what} ${path} (${code})`, mountUsage());
  }
}

function permissionOf(raw: string | undefined): number {
  if (raw === undefined) return 0o644;
  if (!/^0?[0-7]{1,3}$/.test(raw)) throw new UsageError('--permission must be an octal file mode such as 0644', mountUsage());
  return parseInt(raw, 8);
}

class Failure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Runs the subcommand; returns the exit code. Never throws for expected failures. */
export async function runMountCommand(argv: readonly string[], io: MountCommandIo): Promise<number> {
  let clients: VaultClientPool | undefined;
  try {
    const values = scanGoFlags(argv, { kindOf: (name) => FLAG_BY_NAME.get(name)?.kind, usage: mountUsage(), command: 'mount' });
    if (values === 'help') {
      io.stdout(`${mountUsage()}\n`);
      return MountExitCodes.ok;
    }
    const daemonArgs = [...values].filter(([name]) => FLAG_BY_NAME.get(name)?.daemon === true).map(([name, value]) => `--${name}=${value}`);
    const parsed = parseFlags(values.has('log-level') ? daemonArgs : [...daemonArgs, '--log-level=warn'], io.env);
    if (parsed.kind !== 'run') throw new UsageError('unexpected flags for mount', mountUsage());
    const settings = parsed.settings;

    const spcFile = required(values, 'secret-provider-class');
    const jwtFile = required(values, 'jwt-file');
    const target = resolve(required(values, 'target'));
    const permission = permissionOf(values.get('permission'));
    const podFile = values.get('pod');
    const [spcText, podText, jwtText] = await Promise.all([
      readInput(spcFile, 'SecretProviderClass file'),
      podFile === undefined ? Promise.resolve(undefined) : readInput(podFile, 'Pod file'),
      readInput(jwtFile, 'JWT file'),
    ]);
    const jwt = jwtText.trim();
    if (jwt === '') throw new UsageError(`the JWT file ${jwtFile} is empty`, mountUsage());

    let attributes: Record<string, string>;
    try {
      const classes = parseSecretProviderClasses(spcText, spcFile);
      const pod: PodManifest | undefined = podText === undefined ? undefined : parsePod(podText, podFile!);
      const selection = selectVolume(classes, pod, values.get('volume'), values.get('name'));
      // What the manifests and flags leave open comes from the JWT itself: it is the identity that logs in, and the
      // provider refuses a token whose claims name another ServiceAccount or pod.
      const fromJwt = jwtIdentity(jwt);
      attributes = driverAttributes(selection, {
        name: pod?.name ?? fromJwt.podName ?? 'local-mount',
        namespace: pod?.namespace ?? values.get('namespace') ?? fromJwt.namespace ?? selection.spc.namespace ?? 'default',
        uid: pod?.uid ?? fromJwt.podUid ?? randomUUID(),
        serviceAccountName: pod?.serviceAccountName ?? values.get('service-account') ?? fromJwt.serviceAccountName ?? 'default',
      });
    } catch (err: unknown) {
      if (err instanceof ManifestError) throw new Failure(MountExitCodes.invalidSecretProviderClass, `invalid manifest: ${err.message}`);
      throw err;
    }
    const audience = attributes['audience'] === undefined || attributes['audience'] === '' ? 'vault' : attributes['audience'];
    attributes[TOKENS_KEY] = JSON.stringify({ [audience]: { token: jwt, expirationTimestamp: '' } });

    const logger: Logger = createLogger(settings.logLevel, { write: (line: string) => void io.stderr(line) });
    // The graph a node started with these flags would build (object-graph.ts), with the atomic writer of --write-files.
    // Its metrics are counted and never served.
    const metrics = new ProviderMetrics({ processMetrics: false, eventLoopDelay: false });
    const trust = trustPolicyFor(settings);
    clients = buildVaultClients(settings, trust, metrics, logger, io.vaultClient === undefined ? {} : { vaultClient: io.vaultClient }).clients;
    const hmacKey = io.hmacKey === undefined ? hmacKeyFor(settings) : { source: io.hmacKey, random: false };
    const { mounts } = buildMountService(
      settings,
      {
        clients,
        trust,
        hmacKey: hmacKey.source,
        metrics,
        tokenRequester: undefined,
        writer: new AtomicWriter({ logger: logger.child({ component: 'writer' }) }),
        onIgnoredParameters: (names) => io.stderr(`note: ignoring unknown parameters: ${names.join(', ')}\n`),
      },
      {},
    );
    const config = parseMountRequest({ attributes: JSON.stringify(attributes), secrets: 'null', targetPath: target, permission: String(permission) }, settings.defaults);
    await mkdir(target, { recursive: true, mode: 0o755 }).catch((err: unknown) => {
      throw new ProviderError('WRITE_FAILED', `cannot create the target directory ${target} (${errnoCode(err) ?? 'error'})`);
    });
    const result = await mounts.mount(config);

    io.stdout(`${formatTable(reportRows(result))}\n`);
    const fileCount = result.objects.reduce((n, o) => n + o.files.length, 0);
    io.stdout(`\n${fileCount} files from ${result.objects.length} objects written to ${target} (${result.requests} Vault requests)\n`);
    if (hmacKey.random) {
      io.stdout('versions use a random key for this run; pass --hmac-key-file to compare them with a node\'s\n');
    }
    return MountExitCodes.ok;
  } catch (err: unknown) {
    if (err instanceof UsageError) {
      io.stderr(`vault-csi-provider mount: ${err.problem}\n\n${err.usage}\n`);
      return MountExitCodes.usage;
    }
    if (err instanceof Failure) {
      io.stderr(`vault-csi-provider mount: ${err.message}\n`);
      return err.exitCode;
    }
    const error = err instanceof ProviderError ? err : toProviderError(err);
    io.stderr(`vault-csi-provider mount: ${error.publicMessage}\n`);
    return exitCodeFor(error.code);
  } finally {
    await clients?.close();
  }
}

/**
 * The report `vault-csi-provider mount` prints: one row per file (object, path, size, mode, version), plus rows for
 * optional objects Vault did not have and for template inputs. Names, sizes, modes and HMAC versions only: there
 * is no column a secret value could reach. Pure.
 */

const HEADER = ['OBJECT', 'PATH', 'SIZE', 'MODE', 'VERSION', 'NOTE'] as const;

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** Rows in the SecretProviderClass's order; template inputs last. */
export function reportRows(result: Pick<MountResult, 'objects' | 'inputs'>): string[][] {
  const rows: string[][] = [];
  for (const obj of result.objects) {
    if (obj.state === 'absent') {
      rows.push([obj.objectName, '-', '-', '-', obj.version, 'optional: not in Vault, no file']);
      continue;
    }
    for (const file of obj.files) rows.push([obj.objectName, file.path, String(file.bytes), octal(file.mode), obj.version, '']);
    if (obj.files.length === 0) rows.push([obj.objectName, '-', '0', '-', obj.version, 'no keys, no file']);
  }
  for (const input of result.inputs) rows.push([input.objectName, '-', '-', '-', '-', 'template input, no file']);
  return rows;
}

/** Left-aligned columns, SIZE right-aligned, two spaces apart; trailing blanks trimmed. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const all = [[...HEADER], ...rows];
  const widths = HEADER.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, col) => (col === 2 ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
