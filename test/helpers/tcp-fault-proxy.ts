/**
 * A TCP proxy in front of the test Vault that breaks connections below HTTP, where the test server's own fault
 * injection cannot reach: it cuts a TLS handshake short (the client's hello arrives, the socket closes) or answers
 * the handshake with bytes that are not TLS. Everything else is piped through untouched, or held back
 * (`answerDelayMs`: a slow server, Vault or the Kubernetes API, without touching it). Counts connections, so tests
 * can tell how many times the provider dialled.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type ConnectionFault = 'drop-handshake' | 'not-tls';

export class TcpFaultProxy {
  /** Connections accepted so far. */
  connections = 0;
  /**
   * Milliseconds every chunk from the server to the client is held back (0: none), in order: over TLS this slows
   * the handshake and every answer alike, as an overloaded server does. Read per chunk, so it can change mid-test.
   */
  answerDelayMs = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #queued: ConnectionFault[] = [];
  #always: ConnectionFault | undefined;

  private constructor(readonly targetPort: number) {
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Listens on a free loopback port, or on `listenPort` (the port a manifest's address names). */
  static async start(targetPort: number, listenPort = 0): Promise<TcpFaultProxy> {
    const proxy = new TcpFaultProxy(targetPort);
    await new Promise<void>((ok) => proxy.#server.listen(listenPort, '127.0.0.1', ok));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** `https://127.0.0.1:<port>`: the address the provider should dial. */
  get address(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Break the next `times` new connections this way. */
  failNext(fault: ConnectionFault, times = 1): void {
    for (let i = 0; i < times; i++) this.#queued.push(fault);
  }

  /** Break every new connection this way (undefined: pass everything). */
  failAlways(fault: ConnectionFault | undefined): void {
    this.#always = fault;
  }

  /** Close every open connection (as a restarting load balancer would); the listener stays. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(client: Socket): void {
    this.connections += 1;
    this.#track(client);
    client.on('error', () => undefined);
    const fault = this.#queued.shift() ?? this.#always;
    if (fault === 'drop-handshake') {
      client.once('data', () => client.destroy());
      return;
    }
    if (fault === 'not-tls') {
      client.once('data', () => client.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n'));
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    this.#track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    // Chunks leave in order, none before the one ahead of it, each no sooner than answerDelayMs after it arrived.
    let releaseAt = 0;
    upstream.on('data', (chunk: Buffer) => {
      if (this.answerDelayMs === 0 && releaseAt <= Date.now()) {
        client.write(chunk);
        return;
      }
      releaseAt = Math.max(releaseAt, Date.now() + this.answerDelayMs);
      setTimeout(() => {
        if (!client.destroyed) client.write(chunk);
      }, releaseAt - Date.now()).unref();
    });
    // A server's close reaches the client after what it sent before.
    upstream.on('close', () => setTimeout(() => client.destroy(), Math.max(0, releaseAt - Date.now())).unref());
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
  }
}
