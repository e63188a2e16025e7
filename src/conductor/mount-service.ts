/** One Mount, start to end, all-or-nothing: any failing object fails the mount and no file is returned or written. */
import { abortReason, ProviderError, toProviderError } from '../errors.js';
import { describeBudget, expiredBudget, TimeBudgetExpired } from '../admission/time-budget.js';
import { DEFAULT_MOUNT_RESPONSE_BUDGET, MountMemory, type ByteLedger } from '../admission/mount-admission.js';
import type { ConnectionSettings, MountConfig } from '../config/types.js';
import type { TrustBoundary } from '../config/connection.js';
import type { Authenticator, TokenLease, VaultToken } from '../auth/authenticator.js';
import type { VaultClient } from '../vault/client.js';
import type { VaultClientPool } from '../vault/client-pool.js';
import type { SecretResponse } from '../vault/responses.js';
import { buildFileSet, type OutputFile } from '../output/file-set.js';
import type { AtomicWriter } from '../output/atomic-writer.js';
import type { HmacKeySource } from '../mount/hmac-key.js';
import { assembleObjects, readOrAbsent, type AssembledObject, type ReadOutcome } from '../mount/assemble.js';
import { groupByRequest, type RequestGroup } from '../mount/assemble.js';
import { ResponseReuse } from '../mount/response-reuse.js';
import type { ReuseScope } from '../vault/lease-cache.js';

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
  readonly inputs: ReadonlyArray<{ readonly objectName: string; readonly secretPath: string }>;
  readonly files: readonly OutputFile[];
  readonly requests: number;
  readonly reused: number;
  readonly wroteFiles: boolean;
}

/** Distinct Vault requests in flight per mount. */
const READ_CONCURRENCY = 16;

export interface MountServiceOptions {
  readonly clients: VaultClientPool;
  readonly auth: Authenticator;
  readonly hmacKey: HmacKeySource;
  readonly writer?: AtomicWriter;
  /**
   * Bytes of Vault responses a mount may read when it comes without a ledger of its own (the CLI; the daemon admits
   * every mount through admission/mount-admission.ts and passes its ledger). Default DEFAULT_MOUNT_RESPONSE_BUDGET.
   */
  readonly mountResponseBytes?: number;
  readonly onIgnoredParameters?: (names: readonly string[]) => void;
  readonly reuse?: ResponseReuse;
  /** Brings in what another instance kept meanwhile (a rollout's overlap) before the caches are asked. Never rejects. */
  readonly beforeCaches?: () => Promise<void>;
  /** Built by the wiring with the paths to protect, so this stage never reaches into kubernetes/. */
  readonly trust: TrustBoundary;
}

export class MountService {
  readonly #options: MountServiceOptions;
  readonly #reuse: ResponseReuse;
  readonly #trust: TrustBoundary;

  constructor(options: MountServiceOptions) {
    this.#options = options;
    this.#reuse = options.reuse ?? new ResponseReuse();
    this.#trust = options.trust;
  }

