/**
 * What the isolation suite watches while an attack runs: the victim namespace's ordinary mounts (timed from the
 * client side, their files checked), the readiness endpoint (polled), and the summary figures (p50/p99/max).
 * Everything here runs in the test process, next to the fake Vault: it signs no JWT and does no heavy work while it
 * measures, so what it reports is the daemon's delay, not its own.
 */
import type { ServiceError } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { podOf, VICTIM, VICTIM_FILES, VICTIM_OBJECTS, type Pod, type Stage } from './stage.js';

export interface Figures {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles (with fewer than 100 samples p99 is the maximum: generous to nobody). */
export function figures(values: readonly number[]): Figures {
  if (values.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return { n: sorted.length, p50: rank(50), p99: rank(99), max: sorted[sorted.length - 1]! };
}

export function describeFigures(f: Figures, unit = 'ms'): string {
  return f.n === 0 ? 'n=0' : `n=${f.n} p50=${Math.round(f.p50)}${unit} p99=${Math.round(f.p99)}${unit} max=${Math.round(f.max)}${unit}`;
}

export interface VictimSample {
  /** ms since the probe started. */
  readonly at: number;
  readonly ms: number;
  /** undefined when the mount succeeded and its files held the victim's values. */
  readonly failure?: string;
}

export function grpcFailure(err: unknown): string {
  const e = err as Partial<ServiceError>;
  if (typeof e.code === 'number') return `${grpcStatus[e.code] ?? e.code}: ${String(e.details ?? '').slice(0, 300)}`;
  return String(err).slice(0, 300);
}

/**
 * The victim namespace's ordinary mounts, throughout the attack: `lanes` sequential loops, each mounting the two KV
 * objects of VICTIM_OBJECTS for one of a few running pods (a republish: the token is cached) and, every fourth time,
 * for a new pod (a first mount: a login). Every mount must succeed with the victim's values.
 */
export class VictimLoop {
  readonly samples: VictimSample[] = [];
  readonly #stage: Stage;
  readonly #lanes: number;
  readonly #pauseMs: number;
  readonly #deadlineMs: number;
  readonly #pods: Pod[];
  #newPods = 0;
  #running = false;
  #loops: Promise<void>[] = [];
  #t0 = 0;

  constructor(stage: Stage, options: { lanes?: number; pauseMs?: number; deadlineMs?: number; newPods?: number } = {}) {
    this.#stage = stage;
    this.#lanes = options.lanes ?? 2;
    this.#pauseMs = options.pauseMs ?? 50;
    this.#deadlineMs = options.deadlineMs ?? 10_000;
    this.#pods = Array.from({ length: 4 + (options.newPods ?? 400) }, (_, i) => podOf(VICTIM, `victim-${i}`));
    stage.prepare(this.#pods);
  }

  /** One mount, timed and checked; returns its failure, if any. */
  async once(pod: Pod): Promise<VictimSample> {
    const stage = this.#stage;
    const target = await stage.target(pod);
    const request = stage.request(pod, target, { role: VICTIM.role, objects: VICTIM_OBJECTS });
    const started = performance.now();
    let failure: string | undefined;
    try {
      const res = await stage.client.mount(request, this.#deadlineMs);
      const ms = performance.now() - started;
      for (const [name, value] of Object.entries(VICTIM_FILES)) {
        const got = stage.options.writeFiles === true ? await stage.readFileIn(target, name) : res.files.find((f) => f.path === name)?.contents.toString();
        if (got !== value) failure = `file ${name} holds ${JSON.stringify(got?.slice(0, 40))}`;
      }
      return { at: started - this.#t0, ms, ...(failure === undefined ? {} : { failure }) };
    } catch (err: unknown) {
      return { at: started - this.#t0, ms: performance.now() - started, failure: grpcFailure(err) };
    }
  }

  #nextPod(lane: number, i: number): Pod {
    if (i % 4 === 3 && this.#newPods < this.#pods.length - 4) return this.#pods[4 + this.#newPods++]!;
    return this.#pods[(lane + i) % 4]!;
  }

  /** A few mounts before measuring: every running pod logged in, the daemon's code warm. */
  async warmUp(): Promise<void> {
    this.#t0 = performance.now();
    for (const pod of this.#pods.slice(0, 4)) {
      const s = await this.once(pod);
      if (s.failure !== undefined) throw new Error(`the victim's mount fails before any attack: ${s.failure}`);
    }
  }

  start(): void {
    this.#running = true;
    this.#t0 = performance.now();
    this.#loops = Array.from({ length: this.#lanes }, async (_, lane) => {
      for (let i = 0; this.#running; i++) {
        this.samples.push(await this.once(this.#nextPod(lane, i)));
        await new Promise((r) => setTimeout(r, this.#pauseMs));
      }
    });
  }

  /** Stops starting mounts and waits for the ones in flight (each bounded by its deadline). */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

export interface HealthSample {
  readonly at: number;
  readonly ms: number;
  /** HTTP status, or 0 when no answer came. */
  readonly status: number;
  readonly error?: string;
}

/** GET /health/ready every `periodMs` (the kubelet's probe, more often), each waiting up to `timeoutMs`. */
export class HealthProbe {
  readonly samples: HealthSample[] = [];
  readonly #url: string;
  readonly #periodMs: number;
  readonly #timeoutMs: number;
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  #inFlight: Promise<void> = Promise.resolve();

  constructor(url: string, options: { periodMs?: number; timeoutMs?: number } = {}) {
    this.#url = url;
    this.#periodMs = options.periodMs ?? 200;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  start(): void {
    this.#running = true;
    const t0 = performance.now();
    this.#loop = (async () => {
      while (this.#running) {
        this.#inFlight = this.#poll(t0);
        await this.#inFlight;
        await new Promise((r) => setTimeout(r, this.#periodMs));
      }
    })();
  }

  async #poll(t0: number): Promise<void> {
    const started = performance.now();
    try {
      const res = await fetch(this.#url, { signal: AbortSignal.timeout(this.#timeoutMs) });
      await res.arrayBuffer();
      this.samples.push({ at: started - t0, ms: performance.now() - started, status: res.status });
    } catch (err: unknown) {
      this.samples.push({ at: started - t0, ms: performance.now() - started, status: 0, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Resolves once the poll in flight (if any) has its answer, so that a stall is counted where it happened. */
  settled(): Promise<void> {
    return this.#inFlight;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}
