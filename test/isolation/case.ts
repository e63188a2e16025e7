/**
 * One isolation case: the attacker namespace's hostile mounts and the victim namespace's ordinary ones at the same
 * time, against a daemon of its own, and the invariants of issue 19's property checked on what was observed:
 *
 * - the victim's mounts all succeed, with its values, and complete within VICTIM_P99_MS at p99 (client side);
 * - `GET /health/ready` answers 200 within HEALTH_MS, every time it is polled;
 * - the daemon never exits (the process that served the first mount serves the last);
 * - it keeps within the DaemonSet's memory limit (deploy/base/daemonset.yaml): run in a memory cgroup at that limit,
 *   the kernel never OOM-kills it (where no cgroup can be made, its VmHWM stays under the limit);
 * - the attacker gets a clear error: a catalog code, the gRPC status the case expects, the object named (its
 *   objectName in double quotes, or `objects` when the cap is on the list) and, for a cap, the flag that sets it
 *   (`--flag-name`); for the classes answered by fairness, success is as good as a clear error;
 * - nothing is written for a refused mount (with --write-files its target directory stays empty; without, a gRPC
 *   error carries no files).
 *
 * Violations are collected, not thrown one by one, so that a failing case says everything that went wrong, with the
 * figures (victim p50/p99/max, health max, peak RSS) in its report line.
 */
import { readdir } from 'node:fs/promises';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';
import { RssSampler } from '../helpers/memory-pressure.js';
import { describeFigures, figures, grpcFailure, HealthProbe, VictimLoop, type Figures } from './probes.js';
import { Stage, type Pod, type StageOptions } from './stage.js';

/** The issue's bound on another namespace's mount under attack. */
export const VICTIM_P99_MS = 2_000;
/** The issue's bound on the readiness endpoint (the DaemonSet's probes time out at 3 s). */
export const HEALTH_MS = 1_000;

const MiB = 1024 * 1024;

export interface AttackOutcome {
  readonly what: string;
  readonly ms: number;
  readonly response?: MountResponse__Output;
  /** gRPC status when the mount failed. */
  readonly code?: number;
  readonly details?: string;
  /** Entries left in the mount's target directory afterwards. */
  readonly written: readonly string[];
}

export interface AttackMount {
  readonly role?: string;
  readonly objects: string | ReadonlyArray<Record<string, unknown>>;
  readonly params?: Readonly<Record<string, string>>;
  readonly secrets?: Readonly<Record<string, string>>;
  readonly deadlineMs?: number;
  /** How the outcome is named in the report (default: the case's). */
  readonly what?: string;
}

/** The attacker's side: its mounts, sent and recorded. */
export class Attacker {
  readonly outcomes: AttackOutcome[] = [];

  constructor(
    readonly stage: Stage,
    readonly tenantRole: string,
  ) {}

  async mount(pod: Pod, m: AttackMount): Promise<AttackOutcome> {
    const target = await this.stage.target(pod);
    const request = this.stage.request(pod, target, { role: m.role ?? this.tenantRole, objects: m.objects, ...(m.params === undefined ? {} : { params: m.params }), ...(m.secrets === undefined ? {} : { secrets: m.secrets }) });
    const started = performance.now();
    let outcome: AttackOutcome;
    try {
      const response = await this.stage.client.mount(request, m.deadlineMs ?? 20_000);
      outcome = { what: m.what ?? 'mount', ms: performance.now() - started, response, written: await entries(target) };
    } catch (err: unknown) {
      const e = err as { code?: number; details?: string };
      outcome = { what: m.what ?? 'mount', ms: performance.now() - started, ...(typeof e.code === 'number' ? { code: e.code } : {}), details: e.details ?? grpcFailure(err), written: await entries(target) };
    }
    this.outcomes.push(outcome);
    return outcome;
  }

  /** `one(item)` for every item, on `concurrency` lanes. */
  async each<T>(items: readonly T[], concurrency: number, one: (item: T) => Promise<unknown>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < items.length) await one(items[next++]!);
      }),
    );
  }

  /** Runs `one(i)` back to back on `concurrency` lanes until `ms` have passed (mounts already started finish). */
  async loop(ms: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<void> {
    const until = performance.now() + ms;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) await one(next++);
      }),
    );
  }
}

async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** One shape a refused attacker mount may have. */
export interface ClearError {
  /** gRPC statuses that fit (e.g. INVALID_ARGUMENT for an author-input cap, RESOURCE_EXHAUSTED for a budget). */
  readonly statuses: readonly grpcStatus[];
  /**
   * What the message must name: objectNames (one of them, in double quotes), `objects` when the cap is on the list,
   * or a pattern (a parameter, an auth mount).
   */
  readonly names: string | readonly string[] | RegExp;
  /** A cap: the message names the flag that sets it (`--flag-name`). */
  readonly cap: boolean;
}

export type AttackerExpectation =
  | { readonly kind: 'clear-error'; readonly errors: readonly ClearError[] }
  /** Classes answered by fairness (or where a cap's default may let the mount through): success or a clear error. */
  | { readonly kind: 'success-or-clear-error'; readonly errors: readonly ClearError[] }
  /** Every attacker mount must succeed (class 12: a node restart is served, not refused). */
  | { readonly kind: 'success' };