  /**
   * `memory` is the mount's ledger from admission control: every response is charged to it as it arrives, every
   * file as it is made, and a charge over a budget fails the mount (RESOURCE_EXHAUSTED naming the object).
   */
  async mount(config: MountConfig, signal?: AbortSignal, memory?: ByteLedger): Promise<MountResult> {
    const ledger = memory ?? new MountMemory(undefined, this.#options.mountResponseBytes ?? DEFAULT_MOUNT_RESPONSE_BUDGET);
    if (config.ignoredParameters.length > 0) this.#options.onIgnoredParameters?.(config.ignoredParameters);
    const connection = await this.#trust.connection(config);
    // Every Vault request of the mount counts as its namespace's at the address's gate (vault/rate-limit.ts).
    const client = (await this.#options.clients.get(connection)).forTenant(config.pod.namespace);
    const hmacKeyPromise = this.#options.hmacKey.getKey();
    // A rejection here must not go unhandled while the reads run; it is awaited below.
    hmacKeyPromise.catch(() => undefined);
    await this.#options.beforeCaches?.();
    const lease = await this.#options.auth.token(client, config, signal).catch((err: unknown) => {
      throw duringLogin(err, config, client);
    });

    const run = new MountRun({ config, connection, client, lease, signal, ledger }, this.#options.auth, this.#reuse);
    const groups = groupByRequest(config.objects);
    const responses = new Map<string, ReadOutcome>();
    const keptRequests = new Set<string>();
    await mapLimit(groups, READ_CONCURRENCY, async (group) => {
      const kept = run.kept(group);
      if (kept !== undefined) keptRequests.add(group.key);
      responses.set(group.key, kept ?? (await run.read(group)));
    });
    // A token found dead during this mount took its leases with it: what this mount was answered from them (kept
    // before the 403 came back) is fetched anew with the new token, so the pod never gets a revoked credential.
    if (run.renewed) {
      const stale = groups.filter((g) => keptRequests.has(g.key) && !run.stillKept(g));
      run.continueWithRenewedToken();
      await mapLimit(stale, READ_CONCURRENCY, async (group) => {
        keptRequests.delete(group.key);
        responses.set(group.key, await run.read(group));
      });
    }

    const key = await this.#hmacKey(hmacKeyPromise, signal);
    // In the SecretProviderClass's order, whatever order the requests finished in.
    const assembled = assembleObjects(config, responses, key, ledger);
    const { files, inputs } = assembled;
    const cachedNames = new Set(groups.filter((g) => keptRequests.has(g.key)).flatMap((g) => g.objects.map((o) => o.objectName)));
    const objects: MountedObject[] = assembled.objects.map((o) => (cachedNames.has(o.objectName) ? { ...o, cached: true } : o));
    const fileSet = buildFileSet(files);

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

  /** The key's first load is shared by every mount, but one mount must still answer within its own time budget. */
  async #hmacKey(loading: Promise<Buffer>, signal: AbortSignal | undefined): Promise<Buffer> {
    if (signal === undefined) return loading;
    try {
      return await untilAborted(loading, signal);
    } catch (err: unknown) {
      const expired = expiredBudget(signal);
      if (expired === undefined || err !== expired) throw err;
      throw new ProviderError(
        'KUBERNETES_API_ERROR',
        `the HMAC key (${this.#options.hmacKey.description}) was not loaded within the mount's time budget of ${describeBudget(expired.budget)}; the next mount tries again`,
        { parameter: 'hmac-secret-name' },
      );
    }
  }
}

/** What one mount holds while it runs. */
interface MountState {
  readonly config: MountConfig;
  readonly connection: ConnectionSettings;
  /** The connection's Vault client, its requests counted as the pod's namespace's at the gates. */
  readonly client: VaultClient;
  readonly lease: TokenLease;
  readonly signal: AbortSignal | undefined;
  /** The mount's memory ledger (admission/mount-admission.ts): every answer is charged to it as it arrives. */
  readonly ledger: ByteLedger;
}

/**
 * One mount in progress: its config, connection, client, token lease, signal and ledger in one place, and what a
 * mount does with them: answer a request from what the pod kept, or read it from Vault, replacing the token once if
 * Vault says it is dead.
 */
class MountRun {
  readonly #state: MountState;
  readonly #auth: Authenticator;
  readonly #reuse: ResponseReuse;
  #lease: TokenLease;
  /** The token that replaced a dead one during this mount, if any. */
  #renewed: VaultToken | undefined;

  constructor(state: MountState, auth: Authenticator, reuse: ResponseReuse) {
    this.#state = state;
    this.#auth = auth;
    this.#reuse = reuse;
    this.#lease = state.lease;
  }

  /** Whether a dead token was replaced during this mount. */
  get renewed(): boolean {
    return this.#renewed !== undefined;
  }

  /** The pod's kept answer to this request, while its reuse window is open. */
  kept(group: RequestGroup): SecretResponse | undefined {
    return this.#reuse.reused(scopeOf(this.#lease.holder, this.#lease.token, group));
  }

  /** Whether the answer kept under the mount's first token is still kept (a dead token took its leases with it). */
  stillKept(group: RequestGroup): boolean {
    return this.#reuse.holds(scopeOf(this.#state.lease.holder, this.#state.lease.token, group));
  }

