/**
 * A "Vault" that answers whatever a test programs: any status, any body (JSON of the wrong shape, huge values, text
 * that is not JSON, invalid UTF-8, nothing), or a body cut off midway (a Content-Length it never delivers). Used by
 * the Mount-path fuzzer, where the real test server's well-behaved answers would not reach the provider's edges.
 * Counts requests per kind so the fuzzer can tell what happened.
 */
import http from 'node:http';
import type { Socket } from 'node:net';

export type HostileBody =
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'truncated'; readonly value: unknown; readonly keep: number }
  /** `{"data":{"data":{"k":[[[…]]]}}}` with `depth` nested arrays, as text (JSON.parse builds or refuses it). */
  | { readonly kind: 'nested'; readonly depth: number }
  /** `{"data":{"data":{"k":"mmm…","password":"mmm…"}}}` with values of `bytes` each (built once per size). */
  | { readonly kind: 'huge'; readonly bytes: number }
  | { readonly kind: 'empty' };

export interface HostileResponse {
  readonly status: number;
  readonly body: HostileBody;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Responder = (request: { readonly method: string; readonly path: string; readonly isLogin: boolean }) => HostileResponse;

export class HostileVault {
  logins = 0;
  reads = 0;
  responder: Responder = () => ({ status: 503, body: { kind: 'json', value: { errors: ['not programmed'] } } });
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();

  private constructor() {
    this.#server = http.createServer((req, res) => {
      // Drain the request body first, as a real server would.
      req.resume();
      req.on('end', () => this.#answer(req, res));
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(): Promise<HostileVault> {
    const vault = new HostileVault();
    await new Promise<void>((ok) => vault.#server.listen(0, '127.0.0.1', ok));
    return vault;
  }

  get address(): string {
    const a = this.#server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const isLogin = /\/login$/.test(path);
    if (isLogin) this.logins++;
    else this.reads++;
    let response: HostileResponse;
    try {
      response = this.responder({ method: req.method ?? 'GET', path, isLogin });
    } catch {
      response = { status: 500, body: { kind: 'empty' } };
    }
    const headers: Record<string, string> = { ...response.headers };
    const body = response.body;
    if (body.kind === 'truncated') {
      const full = Buffer.from(JSON.stringify(body.value));
      const keep = Math.min(body.keep, Math.max(0, full.length - 1));
      res.writeHead(response.status, { ...headers, 'content-type': 'application/json', 'content-length': String(full.length) });
      res.write(full.subarray(0, keep), () => res.socket?.destroy());
      return;
    }
    let payload: Buffer;
    if (body.kind === 'json') payload = Buffer.from(JSON.stringify(body.value) ?? 'null');
    else if (body.kind === 'text') payload = Buffer.from(body.text);
    else if (body.kind === 'bytes') payload = Buffer.from(body.bytes);
    else if (body.kind === 'huge') payload = this.#huge(body.bytes);
    else if (body.kind === 'nested') payload = Buffer.from(`{"data":{"data":{"k":${'['.repeat(body.depth)}${']'.repeat(body.depth)}}}}`);
    else payload = Buffer.alloc(0);
    if (body.kind === 'json') headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(payload.length);
    res.writeHead(response.status, headers);
    res.end(payload);
  }

  readonly #hugeBodies = new Map<number, Buffer>();

  #huge(bytes: number): Buffer {
    let body = this.#hugeBodies.get(bytes);
    if (body === undefined) {
      const value = 'm'.repeat(bytes);
      body = Buffer.from(JSON.stringify({ data: { data: { k: value, password: value } } }));
      this.#hugeBodies.set(bytes, body);
    }
    return body;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
  }
}
