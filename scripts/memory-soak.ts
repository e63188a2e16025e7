/**
 * `npm run memory-soak`: the heavy form of test/e2e/memory-budget.test.ts. The provider as the image runs it
 * (dist/main.js in its own process, the Dockerfile's NODE_OPTIONS) takes rounds of concurrent mounts that together
 * name hundreds of MiB of large KV secrets, far more than the DaemonSet's memory limit. Prints, and exits non-zero
 * when a target is missed:
 *
 *   the daemon still running at the end (target: yes), answers other than OK or RESOURCE_EXHAUSTED (target 0),
 *   peak RSS (target: under the DaemonSet's memory limit in deploy/base), budget hits (RESOURCE_EXHAUSTED answers),
 *   and a normal mount right after each round (target: succeeds).
 *
 * Options (all optional): --rounds 3 --mounts 64 --per-mount 3 --value-mib 1.25 --secrets 16 (each mount then names
 * 3.75 MiB, a file set the driver could receive; together 720 MiB), and --flags='…' for provider flags (e.g.
 * --flags=--memory-budget=67108864).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DriverClient } from '../test/helpers/grpc-client.js';
import { DaemonProcess, waitForServing } from '../test/helpers/daemon-process.js';
import { imageNodeFlags } from './image/dockerfile.js';
import { daemonSetMemoryLimit, preparePressureVault, pressureRequest, RssSampler, runPressure, SMALL_OBJECTS } from '../test/helpers/memory-pressure.js';
import { printVerdicts, runScript } from '../test/helpers/soak.js';
import { ServiceAccountJwtIssuer, startTestVault } from '../test/vault-server/index.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    mounts: { type: 'string', default: '64' },
    'per-mount': { type: 'string', default: '3' },
    'value-mib': { type: 'string', default: '1.25' },
    secrets: { type: 'string', default: '16' },
    flags: { type: 'string', default: '' },
  },
});
const ROUNDS = Number(args.rounds);
const MOUNTS = Number(args.mounts);
const PER_MOUNT = Number(args['per-mount']);
const SPEC = { secrets: Number(args.secrets), valueBytes: Math.round(Number(args['value-mib']) * 1024 * 1024) };

if (!existsSync(new URL('../dist/main.js', import.meta.url))) {
  console.error('dist/main.js is missing: run `npm run build` first (npm run memory-soak does).');
  process.exit(2);
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'vcp-memory-soak-'));
  const keyFile = join(dir, 'hmac.key');
  await writeFile(keyFile, 'a-memory-soak-hmac-key-of-enough-bytes\n');
  const issuer = new ServiceAccountJwtIssuer();
  const vault = await startTestVault();
  vault.enableKv('secret', 2);
  vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] });
  preparePressureVault(vault, SPEC);
  const socket = join(dir, 'vault.sock');
  const flags = [`--endpoint=${socket}`, '--health-addr=127.0.0.1:0', `--vault-addr=${vault.address}`, `--hmac-key-file=${keyFile}`, '--log-level=info', ...args.flags.split(/\s+/).filter(Boolean)];
  const provider = new DaemonProcess(flags, {}, imageNodeFlags());
  const limit = daemonSetMemoryLimit();
  let exit = 0;
  try {
    await waitForServing(provider);
    const rss = new RssSampler(provider.child.pid!);
    const idle = await rss.sample();
    rss.start();
    const client = new DriverClient(socket);
    console.log(`memory-soak: ${ROUNDS} rounds of ${MOUNTS} concurrent mounts × ${PER_MOUNT} secrets of ${mib(SPEC.valueBytes)}, provider ${imageNodeFlags().join(' ')} ${args.flags}`);
    let totals = { ok: 0, exhausted: 0, other: 0, named: 0 };
    let normalOk = 0;
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      const outcome = await runPressure({ client, issuer, mounts: MOUNTS, perMount: PER_MOUNT, spec: SPEC, targetDir: dir });
      totals = { ok: totals.ok + outcome.ok, exhausted: totals.exhausted + outcome.exhausted, other: totals.other + outcome.other, named: totals.named + outcome.namedBytes };
      if (outcome.other > 0) console.log(`round ${round}: other answers:`, outcome.otherDetails);
      if (round === 0 && outcome.exhaustedDetails.length > 0) console.log(`first budget hit: ${outcome.exhaustedDetails[0]}`);
      // A normal mount right after the burst.
      try {
        await client.mount(pressureRequest(issuer, 10_000 + round, SMALL_OBJECTS, dir), 30_000);
        normalOk++;
      } catch (err: unknown) {
        console.log(`round ${round}: the normal mount after it failed:`, err instanceof Error ? err.message : String(err));
      }
      console.log(`round ${round}: ${outcome.ok} ok, ${outcome.exhausted} RESOURCE_EXHAUSTED, ${outcome.other} other; RSS now ${mib(await rss.sample())}, peak ${mib(rss.peak)}`);
    }
    rss.stop();
    const elapsed = performance.now() - started;
    client.close();
    const alive = provider.running;
    const rows: Array<[string, string, string]> = [
      ['bytes named by the mounts', mib(totals.named), ''],
      ['mounts ok / RESOURCE_EXHAUSTED / other', `${totals.ok} / ${totals.exhausted} / ${totals.other}`, totals.other === 0 ? 'ok (target: no other)' : 'MISSED'],
      ['daemon running at the end', String(alive), alive ? 'ok' : 'MISSED'],
      ['RSS idle / peak', `${mib(idle)} / ${mib(rss.peak)}`, rss.peak < limit ? `ok (< ${mib(limit)}, the DaemonSet limit)` : `MISSED (limit ${mib(limit)})`],
      ['normal mount after each round', `${normalOk} / ${ROUNDS}`, normalOk === ROUNDS ? 'ok' : 'MISSED'],
      ['wall time', `${(elapsed / 1000).toFixed(1)} s`, ''],
    ];
    printVerdicts(rows);
    if (!alive) console.log('provider stderr:', provider.err.join('').slice(-2000));
    if (totals.other > 0 || !alive || !(rss.peak < limit) || normalOk !== ROUNDS) exit = 1;
  } finally {
    provider.kill('SIGKILL');
    await vault.close();
    await rm(dir, { recursive: true, force: true });
  }
  return exit;
}

runScript(main);