  /** From now on the mount reads with the token that replaced the dead one, whose 403s are final. */
  continueWithRenewedToken(): void {
    if (this.#renewed !== undefined) this.#lease = { token: this.#renewed, cached: false, holder: this.#lease.holder };
  }

  /** The request's answer, or its absence when every object needing it is optional and Vault has nothing there. */
  read(group: RequestGroup): Promise<ReadOutcome> {
    return readOrAbsent(group.objects, () => this.#read(group));
  }

  /**
   * A 403 with a cached token is the policy's answer or a dead token: Vault is asked (`lookup-self`), not guessed
   * from the message. Live: this mount fails alone and nothing kept is dropped (a denial must not cost a login per
   * republish). Dead: what it obtained is dropped, one new login, one retry. (The reference's 403 is always final.)
   */
  async #read(group: RequestGroup): Promise<SecretResponse> {
    const { client, config, signal, ledger } = this.#state;
    const lease = this.#lease;
    const obj = group.lead;
    const request = group.request;
    // Concurrent mounts that may share the answer share one request; a lease or certificate is kept for its holder.
    const send = (token: VaultToken): Promise<SecretResponse> =>
      this.#reuse.fetch(scopeOf(lease.holder, token, group), token, obj.method, (shared) => client.request(token.token, request, shared, ledger), signal);
    try {
      try {
        return await send(lease.token);
      } catch (err: unknown) {
        // A token fresh from this mount's own login is alive: its 403 is the policy's.
        if (!(err instanceof ProviderError) || err.code !== 'PERMISSION_DENIED' || !lease.cached) throw err;
        if ((await this.#auth.verify(client, lease.token, signal)) === 'alive') throw err;
        // Revoked, or expired early: Vault revoked its leases with it.
        this.#reuse.forgetToken(lease.token);
        const renewed = await this.#auth.replace(client, config, lease.token, signal);
        this.#renewed = renewed;
        return await send(renewed);
      }
    } catch (err: unknown) {
      throw toProviderError(budgetAnswer(err, client, `${request.method} ${request.requestPath}`)).forObject(obj.objectName, obj.secretPath);
    }
  }
}

/**
 * Whose answer a request's is: the pod (or its workload, when the objects ask), the identity, the request. The pod
 * is the token lease's holder, '' for a caller that is no pod (the sync controller): then nothing is kept per pod.
 */
function scopeOf(holder: string, token: VaultToken, group: RequestGroup): ReuseScope {
  const identity = group.credentialScope === 'workload' ? token.workloadKey : token.identityKey;
  return { podUid: holder, identityKey: identity, requestKey: group.key, credentialScope: group.credentialScope };
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts (the promise runs on regardless). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** A shared request goes on for the others after this mount's budget ran out: name the address and request here. */
function budgetAnswer(err: unknown, client: VaultClient, what: string): unknown {
  if (!(err instanceof TimeBudgetExpired)) return err;
  const address = client.settings.address;
  return new ProviderError(
    'VAULT_UNAVAILABLE',
    `no successful answer from Vault at ${address} to ${what} within the mount's time budget of ${describeBudget(err.budget)}; the driver retries the mount`,
    { vaultAddress: address },
  );
}

/** A login that could not reach Vault in time fails every object: the message names them for the pod's events. */
function duringLogin(err: unknown, config: MountConfig, client: VaultClient): unknown {
  const answered = budgetAnswer(err, client, `the login (role "${config.roleName}", auth mount "${client.settings.authMount}")`);
  if (!(answered instanceof ProviderError) || answered.code !== 'VAULT_UNAVAILABLE' || answered.context.objectName !== undefined) return answered;
  const names = config.objects.map((o) => `"${o.objectName}"`);
  const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  return new ProviderError(answered.code, `logging in for object${names.length === 1 ? '' : 's'} ${shown}: ${answered.message}`, answered.context, { cause: answered.cause });
}

/** Runs `task` over `items` with at most `limit` running at once; rejects with the first failure. */
async function mapLimit<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await task(item);
      } catch (err: unknown) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => worker());
  const results = await Promise.allSettled(workers);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected !== undefined) throw rejected.reason;
}
