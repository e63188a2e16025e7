/** GET /health/ready: 200 while serving, 503 while draining, so the kubelet stops counting on a pod going away. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ListenAddress {
  readonly host: string | undefined;
  readonly port: number;
}

/** Go's `host:port` listen syntax: `:8080`, `127.0.0.1:8080`, `[::1]:8080`. */
export function parseListenAddress(addr: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  if (match === null) throw new Error(`health address "${addr}" is not host:port`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`health address "${addr}" has a port above 65535`);
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port };
}

export type ExtraRoute = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export class HealthServer {
  readonly #server: Server;
  readonly #ready: () => boolean;

  constructor(ready: () => boolean, extra: readonly ExtraRoute[] = []) {
    this.#ready = ready;
    this.#server = createServer((req, res) => {
      void this.#handle(req, res, extra);
    });
    this.#server.keepAliveTimeout = 5_000;
  }

  async #handle(req: IncomingMessage, res: ServerResponse, extra: readonly ExtraRoute[]): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health/ready' && (req.method === 'GET' || req.method === 'HEAD')) {
      const ok = this.#ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'draining\n');
      return;
    }
    for (const route of extra) {
      if (await route(req, res)) return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }

  async listen(addr: string): Promise<AddressInfo> {
    const { host, port } = parseListenAddress(addr);
    await new Promise<void>((ok, fail) => {
      this.#server.once('error', fail);
      this.#server.listen(port, host, () => {
        this.#server.off('error', fail);
        ok();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
  }
}
