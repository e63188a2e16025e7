/**
 * The provider's one Kubernetes client: three REST calls (the HMAC Secret's get and create, the TokenRequest
 * fallback) over undici, in-cluster only. Not @kubernetes/client-node: it cost a tenfold growth of resident memory
 * (docs/benchmark.md#memory). The token file is re-read at most a minute apart (it rotates); answers are bounded.
 */
import { readFile as readFileAsync } from 'node:fs/promises';
import { dispatchBuffered, Pool } from '../http/undici.js';
import { systemClock, type Clock } from '../shared/clock.js';

/** Where the API server is and how to authenticate to it. Holds a token when given one: never log it. */
export interface KubeConfig {
  /** `https://host:port`, or `http://…` for a local proxy or a test server. */
  readonly server: string;
  readonly skipTLSVerify: boolean;
  /** PEM bundle to trust, as a file (in-cluster ca.crt) or as text; neither means the system roots. */
  readonly caFile?: string;
  readonly caData?: string;
  /** A fixed bearer token (tests, `kubectl proxy`)… */
  readonly token?: string;
  /** …or a token file, re-read at most TOKEN_FILE_REFRESH_MS apart. */
  readonly tokenFile?: string;
}

/** Far above any Secret or TokenRequest answer (a Secret holds at most 1 MiB); a bound on what a misbehaving endpoint can make us hold. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** undici's connect, headers and body timeouts: a backstop well above any request timeout the provider sets. */
const UNDICI_TIMEOUT_MS = 60_000;

/** client-go re-reads the projected token once a minute; the kubelet rotates it well before it expires. */
export const TOKEN_FILE_REFRESH_MS = 60_000;

/** A non-2xx answer from the API server. `body` is the Status text the server sent (no request data). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly status: number;
  readonly body: string;

  constructor(status: number, body: string) {
    super(`the Kubernetes API answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** A 2xx body that is not JSON; carries none of it (a 2xx body may be a token or a Secret's data). */
export class KubeAnswerError extends Error {
  override readonly name = 'KubeAnswerError';
  readonly status: number;

  constructor(status: number) {
    super(`the Kubernetes API answered ${status} with a body that is not JSON`);
    this.status = status;
  }
}

export interface RequestOptions {
  /** The most bytes of answer accepted (default MAX_ANSWER_BYTES). */
  readonly maxBytes?: number;
}

export interface KubeClientOptions {
  readonly now?: Clock['now'];
  readonly readFile?: (path: string) => Promise<string>;
}

export class KubeClient {
  readonly #config: KubeConfig;
  readonly #now: Clock['now'];
  readonly #readFile: (path: string) => Promise<string>;
  #pool: Promise<Pool> | undefined;
  #token: { readonly value: string; readonly readAt: number } | undefined;

  constructor(config: KubeConfig, options: KubeClientOptions = {}) {
    this.#config = config;
    this.#now = options.now ?? systemClock.now;
    this.#readFile = options.readFile ?? ((path) => readFileAsync(path, 'utf8'));
  }

  async request(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal, options: RequestOptions = {}): Promise<unknown> {
    const [pool, token] = await Promise.all([this.#dispatcher(), this.#bearer()]);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = new URL(path, this.#config.server);
    const res = await dispatchBuffered(
      pool,
      { path: `${url.pathname}${url.search}`, method, headers, body: body === undefined ? null : JSON.stringify(body) },
      { maxBytes: options.maxBytes ?? MAX_ANSWER_BYTES, signal },
    ).answer;
    const text = res.body.toString('utf8');
    if (res.statusCode < 200 || res.statusCode > 299) throw new KubeApiError(res.statusCode, text);
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // JSON.parse's message quotes the text it choked on: not passed on.
      throw new KubeAnswerError(res.statusCode);
    }
  }

  /** Closes the connection pool; a request after this opens a new one. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool === undefined) return;
    // A pool that never came up (an unreadable CA file) has nothing to close.
    const opened = await pool.catch(() => undefined);
    await opened?.close();
  }

  #dispatcher(): Promise<Pool> {
    if (this.#pool === undefined) {
      const created = (async () => {
        const { caFile, caData, skipTLSVerify } = this.#config;
        const ca = caData ?? (caFile === undefined ? undefined : await this.#readFile(caFile));
        // Few calls, far apart: keep no idle connection around. The caller's signal is the timeout: undici's own
        // (10 s for the TLS handshake by default, the same as the request timeout) would race it, and a slow API
        // server would be reported by which of the two fired first (found against the real API server).
        return new Pool(new URL(this.#config.server).origin, {
          keepAliveTimeout: 1_000,
          headersTimeout: UNDICI_TIMEOUT_MS,
          bodyTimeout: UNDICI_TIMEOUT_MS,
          connect: { timeout: UNDICI_TIMEOUT_MS, rejectUnauthorized: !skipTLSVerify, ...(ca === undefined ? {} : { ca }) },
        });
      })();
      this.#pool = created;
      // A CA file that cannot be read now may be there on the next mount.
      created.catch(() => {
        if (this.#pool === created) this.#pool = undefined;
      });
    }
    return this.#pool;
  }

  async #bearer(): Promise<string | undefined> {
    if (this.#config.token !== undefined) return this.#config.token;
    const file = this.#config.tokenFile;
    if (file === undefined) return undefined;
    const now = this.#now();
    if (this.#token === undefined || now - this.#token.readAt >= TOKEN_FILE_REFRESH_MS) {
      this.#token = { value: (await this.#readFile(file)).trim(), readAt: now };
    }
    return this.#token.value;
  }
}
