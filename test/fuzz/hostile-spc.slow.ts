/**
 * Hostile SecretProviderClasses (hostile-spc.ts) against the daemon as the image runs it (test/isolation/stage.ts:
 * dist/main.js, the Dockerfile's NODE_OPTIONS, the DaemonSet's arguments, --write-files) and the fake Vault. The
 * invariants of issue 19 that are cheap to check per case:
 *
 * - the daemon keeps serving: the same process after every case, and `GET /health/ready` (polled every 100 ms all
 *   along) answers 200 within HEALTH_MS during every case;
 * - each case gets files, or a clear error: a catalog code in front of the message, never INTERNAL, and the gRPC
 *   status that code maps to (src/errors.ts) — a dropped connection or a bare gRPC status is not one;
 * - it keeps within the DaemonSet's memory limit (Stage.memoryViolation: no OOM kill in a memory cgroup at that
 *   limit, or VmHWM under it where the machine has no cgroup for it), the bytes the mounts have charged
 *   (`vault_csi_provider_memory_in_flight_bytes`) stay within --memory-budget and all come back at the end;
 * - a refused mount writes nothing (its target directory stays empty);
 * - no error and no log line quotes a secret value.
 *
 * Cases go four at a time (BATCH), as a namespace's pods start together. `npm run fuzz` runs 10,000 cases
 * (FUZZ_RUNS × 10/3), `npm run test:slow` 40. No shrinking: a batch that stalls or kills the daemon is reported as it came, by
 * the kind and sizes of its cases (and FUZZ_SEED replays the run). FUZZ_NODE_FLAGS adds node flags to the daemon's
 * (e.g. `--heapsnapshot-near-heap-limit=1`, written in the daemon's working directory).
 */
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ErrorCodes, grpcStatusFor, type ErrorCode } from '../../src/errors.js';
import { DEFAULT_NODE_MEMORY_BUDGET } from '../../src/admission/mount-admission.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import { RssSampler } from '../helpers/memory-pressure.js';
import { samples } from '../helpers/prometheus.js';
import { HealthProbe, describeFigures, figures } from '../isolation/probes.js';
import { podOf, Stage, type Pod } from '../isolation/stage.js';
import { fuzzRuns, PLANTED_SECRET } from './arbitraries.js';
import { FUZZ_VAULT_DATA, hostileSpcArb, type HostileSpc } from './hostile-spc.js';

const HEALTH_MS = 1_000;
/** Cases mounted at once: a namespace's pods start together, and two cores serve four mounts faster than one. */
const BATCH = 4;
const MiB = 1024 * 1024;
const FUZZ = { namespace: 'fuzz', serviceAccount: 'fuzz', role: 'fuzz' };

