/**
 * A mount that runs into the kubelet's deadline answers nothing, and the pod's events name neither Vault nor the
 * object. So a mount's budget ends a margin before that deadline, and the provider answers itself. Pure.
 */
import { ProviderError } from '../errors.js';

/** The budget of a mount whose caller sets no deadline: under the kubelet's 2 minutes, with the same margin. */
export const DEFAULT_MOUNT_TIME_BUDGET_MS = 110_000;

/** The margin before the caller's deadline: a tenth of the time it gave, at most this. */
export const MAX_DEADLINE_MARGIN_MS = 5_000;

export interface MountTimeBudget {
  /** When the budget runs out, on the caller's clock. */
  readonly endsAt: number;
  /** Its length from `now`, never negative. */
  readonly budgetMs: number;
  /** Where it comes from: the caller's deadline (less the margin), or the default. */
  readonly source: 'caller-deadline' | 'default';
}

/** The margin is a tenth of the time the caller gave, at most MAX_DEADLINE_MARGIN_MS (2 min → answered by 1 min 55 s). */
export function mountTimeBudget(now: number, deadline: number | undefined, defaultMs: number = DEFAULT_MOUNT_TIME_BUDGET_MS): MountTimeBudget {
  if (deadline === undefined || !Number.isFinite(deadline)) {
    return { endsAt: now + defaultMs, budgetMs: defaultMs, source: 'default' };
  }
  const given = Math.max(0, deadline - now);
  const margin = Math.min(MAX_DEADLINE_MARGIN_MS, given / 10);
  const budgetMs = Math.floor(given - margin);
  return { endsAt: now + budgetMs, budgetMs, source: 'caller-deadline' };
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** What a budget is, for messages: `115 s (the caller's deadline less a margin)`. */
export function describeBudget(budget: Pick<MountTimeBudget, 'budgetMs' | 'source'>): string {
  return `${seconds(budget.budgetMs)} (${budget.source === 'default' ? 'the default, as the caller set no deadline' : "the caller's deadline less a margin"})`;
}

/** A ProviderError, so a wait that ends with it still answers with a catalog error (named by the client, then the mount). */
export class TimeBudgetExpired extends ProviderError {
  readonly budget: Pick<MountTimeBudget, 'budgetMs' | 'source'>;

  constructor(budget: Pick<MountTimeBudget, 'budgetMs' | 'source'>) {
    super('VAULT_UNAVAILABLE', `the mount's time budget of ${describeBudget(budget)} ran out; the driver retries the mount`);
    this.budget = budget;
  }
}

/** The expired budget `signal` was aborted with, if that is why it aborted. */
export function expiredBudget(signal: AbortSignal | undefined): TimeBudgetExpired | undefined {
  if (signal?.aborted !== true) return undefined;
  const reason: unknown = signal.reason;
  return reason instanceof TimeBudgetExpired ? reason : undefined;
}
