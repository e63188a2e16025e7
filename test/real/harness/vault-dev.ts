/**
 * Real HashiCorp Vault as the real suite runs it: `vault server -dev` on a loopback port with a root token of the
 * test's own, optionally a second listener with TLS from a CA of the test's own, and a small client of its HTTP API
 * for set-up and checks. Dev mode keeps everything in memory: a restart forgets every token, mount and policy.
 *
 * Or (startRaft) as it runs in production: integrated storage (raft) on disk in a directory of its own, started
 * from a config file, initialised and unsealed through the API (one key share), so tokens, leases and the audit
 * trail cost what they cost on a real cluster (`npm run bench:real` measures that).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  /** Integrated storage on disk (startRaft) instead of dev mode's memory. */
  private raft: { readonly clusterPort: number } | undefined;

  private constructor(
    readonly address: string,
    private token: string,
    private readonly port: number,
    private readonly dir: string,
    private readonly tls: VaultTlsListener | undefined,
    private readonly tlsPort: number | undefined,
  ) {}

  /** The root token: the test's own in dev mode, the one `sys/init` answered with raft. */
  get rootToken(): string {
    return this.token;
  }

  /** The server's process id (for its CPU time in /proc). */
  get pid(): number | undefined {
    return this.child?.child.pid;
  }

  /** Where raft keeps its data (vault.db, raft/raft.db, snapshots); undefined in dev mode. */
  get raftDir(): string | undefined {
    return this.raft === undefined ? undefined : join(this.dir, 'raft');
  }

  /**
   * Vault with integrated storage (raft) in a new directory: `vault server -config`, then `sys/init` with one key
   * share and `sys/unseal`, waiting until the node is active. No TLS (loopback only).
   */
  static async startRaft(): Promise<RealVault> {
    const port = await freePort();
    const clusterPort = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'vcp-real-vault-raft-'));
    const vault = new RealVault(`http://127.0.0.1:${port}`, '', port, dir, undefined, undefined);
    vault.raft = { clusterPort };
    await mkdir(join(dir, 'raft'));
    await vault.launchRaft();
    return vault;
  }

  private async launchRaft(): Promise<void> {
    const raft = this.raft!;
    const config = join(this.dir, 'vault.hcl');
    await writeFile(
      config,
      [
        'storage "raft" {',
        `  path = ${JSON.stringify(join(this.dir, 'raft'))}`,
        '  node_id = "bench-node-1"',
        '}',
        'listener "tcp" {',
        `  address = "127.0.0.1:${this.port}"`,
        `  cluster_address = "127.0.0.1:${raft.clusterPort}"`,
        '  tls_disable = true',
        '}',
        `api_addr = "${this.address}"`,
        `cluster_addr = "https://127.0.0.1:${raft.clusterPort}"`,
        'disable_mlock = true',
        'ui = false',
        '',
      ].join('\n'),
    );
    this.child = new Child('vault', toolPath('vault'), ['server', `-config=${config}`], {
      env: { PATH: process.env['PATH'] ?? '', HOME: this.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // 501: not initialised; 503: sealed; 200: active.
    await until(async () => {
      if (!this.child!.running) throw new Error(`vault exited:\n${this.child!.log.slice(-4000)}`);
      return (await this.health()) !== 0;
    }, 'Vault to answer', 60_000);
    if ((await this.health()) === 501) {
      const init = await this.api('PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 }, null);
      const body = init.body as { keys_base64?: string[]; root_token?: string };
      if (init.status !== 200 || body.root_token === undefined || body.keys_base64?.[0] === undefined) {
        throw new Error(`Vault sys/init: ${init.status}`);
      }
      this.token = body.root_token;
      this.unsealKey = body.keys_base64[0];
    }
    const unsealed = await this.api('PUT', 'sys/unseal', { key: this.unsealKey }, null);
    if (unsealed.status !== 200) throw new Error(`Vault sys/unseal: ${unsealed.status}`);
    await until(async () => (await this.health()) === 200, 'Vault (raft) to become active', 60_000);
  }

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

  /** Stops Vault and starts it again on the same address: dev mode forgets every token, mount and policy; raft keeps them (and is unsealed again). */
  async restart(): Promise<void> {
    await this.child?.stop();
    if (this.raft !== undefined) await this.launchRaft();
    else await this.launch();
  }

  async stop(): Promise<void> {
    await this.child?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