function named(details: string, names: ClearError['names']): boolean {
  if (names instanceof RegExp) return names.test(details);
  const list = typeof names === 'string' ? [names] : names;
  // `objects` as the parameter, not inside a flag's name (--max-objects).
  return list.some((n) => (n === 'objects' ? /(?<![\w-])objects\b/.test(details) : details.includes(`"${n}"`)));
}

function describeNames(names: ClearError['names']): string {
  if (names instanceof RegExp) return String(names);
  return (typeof names === 'string' ? [names] : names).map((n) => (n === 'objects' ? 'the objects parameter' : `object "${n}"`)).join(' or ');
}

/** What is wrong with a failure's message against one shape ([] when it fits). */
function problemsWith(o: AttackOutcome, shape: ClearError): string[] {
  const details = o.details ?? '';
  const problems: string[] = [];
  const code = /^([A-Z][A-Z_]+): /.exec(details)?.[1];
  if (o.code === undefined || !shape.statuses.includes(o.code)) {
    problems.push(`status ${o.code === undefined ? 'none' : grpcStatus[o.code]}, expected ${shape.statuses.map((s) => grpcStatus[s]).join(' or ')}`);
  }
  if (code === undefined) problems.push('no catalog code in front of the message');
  if (code === 'INTERNAL') problems.push('INTERNAL');
  if (!named(details, shape.names)) problems.push(`does not name ${describeNames(shape.names)}`);
  if (shape.cap && !/(^|[\s(])--[a-z][a-z0-9-]+/.test(details)) problems.push('names no --flag');
  return problems;
}

/** Why this outcome breaks the expectation, or undefined. */
export function attackerViolation(o: AttackOutcome, expected: AttackerExpectation): string | undefined {
  if (o.response !== undefined) {
    return expected.kind === 'clear-error' ? `${o.what}: succeeded (${o.response.files.length} files) where a clear error was due` : undefined;
  }
  const details = o.details ?? '';
  const written = o.written.length > 0 ? [`a refused mount left ${o.written.slice(0, 5).join(', ')} in its target`] : [];
  let problems: string[];
  if (expected.kind === 'success') {
    problems = ['failed where it had to succeed'];
  } else {
    // The shape it comes closest to.
    problems = expected.errors.map((shape) => problemsWith(o, shape)).sort((a, b) => a.length - b.length)[0] ?? [];
  }
  if (problems.length === 0 && written.length === 0) return undefined;
  return `${o.what}: ${[...problems, ...written].join(', ')} — ${JSON.stringify(details.slice(0, 240))}`;
}

export interface IsolationCase {
  /** The class of issue 19 (1–12), or a letter for an attack found while building the suite. */
  readonly id: string;
  readonly title: string;
  readonly stage?: StageOptions;
  /** The attacker's role (default ATTACKER.role). */
  readonly attackerRole?: string;
  /** Extra Vault set-up before the daemon starts. */
  setup?(stage: Stage): Promise<void> | void;
  /** The hostile mounts, bounded: it must return once its mounts have answered (each has a deadline). */
  attack(stage: Stage, attacker: Attacker): Promise<void>;
  readonly attacker: AttackerExpectation;
  /** Case-specific violations, after the attack (e.g. another team's secret never returned). */
  check?(stage: Stage, attacker: Attacker): Promise<string[]> | string[];
  /** The victim loop's mount deadline (default 10 s). */
  readonly victimDeadlineMs?: number;
}

export interface CaseReport {
  readonly id: string;
  readonly title: string;
  readonly durationMs: number;
  readonly victim: Figures;
  readonly victimFailures: readonly string[];
  readonly health: Figures;
  readonly healthFailures: readonly string[];
  readonly rssPeakBytes: number;
  readonly rssLimitBytes: number;
  /** The memory cgroup's peak and limit hits (or why there was none). */
  readonly cgroup: string;
  /** How the daemon ended during the case, if it did (`exit 1`, `signal SIGABRT`), with when. */
  readonly exit: string | undefined;
  readonly attacker: readonly string[];
  readonly attackerMs: Figures;
  readonly violations: readonly string[];
}

/** A cap on a whole case's attack: the attacks bound themselves, so reaching it means a mount hung past its deadline. */
const ATTACK_CAP_MS = 90_000;

export async function runCase(c: IsolationCase): Promise<CaseReport> {
  const started = performance.now();
  const stage = await Stage.open(c.stage);
  try {
    await c.setup?.(stage);
    await stage.startDaemon();
    const pid = stage.daemon.child.pid!;
    let exit: string | undefined;
    void stage.daemon.exited.then((code) => {
      const signal = stage.daemon.child.signalCode;
      exit = `${signal === null ? `exit ${code}` : `signal ${signal}`} at +${Math.round(performance.now() - started)} ms`;
    });
    const rss = new RssSampler(pid);
    rss.start(20);
    const victim = new VictimLoop(stage, { deadlineMs: c.victimDeadlineMs ?? 10_000 });
    await victim.warmUp();
    const health = new HealthProbe(stage.healthUrl);
    health.start();
    victim.start();
    await sleep(300);
    const attacker = new Attacker(stage, c.attackerRole ?? 'attacker');
    const violations: string[] = [];
    let capTimer: NodeJS.Timeout | undefined;
    const capped = await Promise.race([
      c.attack(stage, attacker).then(() => false),
      new Promise<boolean>((r) => (capTimer = setTimeout(() => r(true), ATTACK_CAP_MS))),
    ]);
    clearTimeout(capTimer);
    if (capped) violations.push(`the attack did not end within ${ATTACK_CAP_MS / 1000} s although every mount has a deadline`);
    await sleep(1_000);
    await Promise.all([victim.stop(), health.stop()]);
    await rss.sample().catch(() => undefined);
    rss.stop();

    const victimFigures = figures(victim.samples.map((s) => s.ms));
    const victimFailures = victim.samples.filter((s) => s.failure !== undefined).map((s) => `+${Math.round(s.at)} ms: ${s.failure!}`);
    const healthFigures = figures(health.samples.map((s) => s.ms));
    const healthFailures = health.samples
      .filter((s) => s.status !== 200 || s.ms > HEALTH_MS)
      .map((s) => `+${Math.round(s.at)} ms: ${s.status === 0 ? `no answer (${s.error ?? ''})` : `HTTP ${s.status}`} after ${Math.round(s.ms)} ms`);

    if (victimFailures.length > 0) violations.push(`${victimFailures.length} of ${victim.samples.length} victim mounts failed, first: ${victimFailures[0]!}`);
    if (victimFigures.n < 3) violations.push(`only ${victimFigures.n} victim mounts completed`);
    else if (!(victimFigures.p99 <= VICTIM_P99_MS)) violations.push(`victim p99 ${Math.round(victimFigures.p99)} ms > ${VICTIM_P99_MS} ms`);
    if (healthFailures.length > 0) violations.push(`${healthFailures.length} of ${health.samples.length} readiness polls failed or took over ${HEALTH_MS} ms, first: ${healthFailures[0]!}`);
    if (healthFigures.n < 3) violations.push(`only ${healthFigures.n} readiness polls`);
    if (exit !== undefined || !stage.daemon.running) violations.push(`the daemon died: ${exit ?? 'not running'}`);
    const memory = stage.memoryViolation(rss.peak);
    if (memory !== undefined) violations.push(memory);
    if (attacker.outcomes.length === 0) violations.push('the attacker sent nothing');
    const attackerViolations = attacker.outcomes.map((o) => attackerViolation(o, c.attacker)).filter((v): v is string => v !== undefined);
    if (attackerViolations.length > 0) violations.push(`${attackerViolations.length} of ${attacker.outcomes.length} attacker outcomes unclear, first: ${attackerViolations[0]!}`);
    violations.push(...(await c.check?.(stage, attacker) ?? []));

    return {
      id: c.id,
      title: c.title,
      durationMs: performance.now() - started,
      victim: victimFigures,
      victimFailures,
      health: healthFigures,
      healthFailures,
      rssPeakBytes: rss.peak,
      rssLimitBytes: stage.memoryLimitBytes,
      cgroup: `RssAnon peak ${(rss.anonPeak / MiB).toFixed(1)} MiB, ${stage.memoryFigures()}`,
      exit,
      attacker: summarize(attacker.outcomes),
      attackerMs: figures(attacker.outcomes.map((o) => o.ms)),
      violations,
    };
  } finally {
    await stage.close();
  }
}

/** The attacker's outcomes, grouped: `3× ok`, `12× RESOURCE_EXHAUSTED MOUNT_TOO_LARGE: object "x" …`. */
function summarize(outcomes: readonly AttackOutcome[]): string[] {
  const groups = new Map<string, number>();
  for (const o of outcomes) {
    const key = o.response !== undefined ? `${o.what}: ok` : `${o.what}: ${o.code === undefined ? '?' : grpcStatus[o.code]} ${(o.details ?? '').replace(/\d+(\.\d+)?/g, 'N').slice(0, 160)}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([k, n]) => `${n}× ${k}`);
}

export function formatReport(r: CaseReport): string {
  const lines = [
    `[class ${r.id}] ${r.title}: ${r.violations.length === 0 ? 'PASS' : 'FAIL'} in ${(r.durationMs / 1000).toFixed(1)} s`,
    `  victim mounts ${describeFigures(r.victim)}, failures ${r.victimFailures.length}`,
    `  /health/ready ${describeFigures(r.health)}, failures ${r.healthFailures.length}`,
    `  peak RSS ${(r.rssPeakBytes / MiB).toFixed(1)} MiB of ${(r.rssLimitBytes / MiB).toFixed(0)} MiB (${r.cgroup}); daemon ${r.exit === undefined ? 'kept running' : `ended: ${r.exit}`}`,
    `  attacker ${describeFigures(r.attackerMs)}: ${r.attacker.slice(0, 4).join(' | ')}`,
    ...r.violations.map((v) => `  ✗ ${v}`),
  ];
  return lines.join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
