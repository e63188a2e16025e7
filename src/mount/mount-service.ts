/**
 * One Mount, start to end: config → connection → token → distinct requests in parallel → contents → versions →
 * file set → (optionally) the atomic writer. All-or-nothing: any failing object fails the mount and no file is
 * returned or written.
 */
import { ProviderError, toProviderError } from '../errors.js';
import type { ConnectionSettings, MountConfig, ProviderDefaults } from '../config/types.js';
import { parseMountRequest } from '../config/mount-request.js';
import { TrustBoundary } from './trust-boundary.js';
import type { Authenticator, TokenLease, VaultToken } from '../auth/authenticator.js';
import type { VaultClient } from '../vault/client.js';
import type { VaultClientPool } from '../vault/client-pool.js';
import type { SecretResponse } from '../vault/responses.js';
import { buildFileSet, type OutputFile } from '../output/file-set.js';
import type { AtomicWriter } from '../output/atomic-writer.js';
import type { HmacKeySource } from './hmac-key.js';
import { assembleObjects, readOrAbsent, type AssembledObject, type ReadOutcome } from './assemble.js';
import { groupByRequest, type RequestGroup } from './request-key.js';
import { mapLimit } from './map-limit.js';
import { ResponseReuse } from './response-reuse.js';

export interface RawMountRequest {
  readonly attributes: string;
  readonly secrets: string;
  readonly targetPath: string;
  readonly permission: string;
}

/** One object of the mount as the server, the audit line and the metrics see it. */
export interface MountedObject extends AssembledObject {
  /** True when the pod's kept lease or certificate answered, not a Vault request of this mount (for the audit line). */
  readonly cached?: boolean;
}

export interface MountResult {
  readonly config: MountConfig;
  readonly connection: ConnectionSettings;
  readonly objects: readonly MountedObject[];
  readonly objectVersions: ReadonlyArray<{ readonly id: string; readonly version: string }>;
  /** inputOnly objects: read for templates, with no file and no version. */
  readonly inputs: ReadonlyArray<{ readonly objectName: string; readonly secretPath: string }>;
  /** Empty in --write-files mode: the provider wrote them itself. */
  readonly files: readonly OutputFile[];
  /** Distinct Vault requests this mount made or joined (after de-duplication; reused responses excluded). */
  readonly requests: number;
  /** Distinct requests answered by the pod's kept lease or certificate, without asking Vault. */
  readonly reused: number;
  readonly wroteFiles: boolean;
}

export interface MountServiceOptions {
  readonly defaults: ProviderDefaults;
  readonly clients: VaultClientPool;
  readonly auth: Authenticator;
  readonly hmacKey: HmacKeySource;
  /** Present in --write-files mode. */
  readonly writer?: AtomicWriter;
  /** Distinct Vault requests in flight per mount (default 16). */
  readonly readConcurrency?: number;
  readonly limitBytes?: number;
  /** Called with what a parsed request asked for and ignored, for a debug line. */
  readonly onIgnoredParameters?: (names: readonly string[]) => void;
  /** Lease/certificate reuse across mounts and single-flight; default: single-flight only, nothing kept. */
  readonly reuse?: ResponseReuse;
  /**
   * The operator's trust policy for vaultAddress, TLS files and skip-verify (SECURITY.md). Default: the strictest
   * (the default address only, no TLS file a mount may name, no skip-verify).
   */
  readonly trust?: TrustBoundary;
}

export class MountService {
  readonly #options: MountServiceOptions;
  readonly #reuse: ResponseReuse;
  readonly #trust: TrustBoundary;

  constructor(options: MountServiceOptions) {
    this.#options = options;
    this.#reuse = options.reuse ?? new ResponseReuse();
    this.#trust = options.trust ?? TrustBoundary.strict(options.defaults);
  }

  /** Parse only: lets the server log who is asking even when the mount later fails. */
  parse(request: RawMountRequest): MountConfig {
    return parseMountRequest(request);
  }

  async mount(config: MountConfig, signal?: AbortSignal): Promise<MountResult> {
    if (config.ignoredParameters.length > 0) this.#options.onIgnoredParameters?.(config.ignoredParameters);
    const connection = await this.#trust.connection(config);
    const client = await this.#options.clients.get(connection);
    const hmacKeyPromise = this.#options.hmacKey.getKey();
    // A rejection here must not go unhandled while the reads run; it is awaited below.
    hmacKeyPromise.catch(() => undefined);
    const lease = await this.#options.auth.token(client, config, signal);

    const groups = groupByRequest(config.objects);
    const responses = new Map<string, ReadOutcome>();
    const keptRequests = new Set<string>();
    await mapLimit(groups, this.#options.readConcurrency ?? 16, async (group) => {
      const scope = { podUid: config.pod.uid, identityKey: lease.token.identityKey, requestKey: group.key };
      const kept = this.#reuse.reused(scope);
      if (kept !== undefined) keptRequests.add(group.key);
      responses.set(group.key, kept ?? (await readOrAbsent(group.objects, () => this.#read(client, config, group, lease, signal))));
    });

    const key = await hmacKeyPromise;
    // In the SecretProviderClass's order, whatever order the requests finished in.
    const assembled = assembleObjects(config, responses, key);
    const { files, inputs } = assembled;
    const cachedNames = new Set(groups.filter((g) => keptRequests.has(g.key)).flatMap((g) => g.objects.map((o) => o.objectName)));
    const objects: MountedObject[] = assembled.objects.map((o) => (cachedNames.has(o.objectName) ? { ...o, cached: true } : o));
    const fileSet = buildFileSet(files, this.#options.limitBytes);

    const writer = this.#options.writer;
    if (writer !== undefined) await writer.write(config.targetPath, fileSet);
    return {
      config,
      connection,
      objects,
      objectVersions: objects.map((o) => ({ id: o.objectName, version: o.version })),
      inputs,
      files: writer === undefined ? fileSet : [],
      requests: groups.length - keptRequests.size,
      reused: keptRequests.size,
      wroteFiles: writer !== undefined,
    };
  }

  /** One distinct request; on a 403 with a cached token, one new login and one retry (as the reference does). */
  async #read(
    client: VaultClient,
    config: MountConfig,
    group: RequestGroup,
    lease: TokenLease,
    signal: AbortSignal | undefined,
  ): Promise<SecretResponse> {
    const obj = group.lead;
    const request = group.request;
    const scope = { podUid: config.pod.uid, identityKey: lease.token.identityKey, requestKey: group.key };
    // Concurrent mounts of the same identity share one request; a lease or certificate is kept for this pod.
    const send = (token: VaultToken): Promise<SecretResponse> =>
      this.#reuse.fetch(scope, token, obj.method, (shared) => client.request(token.token, request, shared), signal);
    try {
      try {
        return await send(lease.token);
      } catch (err: unknown) {
        // A token fresh from this mount's own login is not going to fare better after another login.
        if (!(err instanceof ProviderError) || err.code !== 'PERMISSION_DENIED' || !lease.cached) throw err;
        // The cached token may have been revoked or have expired early; its leases went with it.
        this.#reuse.forgetIdentity(lease.token.identityKey);
        const renewed = await this.#options.auth.replace(client, config, lease.token, signal);
        return await send(renewed);
      }
    } catch (err: unknown) {
      throw toProviderError(err).forObject(obj.objectName, obj.secretPath);
    }
  }
}
