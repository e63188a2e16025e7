/** The CSIDriverProvider gRPC server: grpc-js binds with the umask, so it is narrowed around the bind (0660). */
import { chmod } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Server, ServerCredentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/service.js';
import { PACKAGE_DIR } from '../version.js';
import type { CSIDriverProviderHandlers } from '../generated/v1alpha1/CSIDriverProvider.js';
import {
  prepareSocketDir,
  privateSocketPath,
  publishSocket,
  releaseSocket,
  SocketGuard,
  socketIdentity,
  type PathHolder,
  type Release,
  type SocketIdentity,
  type Takeover,
} from './socket-path.js';

export const SOCKET_MODE = 0o660;

/** Loader options matching the generated types (keepCase, string enums and longs, defaults). */
export const PROTO_LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

export function protoPath(): string {
  return join(PACKAGE_DIR, 'proto', 'service.proto');
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
  /** How often the socket path is checked besides the directory's change events (socket-path.ts, SocketGuard). */
  readonly guardIntervalMs?: number;
  /** The guard put this instance's socket back at the path (it was missing, dead, or a file). */
  readonly onSocketRestored?: (found: PathHolder) => void;
}

export class ProviderGrpcServer {
  readonly endpoint: string;
  #state: ServerState = 'starting';
  /** Only the socket this instance listens on is ours to give up, never the successor's. */
  #own: SocketIdentity | undefined;
  readonly #privatePath: string;
  #guard: SocketGuard | undefined;
  #released: Release | undefined;
  readonly #server: Server;
  readonly #options: GrpcServerOptions;

  constructor(options: GrpcServerOptions) {
    this.#options = options;
    this.endpoint = resolve(options.endpoint);
    this.#privatePath = privateSocketPath(this.endpoint);
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

  /** A live instance at the endpoint keeps its open connections and is stopped by the rollout; nothing is refused. */
  async start(): Promise<Takeover> {
    await prepareSocketDir(this.endpoint, this.#privatePath);
    const previous = process.umask(0o117);
    try {
      await new Promise<void>((ok, fail) => {
        this.#server.bindAsync(`unix:${this.#privatePath}`, ServerCredentials.createInsecure(), (err) => (err ? fail(err) : ok()));
      });
    } finally {
      process.umask(previous);
    }
    await chmod(this.#privatePath, SOCKET_MODE);
    this.#own = await socketIdentity(this.#privatePath);
    const existing = await publishSocket(this.endpoint, this.#privatePath);
    this.#state = 'serving';
    this.#guard = new SocketGuard({
      endpoint: this.endpoint,
      privatePath: this.#privatePath,
      own: this.#own,
      ...(this.#options.guardIntervalMs === undefined ? {} : { intervalMs: this.#options.guardIntervalMs }),
      ...(this.#options.onSocketRestored === undefined ? {} : { onRestored: this.#options.onSocketRestored }),
    });
    this.#guard.start();
    return existing;
  }

  /** Where this instance listens; the endpoint is a link to it while this instance holds the path. */
  get privatePath(): string {
    return this.#privatePath;
  }

  /** What became of the socket path at the end of the drain; undefined before. */
  get released(): Release | undefined {
    return this.#released;
  }

  /** Gives up the path, then GOAWAY to every connection so the driver dials again; in-flight calls get `graceMs`. */
  async drain(graceMs: number): Promise<'clean' | 'forced'> {
    if (this.#state === 'stopped') return 'clean';
    this.#state = 'draining';
    await this.#guard?.stop();
    if (this.#own !== undefined) this.#released = await releaseSocket(this.endpoint, this.#own, this.#privatePath).catch(() => undefined);
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
    this.#state = 'stopped';
    return outcome;
  }

  /** Marks the server as draining without closing it yet (health turns 503 first, then the socket closes). */
  beginDrain(): void {
    if (this.#state === 'serving') this.#state = 'draining';
  }
}
