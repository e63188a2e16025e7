/**
 * The driver side of every end-to-end check in the real suite: the driver-client binary (test/real/driver/) calls
 * our socket through the Secrets Store CSI driver's own client code and writes the files with the driver's own
 * writer. One process per suite file; each mount is one JSON line in and one out, so mounts can run concurrently.
 */
import { createInterface } from 'node:readline';
import { Child } from './processes.js';
import { toolPath } from './tools.js';

export interface DriverMount {
  readonly attributes: Readonly<Record<string, string>>;
  /** The nodePublishSecretRef's data; null when the volume has none. */
  readonly secrets: Readonly<Record<string, string>> | null;
  readonly targetPath: string;
  readonly permission?: number;
  readonly timeoutMs?: number;
  /** The SecretProviderClass's `spec.provider`: the driver dials `<socket dir>/<provider>.sock`; default vault. */
  readonly provider?: string;
}

export interface DriverAnswer {
  readonly id: string;
  readonly runtimeVersion?: string;
  readonly objectVersions: Readonly<Record<string, string>> | null;
  /** The error code the driver reports (from the provider's MountResponse.error, or GRPCProviderError). */
  readonly errorCode: string;
  readonly error: string;
  /** The gRPC status when the provider answered with one (e.g. "Unavailable"). */
  readonly grpcCode: string;
  readonly grpcMessage: string;
  readonly elapsedMs: number;
}

export class RealDriverClient {
  private readonly child: Child;
  private readonly waiting = new Map<string, (a: DriverAnswer) => void>();
  private next = 0;

  constructor(socketDir: string) {
    this.child = new Child('driver-client', toolPath('driver-client'), ['-socket-dir', socketDir], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = createInterface({ input: this.child.child.stdout! });
    lines.on('line', (line) => {
      const answer = JSON.parse(line) as DriverAnswer;
      const resolve = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      resolve?.(answer);
    });
  }

  mount(request: DriverMount): Promise<DriverAnswer> {
    const id = String(++this.next);
    const line = JSON.stringify({ id, attributes: request.attributes, secrets: request.secrets, targetPath: request.targetPath, permission: request.permission, timeoutMs: request.timeoutMs, provider: request.provider });
    return new Promise<DriverAnswer>((resolve, reject) => {
      this.waiting.set(id, resolve);
      this.child.child.stdin!.write(`${line}\n`, (err) => {
        if (err) reject(err);
      });
      void this.child.exited.then(() => reject(new Error(`driver-client exited: ${this.child.log.slice(-2000)}`)));
    });
  }

  async close(): Promise<void> {
    this.child.child.stdin!.end();
    await this.child.stop('SIGTERM', 5_000);
  }
}
