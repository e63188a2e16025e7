/**
 * Exponential backoff with full jitter, bounded by the caller's deadline. Which failures are retried is decided by
 * the caller from `classifyFailure`: idempotent requests on any transient failure, writes (a PKI issue mints a
 * certificate) only when the request never reached Vault.
 */
import { ProviderError } from '../errors.js';
import { describeBudget, expiredBudget } from '../admission/time-budget.js';
import type { ClassifiedFailure } from './failures.js';
import type { Clock } from '../shared/clock.js';

export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** The four waits add up to at most 3 s, about a Vault leader election; a 5%-failing Vault fails one read in 3 million. */
export const defaultRetryPolicy: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 2_000 };

export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterSeconds: number | undefined, random: () => number): number {
  if (retryAfterSeconds !== undefined) return Math.min(retryAfterSeconds * 1000, policy.maxDelayMs * 2);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  readonly sleep: Clock['sleep'];
  readonly signal: AbortSignal | undefined;
  readonly random?: () => number;
  /** Whether this request may be sent again after this failure. */
  readonly retryable: (failure: ClassifiedFailure) => boolean;
  readonly classify: (err: unknown) => ClassifiedFailure;
  readonly onRetry?: (failure: ClassifiedFailure, attempt: number, delayMs: number) => void;
}

export async function withRetries<T>(run: () => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err: unknown) {
      const failure = options.classify(err);
      const last = attempt + 1 >= options.policy.attempts;
      if (last || !options.retryable(failure) || options.signal?.aborted === true) throw failure.error;
      const delay = backoffDelay(options.policy, attempt, failure.retryAfterSeconds, random);
      options.onRetry?.(failure, attempt + 1, delay);
      try {
        await options.sleep(delay, options.signal);
      } catch {
        // The mount's time budget ran out during the backoff: the last failure is the answer (it names the Vault
        // address and request), said before the caller's deadline. Anything else cut the wait: the caller left.
        const expired = expiredBudget(options.signal);
        if (expired !== undefined) {
          throw new ProviderError(
            'VAULT_UNAVAILABLE',
            `${failure.error.message}; the mount's time budget of ${describeBudget(expired.budget)} ran out before attempt ${attempt + 2}, the driver retries the mount`,
            failure.error.context,
          );
        }
        throw new ProviderError('DEADLINE_EXCEEDED', `the caller's deadline passed while retrying: ${failure.error.message}`, failure.error.context);
      }
    }
  }
}
