/**
 * The CSIDriverProvider gRPC server on a Unix socket: socket preparation, permissions, and a graceful drain.
 *
 * grpc-js creates the socket with the process umask (0755 by default), so the umask is narrowed around the bind
 * and the mode set again afterwards: 0660, owned by the daemon (DESIGN.md §5).
 */
import { chmod } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Server, ServerCredentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/service.js';
import type { CSIDriverProviderHandlers } from '../generated/v1alpha1/CSIDriverProvider.js';
import { prepareSocketPath, releaseSocket, socketIdentity, type ExistingPath, type Release, type SocketIdentity } from './socket-path.js';

export const SOCKET_MODE = 0o660;

/** Loader options matching the generated types (keepCase, string enums and longs, defaults). */
export const PROTO_LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

export function protoPath(): string {
  return new URL('../../proto/service.proto', import.meta.url).pathname;
}

export function loadContract(): ProtoGrpcType {
  const definition = loadSync(protoPath(), PROTO_LOADER_OPTIONS);
  return loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}

export type ServerState = 'starting' | 'serving' | 'draining' | 'stopped';

export interface GrpcServerOptions {
  readonly endpoint: string;
  readonly handlers: CSIDriverProviderHandlers;
  /** The driver's default receive limit is 4 MiB; we send at most that (the file set enforces it too). */
  readonly maxSendBytes?: number;
}

export class ProviderGrpcServer {
  readonly endpoint: string;
  #state: ServerState = 'starting';
  /**
   * The socket this instance bound, by device, inode and times: only that one is ours to remove (a refused start must leave
   * a live one alone, and a draining instance the socket of the instance that replaced it).
   */
  #own: SocketIdentity | undefined;
  #released: Release | undefined;
  readonly #server: Server;

  constructor(options: GrpcServerOptions) {
    this.endpoint = resolve(options.endpoint);
    this.#server = new Server({
      'grpc.max_send_message_length': options.maxSendBytes ?? 4 * 1024 * 1024,
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      // Channelz (per-call counters and traces for a debugging service we do not serve) costs CPU on every call.
      'grpc.enable_channelz': 0,
    });
    this.#server.addService(loadContract().v1alpha1.CSIDriverProvider.service, options.handlers);
  }

  get state(): ServerState {
    return this.#state;
  }

  async start(): Promise<ExistingPath> {
    const existing = await prepareSocketPath(this.endpoint);
    const previous = process.umask(0o117);
    try {
      await new Promise<void>((ok, fail) => {
        this.#server.bindAsync(`unix:${this.endpoint}`, ServerCredentials.createInsecure(), (err) => (err ? fail(err) : ok()));
      });
    } finally {
      process.umask(previous);
    }
    await chmod(this.endpoint, SOCKET_MODE);
    this.#own = await socketIdentity(this.endpoint);
    this.#state = 'serving';
    return existing;
  }

  /** What became of the socket path at the end of the drain; undefined before. */
  get released(): Release | undefined {
    return this.#released;
  }

  /**
   * Stop accepting, let in-flight calls finish for at most `graceMs`, then cut the rest; remove the socket if it is
   * still ours. The listener closes at once (and with it the path, so that a new instance can take over during the
   * drain); calls arriving on open connections meanwhile get UNAVAILABLE from grpc-js, which the driver retries.
   */
  async drain(graceMs: number): Promise<'clean' | 'forced'> {
    if (this.#state === 'stopped') return 'clean';
    this.#state = 'draining';
    const outcome = await new Promise<'clean' | 'forced'>((ok) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        ok('forced');
      }, graceMs);
      timer.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        ok('clean');
      });
    });
    if (this.#own !== undefined) this.#released = await releaseSocket(this.endpoint, this.#own).catch(() => undefined);
    this.#state = 'stopped';
    return outcome;
  }

  /** Marks the server as draining without closing it yet (health turns 503 first, then the socket closes). */
  beginDrain(): void {
    if (this.#state === 'serving') this.#state = 'draining';
  }
}
