// `npx tsx scripts/crossings.ts`: which of our files (src/) run for one republish of a pod and for one Vault GET,
// read from V8's precise coverage (a file counts when any of its functions ran), reset after a warm-up, so start-up
// and first-use code are not counted. The provider runs in this process (test/helpers/provider-harness.ts) against
// the test Vault; the GET goes through a VaultClient, the address's gates and a mount's memory ledger, as a mount's do.
// Figures for issue 21 ("one Vault GET crosses at most 6 of our files"); prints the files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { takeCoverage } from 'node:v8';

if (process.env['NODE_V8_COVERAGE'] === undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'vcp-crossings-'));
  const run = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, NODE_V8_COVERAGE: dir } });
  rmSync(dir, { recursive: true, force: true });
  process.exit(run.status ?? 1);
}

const { startHarness } = await import('../test/helpers/provider-harness.js');
const { VaultClient } = await import('../src/vault/client.js');
const { UndiciTransport } = await import('../src/vault/transport.js');
const { MountAdmission, MountMemory } = await import('../src/admission/mount-admission.js');
const { AddressGates, DEFAULT_GATE_LIMITS } = await import('../src/vault/rate-limit.js');
const { systemClock } = await import('../src/shared/clock.js');

const SRC = `${new URL('../src/', import.meta.url).pathname}`;
const COVERAGE = process.env['NODE_V8_COVERAGE'];

interface ScriptCoverage {
  readonly url: string;
  readonly functions: ReadonlyArray<{ readonly ranges: ReadonlyArray<{ readonly count: number }> }>;
}

/** Writes V8's counters out and resets them; the src/ files with any function run since the last call. */
function ranSinceLast(): string[] {
  takeCoverage();
  const newest = readdirSync(COVERAGE)
    .map((f) => join(COVERAGE, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
  const { result } = JSON.parse(readFileSync(newest, 'utf8')) as { result: ScriptCoverage[] };
  return result
    .filter((s) => s.url.startsWith(`file://${SRC}`) && s.functions.some((f) => f.ranges[0]!.count > 0))
    .map((s) => s.url.slice(`file://${SRC}`.length))
    .sort();
}

const h = await startHarness();
try {
  h.vault.putKv('secret', 'app', { password: 'p' });
  await h.startProvider();
  const objects = '- objectName: password\n  secretPath: secret/data/app\n  secretKey: password\n';
  for (let i = 0; i < 3; i++) await h.client.mount(h.request({ objects }));
  ranSinceLast();
  await h.client.mount(h.request({ objects }));
  const republish = ranSinceLast();

  const address = h.vault.address;
  const tls = { caCertPath: undefined, caDirectory: undefined, serverName: undefined, clientCertPath: undefined, clientKeyPath: undefined, skipVerify: false };
  const client = new VaultClient({ address, addresses: [address], namespace: undefined, authMount: 'kubernetes', tls, key: 'crossings' }, new UndiciTransport({ tls: { ca: undefined, cert: undefined, key: undefined, servername: undefined, rejectUnauthorized: true }, requestTimeoutMs: 5_000, gates: new AddressGates(DEFAULT_GATE_LIMITS, systemClock) }));
  const token = h.vault.rootToken;
  const admission = new MountAdmission();
  const get = () => client.request(token, { method: 'GET', requestPath: '/v1/secret/data/app', query: '', body: undefined }, undefined, new MountMemory(admission));
  for (let i = 0; i < 3; i++) await get();
  ranSinceLast();
  await get();
  const oneGet = ranSinceLast();

  console.log(`one republish of a pod (one KV object) runs ${republish.length} of our files:\n  ${republish.join('\n  ')}`);
  console.log(`one Vault GET (VaultClient.request through the gates, with a mount's ledger) runs ${oneGet.length}:\n  ${oneGet.join('\n  ')}`);
} finally {
  await h.close();
}
