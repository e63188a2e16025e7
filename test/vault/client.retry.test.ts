import assert from 'node:assert/strict';
import { ProviderError } from '../../src/errors.js';
import { backoffDelay, defaultRetryPolicy, withRetries } from '../../src/vault/client.js';
import { systemClock } from '../../src/shared/clock.js';
import { classifyFailure } from '../../src/vault/failures.js';
import { VaultConnectError, VaultHttpError } from '../../src/vault/transport.js';
import { TimeBudgetExpired } from '../../src/admission/time-budget.js';

const target = { address: 'https://vault:8200', path: '/v1/secret/data/x', method: 'GET' };

describe('vault/client: retries', () => {
  it('retries transient failures with growing, jittered delays and gives up after the last attempt', async () => {
    const delays: number[] = [];
    let calls = 0;
    await assert.rejects(
      withRetries(
        () => {
          calls++;
          return Promise.reject(new VaultHttpError(502, { errors: ['bad gateway'] }, {}));
        },
        {
          policy: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
          sleep: (ms) => {
            delays.push(ms);
            return Promise.resolve();
          },
          signal: undefined,
          random: () => 0.5,
          retryable: (f) => f.transient,
          classify: (err) => classifyFailure(err, target, undefined),
        },
      ),
      (err: unknown) => err instanceof ProviderError && err.code === 'VAULT_UNAVAILABLE' && err.message.includes('https://vault:8200/v1/secret/data/x'),
    );
    assert.equal(calls, 3);
    assert.deepEqual(delays, [50, 100]);
  });

  it('does not retry a non-transient failure', async () => {
    let calls = 0;
    await assert.rejects(
      withRetries(
        () => {
          calls++;
          return Promise.reject(new VaultHttpError(403, { errors: ['permission denied'] }, {}));
        },
        { policy: defaultRetryPolicy, sleep: () => Promise.resolve(), signal: undefined, retryable: (f) => f.transient, classify: (e) => classifyFailure(e, target, undefined) },
      ),
      (err: unknown) => err instanceof ProviderError && err.code === 'PERMISSION_DENIED',
    );
    assert.equal(calls, 1);
  });

  it('honours Retry-After and the bound on it', () => {
    assert.equal(backoffDelay(defaultRetryPolicy, 0, 1, () => 0), 1000);
    assert.equal(backoffDelay(defaultRetryPolicy, 0, 3600, () => 0), defaultRetryPolicy.maxDelayMs * 2);
    const failure = classifyFailure(new VaultHttpError(429, {}, { 'retry-after': '2' }), target, undefined);
    assert.equal(failure.retryAfterSeconds, 2);
    assert.equal(failure.reach, 'not-sent');
  });

  it('stops sleeping when the caller aborts', async () => {
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort(new Error('gone'));
    await assert.rejects(sleeping);
  });
});

