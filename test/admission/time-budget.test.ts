/** The mount's time budget, on an injected clock: no test here waits for any of the times it checks. */
import assert from 'node:assert/strict';
import { DEFAULT_MOUNT_TIME_BUDGET_MS, describeBudget, expiredBudget, MAX_DEADLINE_MARGIN_MS, mountTimeBudget, TimeBudgetExpired } from '../../src/admission/time-budget.js';
import { grpcStatusFor } from '../../src/errors.js';
import { status } from '@grpc/grpc-js';

const T0 = 1_800_000_000_000;

describe('admission/time-budget', () => {
  it("ends the budget 5 s before the kubelet's 2-minute deadline", () => {
    const budget = mountTimeBudget(T0, T0 + 120_000);
    assert.deepEqual(budget, { endsAt: T0 + 115_000, budgetMs: 115_000, source: 'caller-deadline' });
    assert.equal(MAX_DEADLINE_MARGIN_MS, 5_000);
  });

  it('keeps a tenth of a short deadline as the margin', () => {
    assert.equal(mountTimeBudget(T0, T0 + 1_000).budgetMs, 900);
    assert.equal(mountTimeBudget(T0, T0 + 30_000).budgetMs, 27_000);
    // Past or at the deadline already: nothing left, the mount answers at once.
    assert.equal(mountTimeBudget(T0, T0 - 50).budgetMs, 0);
  });

  it('applies a default under 2 minutes when the caller sets no deadline', () => {
    for (const none of [undefined, Number.POSITIVE_INFINITY, Number.NaN]) {
      const budget = mountTimeBudget(T0, none);
      assert.equal(budget.source, 'default');
      assert.equal(budget.budgetMs, DEFAULT_MOUNT_TIME_BUDGET_MS);
      assert.equal(budget.endsAt, T0 + DEFAULT_MOUNT_TIME_BUDGET_MS);
    }
    assert.ok(DEFAULT_MOUNT_TIME_BUDGET_MS < 120_000 - MAX_DEADLINE_MARGIN_MS);
    assert.equal(mountTimeBudget(T0, undefined, 700).budgetMs, 700);
  });

  it('expires as a catalog error that maps to UNAVAILABLE and says which budget ran out', () => {
    const expired = new TimeBudgetExpired(mountTimeBudget(T0, T0 + 120_000));
    assert.equal(expired.code, 'VAULT_UNAVAILABLE');
    assert.equal(grpcStatusFor(expired.code), status.UNAVAILABLE);
    assert.match(expired.message, /time budget of 115 s \(the caller's deadline less a margin\)/);
    assert.equal(describeBudget({ budgetMs: 700, source: 'default' }), '0.7 s (the default, as the caller set no deadline)');
    const controller = new AbortController();
    assert.equal(expiredBudget(controller.signal), undefined);
    controller.abort(expired);
    assert.equal(expiredBudget(controller.signal), expired);
    const cancelled = new AbortController();
    cancelled.abort(new Error('cancelled by the caller'));
    assert.equal(expiredBudget(cancelled.signal), undefined);
  });
});