/** CPU seconds a process has used (utime + stime of /proc/<pid>/stat, at the kernel's 100 ticks a second). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('fuzz: hostile SecretProviderClasses against the daemon as the image runs it', function () {
  this.timeout(0);
  let stage: Stage;
  let health: HealthProbe;
  let pods: Pod[];
  let metricsUrl: string;

  before(async () => {
    stage = await Stage.open({ writeFiles: true, nodeFlags: (process.env['FUZZ_NODE_FLAGS'] ?? '').split(' ').filter(Boolean) });
    const v = stage.vault;
    for (const [path, data] of Object.entries(FUZZ_VAULT_DATA)) v.putKv('secret', path, data);
    await v.enablePki('pki');
    v.addPkiRole('pki', 'fuzz', { allowedDomains: ['fz.svc'], allowSubdomains: true, maxTtlSeconds: 86_400 });
    v.putPolicy('fuzz', 'path "secret/data/fz/*" { capabilities = ["read"] }\npath "pki/issue/fuzz" { capabilities = ["create", "update"] }');
    v.addKubernetesRole('kubernetes', 'fuzz', { boundServiceAccountNames: ['fuzz'], boundServiceAccountNamespaces: ['fuzz'], audience: 'vault', policies: ['fuzz'], ttlSeconds: 86_400 });
    pods = Array.from({ length: 5 }, (_, i) => podOf(FUZZ, `fuzz-${i}`));
    stage.prepare(pods);
    await stage.startDaemon();
    metricsUrl = stage.healthUrl.replace(/\/health\/ready$/, '/metrics');
    health = new HealthProbe(stage.healthUrl, { periodMs: 100 });
    health.start();
  });

  after(async () => {
    await health?.stop();
    await stage?.close();
  });

  /** What a daemon that died wrote to stderr (a V8 abort says why there). */
  function stderrTail(): string {
    const err = stage.daemon.err.join('').trim();
    return err === '' ? '' : `; its stderr ends: ${err.slice(-1500)}`;
  }

  async function chargedBytes(): Promise<number> {
    const text = await (await fetch(metricsUrl)).text();
    return samples(text, 'vault_csi_provider_memory_in_flight_bytes').get('') ?? NaN;
  }

  it('answers every case with files or a clear error, keeps serving within its bounds, writes nothing on failure', async () => {
    const outcomes = new Map<string, number>();
    const kinds = new Map<string, number>();
    const durations: number[] = [];
    const details: string[] = [];
    let n = 0;
    let peakCharged = 0;
    /** Mount time spent on cases with each feature (a case with several counts for each). */
    const kindMs = new Map<string, number>();

    let pid = stage.daemon.child.pid!;
    // VmHWM and RssAnon sampled all along (RssAnon is the memory the kernel cannot reclaim; the cgroup judges).
    let rss = new RssSampler(pid);
    rss.start(20);

    /** One case: its mount and what its answer must be. Throws naming the case. */
    const mountOne = async (c: HostileSpc): Promise<void> => {
      n += 1;
      const pod = pods[n % pods.length]!;
      const target = await stage.target(pod);
      const request = stage.request(pod, target, { role: 'fuzz', objects: c.objects, params: c.params });
      const started = performance.now();
      const where = (): string => `${c.kind} ${JSON.stringify(c.sizes)}`;
      try {
        await stage.client.mount(request, 30_000);
        outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
      } catch (err: unknown) {
        const e = err as { code?: number; details?: string };
        const text = e.details ?? String(err);
        details.push(text);
        const found = /^([A-Z][A-Z_]+): ./.exec(text)?.[1];
        assert.ok(stage.daemon.running && found !== undefined, `${where()}: the daemon died or dropped the call (${stage.daemon.child.signalCode ?? (stage.daemon.running ? 'running' : `exit ${String(stage.daemon.child.exitCode)}`)}): ${text.slice(0, 160)}${stderrTail()}`);
        assert.ok((ErrorCodes as readonly string[]).includes(found), `${where()}: not a catalog error: status ${String(e.code)} ${text.slice(0, 300)}`);
        const code = found as ErrorCode;
        assert.notEqual(code, 'INTERNAL', `${where()}: a bug: ${text.slice(0, 300)}`);
        assert.equal(e.code, grpcStatusFor(code), `${where()}: ${code} came with gRPC status ${String(e.code)}`);
        const written = await readdir(target);
        assert.deepEqual(written, [], `${where()}: a refused mount (${text.slice(0, 120)}) left ${written.slice(0, 5).join(', ')}`);
        outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
      } finally {
        for (const k of c.kind.split('+')) kindMs.set(k, (kindMs.get(k) ?? 0) + performance.now() - started);
        durations.push(performance.now() - started);
        kinds.set(c.kind.split('+')[0]!, (kinds.get(c.kind.split('+')[0]!) ?? 0) + 1);
      }
    };

    /**
     * A batch of cases mounted at once (as pods of one namespace start together), then what holds for the daemon
     * across them: still serving, readiness within HEALTH_MS all along, memory under the limit and within budget.
     */
    let batches = 0;
    const check = async (batch: readonly HostileSpc[]): Promise<void> => {
      batches += 1;
      const healthFrom = health.samples.length;
      const started = performance.now();
      // Every tenth batch, the charged bytes are read while its mounts hold them (every 50 ms until they answer).
      let inFlight = true;
      const sampling = batches % 10 === 0 ? sampleCharged(() => inFlight) : Promise.resolve();
      await Promise.all(batch.map(mountOne)).finally(() => (inFlight = false));
      await sampling;
      const which = batch.map((c) => c.kind).join(' | ');
      assert.ok(stage.daemon.running, `the daemon is not running after ${which}${stderrTail()}`);
      await health.settled();
      const stalls = health.samples.slice(healthFrom).filter((x) => x.status !== 200 || x.ms > HEALTH_MS);
      assert.deepEqual(stalls.map((x) => `${x.status === 0 ? x.error ?? 'no answer' : `HTTP ${x.status}`} after ${Math.round(x.ms)} ms`), [], `readiness stalled during ${which} (the batch took ${Math.round(performance.now() - started)} ms)`);
      await rss.sample();
      const memory = stage.memoryViolation(rss.peak);
      assert.equal(memory, undefined, `${memory ?? ''} after ${which}`);
      assert.ok(peakCharged <= DEFAULT_NODE_MEMORY_BUDGET, `${peakCharged} bytes charged, over --memory-budget`);
    };
    const sampleCharged = async (running: () => boolean): Promise<void> => {
      while (running()) {
        peakCharged = Math.max(peakCharged, await chargedBytes().catch(() => 0));
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // FUZZ_SURVEY=1: go on after a broken batch (a new daemon after a crash or a memory high-water mark over the
    // limit) and count what broke, by the kind of case: a picture of where the daemon stands, not a test.
    const survey = process.env['FUZZ_SURVEY'] === '1';
    const broken = new Map<string, number>();
    const property = fc.asyncProperty(fc.array(hostileSpcArb, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
      if (!survey) return check(batch);
      try {
        await check(batch);
      } catch (err: unknown) {
        const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.replace(/\{[^}]*\}/g, '').replace(/\d+/g, 'N').slice(0, 110);
        broken.set(reason, (broken.get(reason) ?? 0) + 1);
        if (!stage.daemon.running || /peak RSS|OOM-killed/.test(reason)) {
          await health.stop();
          await stage.restartDaemon();
          pid = stage.daemon.child.pid!;
          rss.stop();
          rss = new RssSampler(pid);
          rss.start(20);
          metricsUrl = stage.healthUrl.replace(/\/health\/ready$/, '/metrics');
          health = new HealthProbe(stage.healthUrl, { periodMs: 100 });
          health.start();
        }
      }
    });

    const seed = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);
    const runs = Math.ceil(fuzzRuns(40, 10 / 3) / BATCH);
    const started = performance.now();
    const result = await fc.check(property, { numRuns: runs, endOnFailure: true, ...(seed === undefined ? {} : { seed }) });
    const seconds = (performance.now() - started) / 1000;
    rss.stop();
    // A last reading, unless the daemon is gone (its last figures stand).
    await rss.sample().catch(() => 0);
    const cpu = `CPU: daemon ${(await cpuSeconds(pid).catch(() => NaN)).toFixed(0)} s, this process ${(process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6).toFixed(0)} s`;
    const summary = `${n} cases in ${seconds.toFixed(0)} s (mount ${describeFigures(figures(durations))}), readiness ${describeFigures(figures(health.samples.map((s) => s.ms)))}, peak RSS ${(rss.peak / MiB).toFixed(1)} MiB (RssAnon ${(rss.anonPeak / MiB).toFixed(1)} MiB; ${stage.memoryFigures()}), peak charged ${(peakCharged / MiB).toFixed(1)} MiB; ${cpu}`;
    if (process.env['FUZZ_RUNS'] !== undefined) console.log(summary, Object.fromEntries(outcomes), Object.fromEntries(kinds));
    if (survey) {
      console.log('mount seconds by feature', Object.fromEntries([...kindMs].sort((a, b) => b[1] - a[1]).map(([k, ms]) => [k, Math.round(ms / 1000)])));
      console.log(`broken: ${[...broken.values()].reduce((a, b) => a + b, 0)} of ${n}`);
      for (const [key, count] of [...broken].sort((a, b) => b[1] - a[1])) console.log(`  ${count}× ${key}`);
      return;
    }
    if (result.failed) {
      const batch = result.counterexample?.[0] ?? [];
      const what = batch.map((c) => `(${c.kind}; ${JSON.stringify(c.sizes)}; params ${Object.keys(c.params).join(',') || 'none'}; objects ${JSON.stringify(c.objects.slice(0, 100))}…)`).join('\n  ');
      const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      // The whole batch, to replay it alone (test/fuzz/replay.slow.ts).
      const saved = join(tmpdir(), `vcp-fuzz-batch-${String(result.seed)}.json`);
      await writeFile(saved, JSON.stringify(batch));
      const reason = error.replace(/\nexpected[\s\S]*$/, '').slice(0, 3000);
      assert.fail(`batch ${batches} (cases ${n - batch.length + 1}–${n}) broke the property (FUZZ_SEED=${result.seed} replays the run; the batch is in ${saved}): ${reason}\n  ${what}\n${summary}`);
    }
    assert.equal(batches, runs);
    // Every byte charged came back, once the last answers have been sent.
    for (let i = 0; i < 100 && (await chargedBytes()) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await chargedBytes(), 0, 'bytes still charged after every mount answered');
    assert.ok((outcomes.get('ok') ?? 0) > 0 && outcomes.size > 1, `too few outcomes: ${JSON.stringify([...outcomes])}`);
    assertNoLeaks('error message', details, [PLANTED_SECRET]);
    assertNoLeaks('log line', stage.output(), [PLANTED_SECRET]);
  });
});