describe('vault/failures', () => {
  it('maps statuses to catalog codes and names the address and path', () => {
    const cases: Array<[number, string]> = [
      [403, 'PERMISSION_DENIED'],
      [404, 'SECRET_NOT_FOUND'],
      [400, 'VAULT_REQUEST_REJECTED'],
      [500, 'VAULT_UNAVAILABLE'],
      [503, 'VAULT_UNAVAILABLE'],
    ];
    for (const [status, code] of cases) {
      const { error } = classifyFailure(new VaultHttpError(status, { errors: [] }, {}), target, undefined);
      assert.equal(error.code, code, String(status));
      assert.ok(error.message.includes('https://vault:8200/v1/secret/data/x'));
    }
  });

  it('retries what Vault\'s Go client retries: 429, 412 and 5xx but 501', () => {
    const cases: Array<[number, boolean, string, string]> = [
      [429, true, 'not-sent', 'VAULT_UNAVAILABLE'],
      [412, true, 'not-sent', 'VAULT_UNAVAILABLE'],
      [500, true, 'answered', 'VAULT_UNAVAILABLE'],
      [502, true, 'answered', 'VAULT_UNAVAILABLE'],
      [501, false, 'answered', 'VAULT_REQUEST_REJECTED'],
      [405, false, 'answered', 'VAULT_REQUEST_REJECTED'],
    ];
    for (const [status, transient, reach, code] of cases) {
      const failure = classifyFailure(new VaultHttpError(status, { errors: [] }, {}), target, undefined);
      assert.deepEqual([failure.transient, failure.reach, failure.error.code], [transient, reach, code], String(status));
    }
  });

  it('hints at method PUT when Vault answers 405 to a GET (real Vault does for pki/issue under a policy that allows reads)', () => {
    const get = classifyFailure(new VaultHttpError(405, { errors: [] }, {}), target, undefined);
    assert.match(get.error.message, /\(405\); this path takes a write: set the object's method to PUT \(or POST\)$/);
    const put = classifyFailure(new VaultHttpError(405, { errors: [] }, {}), { ...target, method: 'PUT' }, undefined);
    assert.doesNotMatch(put.error.message, /set the object's method/);
  });

  it("turns real Vault's 404 for a KV v1-style path on a KV v2 mount into INVALID_CONFIG, and quotes other 404 hints", () => {
    const kvHint = "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.";
    const wrong = classifyFailure(new VaultHttpError(404, { errors: [], warnings: [kvHint] }, {}), target, undefined);
    assert.equal(wrong.error.code, 'INVALID_CONFIG');
    assert.match(wrong.error.message, /not an API path of its versioned KV engine \(404\): KV v2 reads are <mount>\/data\/<path>/);
    const other = classifyFailure(new VaultHttpError(404, { errors: [], warnings: ['some hint'] }, {}), target, undefined);
    assert.equal(other.error.code, 'SECRET_NOT_FOUND');
    assert.match(other.error.message, /Vault's hint: some hint$/);
    assert.equal(classifyFailure(new VaultHttpError(404, { errors: [] }, {}), target, undefined).error.message.includes('hint'), false);
  });

  it('strips JWT- and token-shaped text from Vault error strings', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const { error } = classifyFailure(new VaultHttpError(400, { errors: [`bad jwt ${jwt} and hvs.ABCDEFGHIJKLMNOP`] }, {}), target, undefined);
    assert.ok(!error.message.includes(jwt));
    assert.ok(!error.message.includes('hvs.ABCDEFGHIJKLMNOP'));
  });

  it('classifies connection failures as not sent and TLS failures as not retryable', () => {
    const refused = Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
    assert.equal(classifyFailure(refused, target, undefined).reach, 'not-sent');
    const tls = Object.assign(new Error('tls'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const failure = classifyFailure(tls, target, undefined);
    assert.equal(failure.transient, false);
    assert.match(failure.error.message, /TLS failure/);
  });

  it('classifies any failure while connecting as not sent: a reset handshake is retried, even for a write', () => {
    const cut = new VaultConnectError(Object.assign(new Error('socket disconnected before secure TLS connection'), { code: 'ECONNRESET' }));
    const failure = classifyFailure(cut, { ...target, method: 'PUT' }, undefined);
    assert.deepEqual([failure.reach, failure.transient, failure.error.code], ['not-sent', true, 'VAULT_UNAVAILABLE']);
    assert.match(failure.error.message, /cannot connect to Vault at https:\/\/vault:8200 \(ECONNRESET\) for \/v1\/secret\/data\/x/);
    // Outside the connector, the same code may come from a request already on the wire.
    const midRequest = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    assert.equal(classifyFailure(midRequest, target, undefined).reach, 'unknown');
    const badCert = new VaultConnectError(Object.assign(new Error('self signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }));
    assert.deepEqual([classifyFailure(badCert, target, undefined).reach, classifyFailure(badCert, target, undefined).transient], ['not-sent', false]);
  });

  it('reports the caller deadline as DEADLINE_EXCEEDED', () => {
    const controller = new AbortController();
    controller.abort();
    assert.equal(classifyFailure(new Error('x'), target, controller.signal).error.code, 'DEADLINE_EXCEEDED');
  });

  it("reports a request cut by the mount's time budget as VAULT_UNAVAILABLE naming the address and path", () => {
    const controller = new AbortController();
    const expired = new TimeBudgetExpired({ budgetMs: 115_000, source: 'caller-deadline' });
    controller.abort(expired);
    // Whatever the cut left behind: the budget's own error, or an abort from below.
    for (const err of [expired, new Error('aborted')]) {
      const failure = classifyFailure(err, target, controller.signal);
      assert.equal(failure.error.code, 'VAULT_UNAVAILABLE');
      assert.equal(failure.transient, false);
      assert.equal(failure.error.message, "no successful answer from Vault to GET https://vault:8200/v1/secret/data/x within the mount's time budget of 115 s (the caller's deadline less a margin); the driver retries the mount");
    }
  });

  it('gives the last failure, not DEADLINE_EXCEEDED, when the time budget ends during a backoff', async () => {
    const controller = new AbortController();
    let calls = 0;
    const run = (): Promise<never> => {
      calls++;
      return Promise.reject(new VaultHttpError(503, { errors: ['Vault is sealed'] }, {}));
    };
    const options = {
      policy: defaultRetryPolicy,
      // The budget runs out while the client waits to try again.
      sleep: (_ms: number, signal: AbortSignal | undefined) => {
        controller.abort(new TimeBudgetExpired({ budgetMs: 900, source: 'caller-deadline' }));
        return systemClock.sleep(10_000, signal);
      },
      signal: controller.signal,
      retryable: (f: { transient: boolean }) => f.transient,
      classify: (err: unknown) => classifyFailure(err, target, undefined),
    };
    await assert.rejects(withRetries(run, options), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.code, 'VAULT_UNAVAILABLE');
      assert.equal(err.message, "Vault answered 503 to GET https://vault:8200/v1/secret/data/x: Vault is sealed; the mount's time budget of 0.9 s (the caller's deadline less a margin) ran out before attempt 2, the driver retries the mount");
      assert.equal(err.context.vaultAddress, 'https://vault:8200');
      return true;
    });
    assert.equal(calls, 1);
    // A caller that went away is still DEADLINE_EXCEEDED (nobody is there to read a better message).
    const gone = new AbortController();
    await assert.rejects(
      withRetries(run, { ...options, signal: gone.signal, sleep: (_ms, signal) => (gone.abort(new Error('cancelled')), systemClock.sleep(10_000, signal)) }),
      (err: unknown) => err instanceof ProviderError && err.code === 'DEADLINE_EXCEEDED',
    );
  });
});
