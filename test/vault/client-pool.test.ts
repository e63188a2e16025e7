/**
 * VaultClientPool's own contract: mounts with equal connection settings share one client (one keep-alive pool),
 * other settings get their own, a client that could not be made (an unreadable CA file) is not kept, and the pool is
 * bounded.
 */
import assert from 'node:assert/strict';
import { VaultClientPool } from '../../src/vault/client-pool.js';
import { withKey } from '../../src/config/connection.js';
import type { ConnectionSettings } from '../../src/config/types.js';
import type { TlsFileReader } from '../../src/vault/tls-files.js';
import { createTlsMaterial } from '../vault-server/index.js';

function settings(address: string, over: Partial<ConnectionSettings['tls']> = {}): ConnectionSettings {
  return withKey({
    address,
    addresses: [address],
    namespace: undefined,
    authMount: 'kubernetes',
    tls: { caCertPath: undefined, caDirectory: undefined, serverName: undefined, clientCertPath: undefined, clientKeyPath: undefined, skipVerify: false, ...over },
  });
}

describe('vault/client-pool', () => {
  const pools: VaultClientPool[] = [];
  const pool = (options: Partial<ConstructorParameters<typeof VaultClientPool>[0]> = {}): VaultClientPool => {
    const p = new VaultClientPool({ requestTimeoutMs: 1_000, ...options });
    pools.push(p);
    return p;
  };
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.close();
  });

  it('hands mounts with equal settings one client, and other settings another', async () => {
    const p = pool();
    const a = await p.get(settings('http://127.0.0.1:8200'));
    assert.equal(await p.get(settings('http://127.0.0.1:8200')), a);
    assert.notEqual(await p.get(settings('http://127.0.0.1:8201')), a);
    assert.notEqual(await p.get(settings('http://127.0.0.1:8200', { serverName: 'vault.svc' })), a);
  });

  it('does not keep a client whose CA file could not be read: the next mount reads it again', async () => {
    const { caCertPem } = await createTlsMaterial();
    let reads = 0;
    let present = false;
    const files: TlsFileReader = {
      readFile: (path) => {
        reads++;
        return present ? Promise.resolve(caCertPem) : Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' }));
      },
      readdir: () => Promise.resolve([]),
      isFile: () => Promise.resolve(present),
    };
    const p = pool({ tlsFiles: files });
    const s = settings('https://127.0.0.1:8200', { caCertPath: '/etc/vault/ca.pem' });
    await assert.rejects(p.get(s), /vaultCACertPath/);
    present = true;
    const client = await p.get(s);
    assert.equal(await p.get(s), client);
    assert.equal(reads, 2, 'read once when missing, once when it appeared, then kept');
  });

  it('holds at most 64 clients: the least recently used one is dropped and made anew when asked for again', async () => {
    const p = pool();
    const a = await p.get(settings('http://127.0.0.1:1'));
    const b = await p.get(settings('http://127.0.0.1:2'));
    for (let port = 3; port <= 64; port++) await p.get(settings(`http://127.0.0.1:${port}`));
    assert.equal(await p.get(settings('http://127.0.0.1:1')), a, 'still held: 64 clients');
    await p.get(settings('http://127.0.0.1:65')); // evicts :2, the least recently used
    assert.equal(await p.get(settings('http://127.0.0.1:1')), a);
    const b2 = await p.get(settings('http://127.0.0.1:2'));
    assert.notEqual(b2, b, 'made anew');
    assert.equal(await p.get(settings('http://127.0.0.1:2')), b2);
  });

  it('close() forgets every client', async () => {
    const p = pool();
    const a = await p.get(settings('http://127.0.0.1:8200'));
    await p.close();
    assert.notEqual(await p.get(settings('http://127.0.0.1:8200')), a);
  });
});
