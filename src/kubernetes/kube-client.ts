/**
 * The HMAC Secret is read (or created) by every provider on every node, once, so that call speaks to the API server
 * over undici itself: loading @kubernetes/client-node costs about 75 MiB of resident memory (39 → 115 MiB RSS
 * measured here on import plus one CoreV1Api), where the reference's DaemonSet allows 100 MiB for everything. The
 * TokenRequest fallback, needed only when the driver sends no token, uses @kubernetes/client-node, loaded on
 * first use (token-requester.ts).
 *
 * Like client-go's in-cluster config: bearer token from the projected ServiceAccount token file, re-read at most a
 * minute apart (it rotates); the cluster CA from ca.crt, or the system roots when there is none.
 */
import { readFile as readFileAsync } from 'node:fs/promises';
import { dispatchBuffered, Pool } from '../http/undici.js';

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

/** Far above any Secret or TokenRequest answer; a bound on what a misbehaving endpoint can make us hold. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

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

export interface KubeClientOptions {
  readonly now?: () => number;
  readonly readFile?: (path: string) => Promise<string>;
}

export class KubeClient {
  readonly #config: KubeConfig;
  readonly #now: () => number;
  readonly #readFile: (path: string) => Promise<string>;
  #pool: Promise<Pool> | undefined;
  #token: { readonly value: string; readonly readAt: number } | undefined;

  constructor(config: KubeConfig, options: KubeClientOptions = {}) {
    this.#config = config;
    this.#now = options.now ?? Date.now;
    this.#readFile = options.readFile ?? ((path) => readFileAsync(path, 'utf8'));
  }

  /** The JSON answer of a 2xx response; throws KubeApiError for any other status. */
  async request(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const [pool, token] = await Promise.all([this.#dispatcher(), this.#bearer()]);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = new URL(path, this.#config.server);
    const res = await dispatchBuffered(
      pool,
      { path: `${url.pathname}${url.search}`, method, headers, body: body === undefined ? null : JSON.stringify(body) },
      { maxBytes: MAX_ANSWER_BYTES, signal },
    ).answer;
    const text = res.body.toString('utf8');
    if (res.statusCode < 200 || res.statusCode > 299) throw new KubeApiError(res.statusCode, text);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  #dispatcher(): Promise<Pool> {
    if (this.#pool === undefined) {
      const created = (async () => {
        const { caFile, caData, skipTLSVerify } = this.#config;
        const ca = caData ?? (caFile === undefined ? undefined : await this.#readFile(caFile));
        // Few calls, far apart: keep no idle connection around.
        return new Pool(new URL(this.#config.server).origin, {
          keepAliveTimeout: 1_000,
          connect: { rejectUnauthorized: !skipTLSVerify, ...(ca === undefined ? {} : { ca }) },
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

  /** The CA bundle to trust (PEM), read once; undefined means the system roots. */
  async caPem(): Promise<string | undefined> {
    const { caFile, caData } = this.#config;
    return caData ?? (caFile === undefined ? undefined : await this.#readFile(caFile));
  }

  /** The current bearer token (sensitive: never log). */
  bearerToken(): Promise<string | undefined> {
    return this.#bearer();
  }

  get server(): string {
    return this.#config.server;
  }

  get skipTLSVerify(): boolean {
    return this.#config.skipTLSVerify;
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
