/**
 * Real HashiCorp Vault as the real suite runs it: `vault server -dev` on a loopback port with a root token of the
 * test's own, optionally a second listener with TLS from a CA of the test's own, and a small client of its HTTP API
 * for set-up and checks. Dev mode keeps everything in memory: a restart forgets every token, mount and policy.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, freePort, until } from './processes.js';
import { toolPath } from './tools.js';

export interface VaultTlsListener {
  readonly certFile: string;
  readonly keyFile: string;
  /** Ask for (but do not require) a client certificate, for the cert auth method. */
  readonly clientCaFile?: string;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

export class RealVault {
  private child: Child | undefined;
  private unsealKey = '';
  tlsAddress: string | undefined;

  private constructor(
    readonly address: string,
    readonly rootToken: string,
    private readonly port: number,
    private readonly dir: string,
    private readonly tls: VaultTlsListener | undefined,
    private readonly tlsPort: number | undefined,
  ) {}

  static async start(options: { rootToken?: string; tls?: VaultTlsListener } = {}): Promise<RealVault> {
    const port = await freePort();
    const tlsPort = options.tls === undefined ? undefined : await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'vcp-real-vault-'));
    const vault = new RealVault(`http://127.0.0.1:${port}`, options.rootToken ?? 'real-suite-root-token', port, dir, options.tls, tlsPort);
    await vault.launch();
    return vault;
  }

  private async launch(): Promise<void> {
    const args = ['server', '-dev', `-dev-root-token-id=${this.rootToken}`, `-dev-listen-address=127.0.0.1:${this.port}`, '-dev-no-store-token'];
    if (this.tls !== undefined && this.tlsPort !== undefined) {
      const config = join(this.dir, 'tls-listener.hcl');
      await writeFile(
        config,
        [
          'listener "tcp" {',
          `  address = "127.0.0.1:${this.tlsPort}"`,
          `  tls_cert_file = ${JSON.stringify(this.tls.certFile)}`,
          `  tls_key_file = ${JSON.stringify(this.tls.keyFile)}`,
          ...(this.tls.clientCaFile === undefined ? [] : [`  tls_client_ca_file = ${JSON.stringify(this.tls.clientCaFile)}`, '  tls_require_and_verify_client_cert = false']),
          '}',
          '',
        ].join('\n'),
      );
      args.push(`-config=${config}`);
      this.tlsAddress = `https://127.0.0.1:${this.tlsPort}`;
    }
    this.child = new Child('vault', toolPath('vault'), args, {
      // Vault reads VAULT_* from its environment; give it none of ours, and a HOME of its own.
      env: { PATH: process.env['PATH'] ?? '', HOME: this.dir, VAULT_DISABLE_MLOCK: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const m = await this.child.waitForOutput(/Unseal Key: (\S+)/, 120_000);
    this.unsealKey = m[1] ?? '';
    await until(async () => (await this.health()) === 200, 'Vault to report itself active', 60_000);
  }

  get log(): string {
    return this.child?.log ?? '';
  }

  /** GET /v1/sys/health's status code: 200 active, 503 sealed, 0 not answering. */
  async health(): Promise<number> {
    try {
      const res = await fetch(`${this.address}/v1/sys/health`);
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** One request to Vault's HTTP API; the root token unless another (or none: null) is given. */
  async api(method: string, path: string, body?: unknown, token: string | null = this.rootToken, headers: Record<string, string> = {}): Promise<ApiAnswer> {
    const res = await fetch(`${this.address}/v1/${path.replace(/^\/+/, '')}`, {
      method,
      headers: {
        ...(token === null ? {} : { 'X-Vault-Token': token }),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      redirect: 'manual',
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /** Like api(), but fails unless Vault answers 2xx. */
  async must(method: string, path: string, body?: unknown): Promise<unknown> {
    const a = await this.api(method, path, body);
    if (a.status < 200 || a.status > 299) throw new Error(`Vault ${method} ${path}: ${a.status} ${JSON.stringify(a.body)}`);
    return a.body;
  }

  async seal(): Promise<void> {
    await this.must('PUT', 'sys/seal');
    await until(async () => (await this.health()) === 503, 'Vault to report itself sealed');
  }

  async unseal(): Promise<void> {
    await this.must('PUT', 'sys/unseal', { key: this.unsealKey });
    await until(async () => (await this.health()) === 200, 'Vault to report itself active after unseal');
  }

  /** Stops Vault and starts it again on the same address: dev mode forgets every token, mount and policy. */
  async restart(): Promise<void> {
    await this.child?.stop();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.child?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
