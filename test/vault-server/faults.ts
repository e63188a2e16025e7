// Fault injection: make matching requests fail, stall or drop their connection, so retry,
// timeout and error-mapping code in the provider can be exercised deterministically.
import { multiError } from './vault-errors.js';

export interface FaultSpec {
  /** HTTP method to match (case-insensitive); any when absent. */
  readonly method?: string;
  /**
   * Prefix of the path to match, with or without `/v1/` (`auth/kubernetes/login`, `/v1/secret/`).
   * Compared with the path as sent and with the namespace-relative path.
   */
  readonly pathPrefix?: string;
  /** Only requests resolved to this namespace. */
  readonly namespace?: string;
  /** Respond with this status instead of handling the request. */
  readonly status?: number;
  /** Response body: objects are sent as JSON, strings verbatim; default is a Vault-style error. */
  readonly body?: unknown;
  /**
   * Answer `{"errors": ["<the request's JSON body>"]}` instead of `body`, as a proxy or plugin that echoes what it got:
   * a login's password or JWT comes back in the error.
   */
  readonly echoBody?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait before answering (or before handling normally when no status is given). */
  readonly delayMs?: number;
  /**
   * Hold the request until this settles (after delayMs, if any), then answer as the rest of the spec says, or
   * handle it normally. In-process only: a slow path whose requests the test lets go when it has counted what it
   * needs (what else was served meanwhile), with no time passing.
   */
  readonly until?: Promise<unknown>;
  /** Destroy the socket without a response. */
  readonly resetConnection?: boolean;
  /** How many matching requests to affect; forever when absent. */
  readonly times?: number;
  /**
   * Affect only every n-th matching request (the n-th, 2n-th, …), e.g. 20 for a steady 5% of failures; the others
   * proceed. Deterministic, so tests can count what was affected.
   */
  readonly everyNth?: number;
  /**
   * Affect only the matching requests beyond a rate: a token bucket of `perSecond` with `burst` at once (Vault's
   * rate-limit quotas answer 429 with Retry-After past their rate). Requests within the rate proceed.
   */
  readonly overRate?: { readonly perSecond: number; readonly burst: number };
}

export interface FaultHandle {
  readonly id: number;
  /** Requests this fault has affected so far. */
  readonly hits: number;
  remove(): void;
}

interface ActiveFault {
  readonly id: number;
  readonly spec: FaultSpec;
  remaining: number;
  hits: number;
  /** Matching requests seen, affected or not (for everyNth). */
  seen: number;
  /** overRate's bucket. */
  tokens: number;
  refilledAt: number;
}

function normalizePrefix(p: string): string {
  return p.replace(/^\/+/, '').replace(/^v1\//, '');
}

const DEFAULT_ERRORS: Record<number, string[]> = {
  400: ['invalid request'],
  403: [multiError(['permission denied'])],
  404: [],
  412: ['required index state not present'],
  429: ['rate limit quota exceeded'],
  500: [multiError(['internal error'])],
  502: ['bad gateway'],
  503: ['Vault is sealed'],
};

export function defaultFaultBody(status: number): unknown {
  return { errors: DEFAULT_ERRORS[status] ?? [`injected fault (HTTP ${status})`] };
}

export class FaultInjector {
  private readonly faults: ActiveFault[] = [];
  private nextId = 1;

  /** `now` in ms drives overRate buckets (real time by default: the provider's own rate limit runs on it too). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  add(spec: FaultSpec): FaultHandle {
    if (spec.status === undefined && spec.delayMs === undefined && spec.until === undefined && !spec.resetConnection) {
      throw new Error('a fault needs status, delayMs, until or resetConnection');
    }
    if (spec.everyNth !== undefined && (!Number.isInteger(spec.everyNth) || spec.everyNth < 1)) throw new Error('everyNth must be a positive integer');
    if (spec.overRate !== undefined && !(spec.overRate.perSecond > 0 && spec.overRate.burst >= 1)) throw new Error('overRate needs perSecond > 0 and burst >= 1');
    const fault: ActiveFault = {
      id: this.nextId++, spec, remaining: spec.times ?? Number.POSITIVE_INFINITY, hits: 0, seen: 0,
      tokens: spec.overRate?.burst ?? 0, refilledAt: this.now(),
    };
    this.faults.push(fault);
    return {
      id: fault.id,
      get hits() { return fault.hits; },
      remove: () => this.remove(fault.id),
    };
  }

  remove(id: number): void {
    const i = this.faults.findIndex((f) => f.id === id);
    if (i >= 0) this.faults.splice(i, 1);
  }

  clear(): void {
    this.faults.length = 0;
  }

  private withinRate(fault: ActiveFault, rate: NonNullable<FaultSpec['overRate']>): boolean {
    const now = this.now();
    fault.tokens = Math.min(rate.burst, fault.tokens + ((now - fault.refilledAt) * rate.perSecond) / 1000);
    fault.refilledAt = now;
    if (fault.tokens < 1) return false;
    fault.tokens -= 1;
    return true;
  }

  /** First matching fault, consuming one of its uses; undefined when the request should proceed. */
  take(method: string, rawRoute: string, route: string, namespace: string): FaultSpec | undefined {
    for (const fault of this.faults) {
      const { spec } = fault;
      if (spec.method && spec.method.toUpperCase() !== method.toUpperCase()) continue;
      if (spec.namespace !== undefined && spec.namespace.replace(/^\/+|\/+$/g, '') !== namespace) continue;
      if (spec.pathPrefix !== undefined) {
        const prefix = normalizePrefix(spec.pathPrefix);
        if (!rawRoute.startsWith(prefix) && !route.startsWith(prefix)) continue;
      }
      fault.seen++;
      if (spec.everyNth !== undefined && fault.seen % spec.everyNth !== 0) continue;
      if (spec.overRate !== undefined && this.withinRate(fault, spec.overRate)) continue;
      fault.hits++;
      fault.remaining--;
      if (fault.remaining <= 0) this.remove(fault.id);
      return spec;
    }
    return undefined;
  }
}
