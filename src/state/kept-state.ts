/**
 * Tokens, leases and certificates that outlive the process (`--state-dir`), so a restarted provider serves a running
 * pod's republish with what it had: one file per socket, sealed under a key derived from the HMAC key, holding the
 * caches' own entries under their own keys. Written debounced on changes and on SIGTERM; read at start and whenever
 * another instance wrote it (a rollout's overlap), merged before writing. A file that cannot be used is ignored with
 * one log line. docs/operations.md#what-survives-a-restart-and-why-it-is-safe; docs/security.md, "Kept state".
 */
import { randomBytes } from 'node:crypto';
import { watch, type BigIntStats, type FSWatcher } from 'node:fs';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Authenticator } from '../auth/authenticator.js';
import type { KeptLease, LeaseCache } from '../vault/lease-cache.js';
import type { HmacKeySource } from '../mount/hmac-key.js';
import { errnoCode } from '../errors.js';
import { deriveStateKeys, ENVELOPE_BYTES, openState, sealState, StateUnreadable, type StateKeys } from './state-crypto.js';
import { decodeEntries, encodeEntries, StateMalformed } from './state-document.js';
import { systemClock, type Clock } from '../shared/clock.js';

/** Where the kept state's lines go (a pino logger fits). Never given a token, a credential or a key. */
export interface StateLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export type KeptStateEvent = 'restored' | 'merged' | 'written' | 'ignored' | 'write_error';

export interface KeptStateOptions {
  readonly dir: string;
  /** The socket path: it names the file and is authenticated with it (another endpoint's file does not open). */
  readonly endpoint: string;
  readonly hmacKey: HmacKeySource;
  readonly auth: Authenticator;
  readonly leases: LeaseCache;
  readonly maxBytes: number;
  readonly idleMs: number;
  readonly log: StateLog;
  readonly now?: Clock['now'];
  /** The debounce's timer (default the system clock's). */
  readonly timer?: Clock['after'];
  /** From a change to its write (default 1 s). */
  readonly debounceMs?: number;
  readonly recheckMs?: number;
  readonly onEvent?: (event: KeptStateEvent) => void;
}

