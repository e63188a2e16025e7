/**
 * PostgreSQL from Debian for Vault's database secrets engine: a throw-away cluster (initdb) in a temporary
 * directory, listening on a loopback port only, run as the `postgres` user (PostgreSQL refuses to run as root).
 * scripts/real/build-tools.sh installs the package when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, freePort } from './processes.js';
import type { RealVault } from './vault-dev.js';

function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) throw new Error('PostgreSQL is not installed: run scripts/real/build-tools.sh (it installs it from Debian)');
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  if (versions[0] === undefined) throw new Error(`no PostgreSQL server under ${base}`);
  return join(base, versions[0], 'bin');
}

function userIds(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export class Postgres {
  private constructor(
    private readonly child: Child,
    private readonly dir: string,
    readonly port: number,
    readonly user: string,
    readonly password: string,
  ) {}

  /** A connection URL in the form Vault's postgresql-database-plugin takes, with its templated credentials. */
  get vaultConnectionUrl(): string {
    return `postgresql://{{username}}:{{password}}@127.0.0.1:${this.port}/postgres?sslmode=disable`;
  }

  static async start(): Promise<Postgres> {
    const bin = postgresBin();
    const ids = process.getuid?.() === 0 ? userIds('postgres') : undefined;
    const dir = mkdtempSync(join(tmpdir(), 'vcp-real-pg-'));
    chmodSync(dir, 0o755);
    const data = join(dir, 'data');
    const password = `pg-${Math.random().toString(36).slice(2)}`;
    const pwFile = join(dir, 'pw');
    execFileSync('sh', ['-c', `umask 077; printf '%s' "$1" > "$2"`, 'sh', password, pwFile]);
    if (ids !== undefined) chownSync(dir, ids.uid, ids.gid), chownSync(pwFile, ids.uid, ids.gid);
    const asUser = ids === undefined ? {} : { uid: ids.uid, gid: ids.gid };
    execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'vault', `--pwfile=${pwFile}`, '-A', 'scram-sha-256', '--no-sync'], {
      ...asUser,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const port = await freePort();
    const child = new Child('postgres', join(bin, 'postgres'), ['-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', dir, '-c', 'fsync=off'], {
      ...asUser,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await child.waitForOutput(/database system is ready to accept connections/, 60_000);
    return new Postgres(child, dir, port, 'vault', password);
  }

  /**
   * Vault's database secrets engine at `database/` on this cluster: by default connection `pg` through the
   * postgresql-database-plugin and a role `web` whose credentials are PostgreSQL roles with a lease (1 h, 24 h
   * max). `connections` names other connections (all to this cluster) and the roles each allows, as an example's
   * set-up spells them (e.g. `{ 'prod-db': ['app-prod'], 'test-db': ['app-test'] }`); `ttl` their leases.
   */
  async configureVault(
    vault: RealVault,
    connections: Readonly<Record<string, readonly string[]>> = { pg: ['web'] },
    ttl: { readonly default: string; readonly max: string } = { default: '1h', max: '24h' },
  ): Promise<void> {
    await vault.must('POST', 'sys/mounts/database', { type: 'database' });
    for (const [connection, roles] of Object.entries(connections)) {
      await vault.must('POST', `database/config/${connection}`, {
        plugin_name: 'postgresql-database-plugin',
        connection_url: this.vaultConnectionUrl,
        username: this.user,
        password: this.password,
        allowed_roles: roles.join(','),
        verify_connection: true,
      });
      for (const role of roles) {
        await vault.must('POST', `database/roles/${role}`, {
          db_name: connection,
          creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`],
          default_ttl: ttl.default,
          max_ttl: ttl.max,
        });
      }
    }
  }

  /** Runs SQL as the admin user and returns psql's unaligned output. */
  query(sql: string): string {
    return execFileSync('psql', ['-h', '127.0.0.1', '-p', String(this.port), '-U', this.user, '-d', 'postgres', '-At', '-c', sql], {
      env: { PATH: process.env['PATH'] ?? '', PGPASSWORD: this.password },
      encoding: 'utf8',
    }).trim();
  }

  async stop(): Promise<void> {
    await this.child.stop('SIGINT');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
