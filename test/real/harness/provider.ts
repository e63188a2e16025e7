/**
 * Our provider as the DaemonSet runs it (dist/main.js with the image's NODE_OPTIONS), on a socket in a directory of
 * its own, the way the driver finds it: <providers dir>/vault.sock.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProcess, waitForServing } from '../../helpers/daemon-process.js';
import { imageNodeOptions } from '../../../scripts/image/dockerfile.js';

export class RealSuiteProvider {
  daemon: DaemonProcess | undefined;

  private constructor(
    readonly dir: string,
    private args: readonly string[],
  ) {}

  get socketDir(): string {
    return join(this.dir, 'providers');
  }

  /**
   * Starts the provider with `--vault-addr` and an HMAC key file; extra flags are appended. As `openbao`: on
   * openbao.sock with `-openbao-addr`, as the OpenBao provider's DaemonSet starts it.
   */
  static async start(vaultAddress: string, flags: readonly string[] = [], as: 'vault' | 'openbao' = 'vault'): Promise<RealSuiteProvider> {
    const dir = await mkdtemp(join(tmpdir(), 'vcp-real-provider-'));
    const keyFile = join(dir, 'hmac.key');
    await writeFile(keyFile, 'real-suite-hmac-key-0123456789abcdef', { mode: 0o600 });
    const p = new RealSuiteProvider(dir, [
      `--endpoint=${join(dir, 'providers', `${as}.sock`)}`,
      as === 'openbao' ? `-openbao-addr=${vaultAddress}` : `--vault-addr=${vaultAddress}`,
      `--hmac-key-file=${keyFile}`,
      '--health-addr=127.0.0.1:0',
      '--log-level=debug',
      ...flags,
    ]);
    await p.launch();
    return p;
  }

  private async launch(): Promise<void> {
    this.daemon = new DaemonProcess(this.args, { NODE_OPTIONS: imageNodeOptions().join(' ') });
    await waitForServing(this.daemon);
  }

  /** Every log line the provider wrote (pino JSON), across restarts. */
  lines(): Array<Record<string, unknown>> {
    return this.daemon?.lines() ?? [];
  }

  /** Everything it wrote to stdout and stderr, for leak checks. */
  output(): string {
    return [...(this.daemon?.out ?? []), ...(this.daemon?.err ?? [])].join('');
  }

  /** The HMAC key file it was started with (a test may write another key there between two runs). */
  get keyFile(): string {
    return join(this.dir, 'hmac.key');
  }

  /** SIGTERM, wait for the exit, then start again with the same flags; `between` runs while it is stopped. */
  async restart(between?: () => Promise<void>): Promise<void> {
    await this.stopProcess();
    await between?.();
    await this.launch();
  }

  private async stopProcess(): Promise<void> {
    const d = this.daemon;
    if (d === undefined) return;
    d.kill('SIGTERM');
    await d.exited;
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    await rm(this.dir, { recursive: true, force: true });
  }
}
