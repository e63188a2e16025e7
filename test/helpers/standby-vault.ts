/**
 * A Vault node that is not the one to ask: a standby that answers every request with a redirect (307 to
 * `redirectTo` + the request's path), or a node that answers one fixed status (503 sealed, 473 performance standby,
 * 429). Counts what reached it, and whether any request carried a credential (a Vault token header, or a login body
 * with a JWT), so tests can prove where the pod's JWT went and where it did not.
 */
import http from 'node:http';
import type { Socket } from 'node:net';

export type StandbyBehaviour = { readonly redirectTo: string; readonly status?: 301 | 302 | 307 } | { readonly status: number; readonly headers?: Record<string, string> };

export interface StandbyRequest {
  readonly method: string;
  readonly path: string;
  readonly carriedCredential: boolean;
}

export class StandbyVault {
  readonly requests: StandbyRequest[] = [];
  behaviour: StandbyBehaviour;
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();

  private constructor(behaviour: StandbyBehaviour) {
    this.behaviour = behaviour;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const url = req.url ?? '/';
        this.requests.push({ method: req.method ?? 'GET', path: url, carriedCredential: req.headers['x-vault-token'] !== undefined || /"jwt"/.test(body) });
        const b = this.behaviour;
        if ('redirectTo' in b) {
          res.writeHead(b.status ?? 307, { location: `${b.redirectTo}${url}` });
          res.end();
          return;
        }
        res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
        res.end(JSON.stringify({ errors: [b.status === 503 ? 'Vault is sealed' : `standby answers ${b.status}`] }));
      });
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(behaviour: StandbyBehaviour): Promise<StandbyVault> {
    const node = new StandbyVault(behaviour);
    await new Promise<void>((ok) => node.#server.listen(0, '127.0.0.1', ok));
    return node;
  }

  get address(): string {
    const a = this.#server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  }

  get credentialsSeen(): number {
    return this.requests.filter((r) => r.carriedCredential).length;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
  }
}
