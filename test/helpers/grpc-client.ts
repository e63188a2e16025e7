/**
 * A gRPC client written from the published v1alpha1 contract (proto/service.proto), as the driver dials us:
 * over the Unix socket, authority "localhost".
 */
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { loadContract } from '../../src/server/grpc-server.js';
import type { CSIDriverProviderClient } from '../../src/generated/v1alpha1/CSIDriverProvider.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';
import type { VersionResponse__Output } from '../../src/generated/v1alpha1/VersionResponse.js';

export class DriverClient {
  readonly #client: CSIDriverProviderClient;

  constructor(socketPath: string) {
    const Ctor = loadContract().v1alpha1.CSIDriverProvider;
    this.#client = new Ctor(`unix:${socketPath}`, credentials.createInsecure(), {
      'grpc.default_authority': 'localhost',
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      // One connection of its own, as the driver's one ClientConn per provider: grpc-js would otherwise share a
      // connection between clients of the same path, and a client made after a takeover would reach the old instance.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  version(): Promise<VersionResponse__Output> {
    return new Promise((ok, fail) => {
      this.#client.Version({ version: 'v1alpha1' }, (err, res) => (err ? fail(err) : ok(res!)));
    });
  }

  /** `deadlineMs` Infinity sends no deadline at all. */
  mount(request: MountRequest, deadlineMs = 30_000): Promise<MountResponse__Output> {
    return new Promise((ok, fail) => {
      this.#client.Mount(request, Number.isFinite(deadlineMs) ? { deadline: Date.now() + deadlineMs } : {}, (err, res) => (err ? fail(err) : ok(res!)));
    });
  }

  /** The mount's gRPC error, or a failure if it succeeded. */
  async mountError(request: MountRequest, deadlineMs = 30_000): Promise<ServiceError> {
    try {
      await this.mount(request, deadlineMs);
    } catch (err: unknown) {
      return err as ServiceError;
    }
    throw new Error('expected the mount to fail');
  }

  close(): void {
    this.#client.close();
  }
}
