/**
 * The provider as a separate process, as the DaemonSet runs it: `dist/main.js`, which must be built from the current
 * src/ (test/helpers/built.ts fails the test otherwise). Collects stdout/stderr and knows when it says it is serving.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { builtMain } from './built.js';
import { imageNodeOptions } from '../../scripts/image/dockerfile.js';
import type { DriverClient } from './grpc-client.js';
import type { MemoryCgroup } from './memory-cgroup.js';
import { waitFor } from './wait-for.js';

export class DaemonProcess {
  readonly out: string[] = [];
  readonly err: string[] = [];
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;

  /**
   * `options.coverage: false` runs the daemon without V8's coverage counters even under c8: a test that measures the
   * daemon's memory must measure what the image runs, not the instrumented process (which holds more).
   * `options.cgroup`: the process runs inside it from its exec on.
   */
  constructor(args: readonly string[], env: Record<string, string> = {}, nodeOptions: readonly string[] = [], options: { readonly coverage?: boolean; readonly cgroup?: MemoryCgroup } = {}) {
    const coverage = options.coverage !== false && process.env['NODE_V8_COVERAGE'] !== undefined;
    const argv = [process.execPath, ...nodeOptions, builtMain(), ...args];
    const [command, ...rest] = options.cgroup?.wrap(argv) ?? argv;
    this.child = spawn(command!, rest, {
      // NODE_V8_COVERAGE passes through so c8 counts the child's coverage too.
      env: {
        PATH: process.env['PATH'] ?? '',
        ...(coverage ? { NODE_V8_COVERAGE: process.env['NODE_V8_COVERAGE'] ?? '' } : {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => this.out.push(d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => this.err.push(d.toString()));
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
  }

  /** Log lines (pino JSON) written so far. */
  lines(): Array<Record<string, unknown>> {
    return this.out
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  serving(): boolean {
    return this.out.join('').includes('"msg":"provider serving"');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }
}

/** Waits until the daemon says it serves; fails at once, with its stderr, if it exits first. */
export async function waitForServing(d: DaemonProcess, what = 'the provider to serve'): Promise<void> {
  await waitFor(() => {
    if (!d.running && !d.serving()) throw new Error(`${what}: the process exited: ${d.err.join('').slice(0, 500)}`);
    return d.serving();
  }, what, { timeoutMs: 30_000, everyMs: 25 });
}

/** Waits until the daemon answers Version on its socket: above --log-level=info it prints no "serving" line. */
export async function waitForVersion(d: DaemonProcess, client: DriverClient): Promise<void> {
  await waitFor(async () => {
    if (!d.running) throw new Error(`the daemon exited: ${d.err.join('').slice(0, 500)}`);
    return client.version().then(() => true, () => false);
  }, 'the daemon to answer Version', { timeoutMs: 30_000, everyMs: 25 });
}

/**
 * The daemon as the image runs it (the Dockerfile's NODE_OPTIONS) on `dir`/vault.sock against `vaultAddress`, with an
 * HMAC key file of its own and these extra flags, once it serves. `coverage: false` when the test measures its memory.
 */
export async function startImageDaemon(dir: string, vaultAddress: string, flags: readonly string[], options: { readonly coverage?: boolean } = {}): Promise<{ readonly daemon: DaemonProcess; readonly socket: string }> {
  const keyFile = join(dir, 'hmac.key');
  await writeFile(keyFile, 'an-image-daemon-hmac-key-of-enough-bytes\n');
  const socket = join(dir, 'vault.sock');
  const daemon = new DaemonProcess(
    [`--endpoint=${socket}`, '--health-addr=127.0.0.1:0', `--vault-addr=${vaultAddress}`, `--hmac-key-file=${keyFile}`, '--log-level=info', ...flags],
    {},
    imageNodeOptions(),
    options,
  );
  await waitForServing(daemon);
  return { daemon, socket };
}