interface FileIdentity {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

function identityOf(s: BigIntStats): FileIdentity {
  return { ino: s.ino, size: s.size, mtimeNs: s.mtimeNs };
}

function same(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

export class KeptState {
  readonly file: string;
  readonly #options: KeptStateOptions;
  readonly #now: Clock['now'];
  readonly #timer: Clock['after'];
  readonly #context: string;
  #keys: Promise<StateKeys> | undefined;
  /** The file as this instance last read or wrote it: a different one was written by another instance. */
  #seen: FileIdentity | undefined;
  #written = { auth: -1, leases: -1 };
  #lastWriteAt = 0;
  /** How long the last write took: the next waits twenty times that at least (a large state costs ≤ 5% of the loop). */
  #lastWriteMs = 0;
  /** Cancels the pending debounced write. */
  #cancelWrite: (() => void) | undefined;
  #watcher: FSWatcher | undefined;
  #maybeChanged = true;
  #lastLook = Number.NEGATIVE_INFINITY;
  #looking: Promise<void> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  /** One warning per cause, not one per mount. */
  readonly #warned = new Set<string>();

  constructor(options: KeptStateOptions) {
    this.#options = options;
    this.#now = options.now ?? systemClock.now;
    this.#timer = options.timer ?? systemClock.after;
    const name = basename(options.endpoint).replace(/\.sock$/, '');
    this.file = join(options.dir, `${name}.state`);
    this.#context = basename(options.endpoint);
  }

  /** At start, before the socket is taken over. Never throws: without a usable file or key it starts clean. */
  async restore(): Promise<void> {
    try {
      await mkdir(this.#options.dir, { recursive: true, mode: 0o700 });
      // The hostPath may have been created 0755 by the kubelet: narrowed where this process owns it.
      await chmod(this.#options.dir, 0o700).catch(() => undefined);
    } catch (err: unknown) {
      this.#warnOnce(`dir:${errnoCode(err) ?? 'error'}`, { dir: this.#options.dir, error: errnoCode(err) ?? 'error' }, 'cannot create the kept-state directory; tokens and leases are kept in memory only');
      return;
    }
    const keys = await this.#loadKeys();
    if (keys === undefined) return;
    // Credential digests (approle, userpass, cert tokens) under a key a restarted process derives again.
    this.#options.auth.adoptCredentialDigestKey(keys.credentialDigest);
    await this.#readIfChanged('start');
    this.#startWatching();
  }

  #startWatching(): void {
    if (this.#watcher !== undefined || this.#closed) return;
    try {
      this.#watcher = watch(this.#options.dir, { persistent: false }, () => {
        this.#maybeChanged = true;
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No inotify: mounts look at the file every recheck interval instead.
    }
  }

  /** What another instance wrote since, if anything (a read only when the file changed). Never throws. */
  sync(): Promise<void> {
    if (this.#closed || this.#keys === undefined) return Promise.resolve();
    const now = this.#now();
    if (!this.#maybeChanged && now - this.#lastLook < (this.#options.recheckMs ?? 5_000)) return Promise.resolve();
    this.#looking ??= (async () => {
      this.#maybeChanged = false;
      this.#lastLook = now;
      await this.#enqueue(() => this.#readIfChanged('foreign'));
    })().finally(() => {
      this.#looking = undefined;
    });
    return this.#looking;
  }

  /** Also when the last write is a quarter of the idle bound old: an entry in use must not look idle in the file. */
  noteMount(): void {
    if (this.#closed) return;
    const { auth, leases } = this.#options;
    const changed = auth.generation !== this.#written.auth || leases.generation !== this.#written.leases;
    const touchDue = this.#now() - this.#lastWriteAt >= this.#options.idleMs / 4;
    if ((changed || touchDue) && this.#cancelWrite === undefined) {
      this.#cancelWrite = this.#timer(Math.max(this.#options.debounceMs ?? 1_000, 20 * this.#lastWriteMs), () => {
        this.#cancelWrite = undefined;
        void this.flush();
      });
    }
  }

  flush(): Promise<void> {
    this.#cancelWrite?.();
    this.#cancelWrite = undefined;
    return this.#enqueue(() => this.#write());
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    this.#cancelWrite?.();
    this.#watcher?.close();
    await this.#queue;
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(step).catch((err: unknown) => {
      this.#warnOnce(`unexpected:${err instanceof Error ? err.name : 'error'}`, { file: this.file, error: err instanceof Error ? err.name : typeof err }, 'kept state: unexpected failure; serving from memory');
    });
    this.#queue = next;
    return next;
  }

  async #loadKeys(): Promise<StateKeys | undefined> {
    this.#keys ??= this.#options.hmacKey.getKey().then(deriveStateKeys);
    try {
      return await this.#keys;
    } catch (err: unknown) {
      this.#keys = undefined;
      this.#warnOnce('key', { file: this.file, error: err instanceof Error ? err.message : 'error' }, 'the HMAC key is not available: the kept state is neither read nor written until it is');
      return undefined;
    }
  }

  async #currentIdentity(): Promise<FileIdentity | undefined> {
    try {
      return identityOf(await stat(this.file, { bigint: true }));
    } catch (err: unknown) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async #readIfChanged(source: 'start' | 'foreign'): Promise<void> {
    const keys = await this.#loadKeys();
    if (keys === undefined) return;
    let current: FileIdentity | undefined;
    try {
      current = await this.#currentIdentity();
    } catch (err: unknown) {
      this.#warnOnce(`stat:${errnoCode(err) ?? 'error'}`, { file: this.file, error: errnoCode(err) ?? 'error' }, 'cannot look at the kept state');
      return;
    }
    if (current === undefined || same(current, this.#seen)) return;
    this.#seen = current;
    const limit = this.#options.maxBytes + ENVELOPE_BYTES;
    if (current.size > BigInt(limit)) {
      this.#ignore({ reason: 'too-large', bytes: Number(current.size), limit: `--state-max-bytes ${this.#options.maxBytes}` }, source);
      return;
    }
    let sealed: Buffer;
    try {
      sealed = await readBounded(this.file, limit);
    } catch (err: unknown) {
      if (errnoCode(err) === 'ENOENT') return;
      this.#ignore({ reason: 'unreadable', error: errnoCode(err) ?? 'error' }, source);
      return;
    }
    try {
      const text = openState(sealed, keys.encryption, this.#context).toString('utf8');
      const { entries, leftOut } = decodeEntries(text, { now: this.#now(), idleMs: this.#options.idleMs });
      const tokens = this.#options.auth.restore(entries.tokens);
      // A lease names its token by the writer's serial: mapped to this process's, or to none (0) when that token was
      // not kept; a lease of a token Vault said is dead here is not taken back.
      const leases: KeptLease[] = [];
      for (const l of entries.leases) if (!tokens.refused.has(l.owner)) leases.push({ ...l, owner: tokens.serials.get(l.owner) ?? 0 });
      const leaseCount = this.#options.leases.restore(leases);
      this.#options.onEvent?.(source === 'start' ? 'restored' : 'merged');
      this.#options.log.info(
        { file: this.file, source, tokens: tokens.taken, leases: leaseCount, expired: leftOut.expired, idle: leftOut.idle, refused: tokens.refused.size },
        source === 'start' ? 'kept state restored' : 'kept state merged from another instance',
      );
    } catch (err: unknown) {
      if (err instanceof StateUnreadable) this.#ignore({ reason: err.reason, detail: err.message }, source);
      else if (err instanceof StateMalformed) this.#ignore({ reason: 'malformed', detail: err.message }, source);
      else throw err;
    }
  }

  #ignore(fields: Record<string, unknown>, source: 'start' | 'foreign'): void {
    this.#options.onEvent?.('ignored');
    this.#options.log.warn({ file: this.file, source, ...fields }, 'kept state ignored; starting clean (it is replaced at the next write)');
  }

  async #write(): Promise<void> {
    if (this.#closed) return;
    const keys = await this.#loadKeys();
    if (keys === undefined) return;
    // What another instance wrote since this one last looked comes in first, so that its entries are written too.
    await this.#readIfChanged('foreign');
    this.#startWatching();
    const { auth, leases } = this.#options;
    const generations = { auth: auth.generation, leases: leases.generation };
    const now = this.#now();
    const started = performance.now();
    const { text } = encodeEntries({ tokens: auth.snapshot(), leases: leases.snapshot() }, { now, idleMs: this.#options.idleMs, maxBytes: this.#options.maxBytes });
    const sealed = sealState(Buffer.from(text, 'utf8'), keys.encryption, this.#context);
    const tmp = join(this.#options.dir, `.${basename(this.file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(sealed);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.file);
      this.#seen = await this.#currentIdentity();
    } catch (err: unknown) {
      await unlink(tmp).catch(() => undefined);
      this.#options.onEvent?.('write_error');
      this.#warnOnce(`write:${errnoCode(err) ?? 'error'}`, { file: this.file, error: errnoCode(err) ?? 'error' }, 'cannot write the kept state; tokens and leases stay in memory');
      return;
    }
    this.#written = generations;
    this.#lastWriteAt = now;
    this.#lastWriteMs = performance.now() - started;
    this.#options.onEvent?.('written');
  }

  #warnOnce(cause: string, fields: Record<string, unknown>, message: string): void {
    if (this.#warned.has(cause)) return;
    this.#warned.add(cause);
    this.#options.log.warn(fields, message);
  }
}

/** The file's bytes, never more than `limit` (it may have been replaced by a larger one since it was looked at). */
async function readBounded(path: string, limit: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const size = Number((await handle.stat()).size);
    if (size > limit) throw Object.assign(new Error('the state file is larger than its bound'), { code: 'EFBIG' });
    const buffer = Buffer.alloc(size);
    let length = 0;
    while (length < size) {
      const { bytesRead } = await handle.read(buffer, length, size - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
