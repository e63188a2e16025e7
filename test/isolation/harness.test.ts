/**
 * The isolation suite's own judgement, in the fast suite: the figures it reports, what it counts as a clear attacker
 * error, and how it turns the DaemonSet's arguments into this machine's. The suite itself (`npm run test:isolation`,
 * *.isolation.ts) is too slow for `npm test`.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { attackerViolation, type AttackerExpectation, type AttackOutcome } from './case.js';
import { figures } from './probes.js';
import { daemonArguments, daemonSetContainer } from './stage.js';
import { imageEnv } from '../../scripts/image/dockerfile.js';

const CAP: AttackerExpectation = { kind: 'clear-error', errors: [{ statuses: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED], names: 'out', cap: true }] };

function failed(code: status, details: string, written: string[] = []): AttackOutcome {
  return { what: 'm', ms: 1, code, details, written };
}

describe('isolation harness', () => {
  it('reports nearest-rank percentiles; with fewer than 100 samples p99 is the maximum', () => {
    assert.deepEqual(figures([5, 1, 3, 2, 4]), { n: 5, p50: 3, p99: 5, max: 5 });
    const hundred = Array.from({ length: 200 }, (_, i) => i + 1);
    assert.deepEqual(figures(hundred), { n: 200, p50: 100, p99: 198, max: 200 });
    assert.equal(figures([]).n, 0);
  });

  it('accepts a refusal that names the object and the flag with a fitting status', () => {
    const ok = failed(status.INVALID_ARGUMENT, 'INVALID_CONFIG: object "out": the template has 4000 arguments in one action, over --max-template-args (256)');
    assert.equal(attackerViolation(ok, CAP), undefined);
    assert.equal(attackerViolation(failed(status.RESOURCE_EXHAUSTED, 'MOUNT_TOO_LARGE: object "out": … (--mount-response-budget: …)'), CAP), undefined);
  });

  it('refuses what a tenant could not act on: no object, no flag, a dropped connection, INTERNAL, a success, files left behind', () => {
    assert.match(attackerViolation(failed(status.RESOURCE_EXHAUSTED, 'MOUNT_TOO_LARGE: object "out": the rendered template is larger than 4194304 bytes'), CAP)!, /names no --flag/);
    assert.match(attackerViolation(failed(status.INVALID_ARGUMENT, 'INVALID_CONFIG: the template is too long (--max-template-bytes)'), CAP)!, /does not name object "out"/);
    assert.match(attackerViolation(failed(status.UNAVAILABLE, 'Connection dropped'), CAP)!, /status UNAVAILABLE.*no catalog code/);
    assert.match(attackerViolation(failed(status.INTERNAL, 'INTERNAL: object "out": unexpected RangeError (--x)'), CAP)!, /status INTERNAL.*INTERNAL/);
    const success: AttackOutcome = { what: 'm', ms: 1, response: { object_version: [], files: [], error: null }, written: [] };
    assert.match(attackerViolation(success, CAP)!, /succeeded/);
    assert.equal(attackerViolation(success, { kind: 'success-or-clear-error', errors: [] }), undefined);
    assert.match(attackerViolation(failed(status.INVALID_ARGUMENT, 'INVALID_CONFIG: object "out": too many (--max-x)', ['..data', 'out']), CAP)!, /left \.\.data, out in its target/);
    assert.match(attackerViolation(failed(status.RESOURCE_EXHAUSTED, 'NODE_BUDGET_EXCEEDED: … (--max-mounts-in-flight=256)'), { kind: 'success' })!, /had to succeed/);
  });

  it("names the objects parameter for a cap on the list, and takes patterns for parameters", () => {
    const list: AttackerExpectation = { kind: 'clear-error', errors: [{ statuses: [status.INVALID_ARGUMENT], names: 'objects', cap: true }] };
    assert.equal(attackerViolation(failed(status.INVALID_ARGUMENT, 'INVALID_CONFIG: objects lists 40000 objects, over --max-objects (1000)'), list), undefined);
    assert.match(attackerViolation(failed(status.INVALID_ARGUMENT, 'INVALID_CONFIG: the list lists 40000 (--max-objects)'), list)!, /objects parameter/);
    const param: AttackerExpectation = { kind: 'clear-error', errors: [{ statuses: [status.PERMISSION_DENIED], names: /vaultAuthMountPath/, cap: true }] };
    assert.equal(attackerViolation(failed(status.PERMISSION_DENIED, 'PARAMETER_NOT_ALLOWED: vaultAuthMountPath "cert" is not allowed (--allowed-auth-mounts)'), param), undefined);
  });

  it("starts the daemon with the DaemonSet's arguments, the node-specific ones pointed at this machine", () => {
    const { args, env } = daemonSetContainer();
    const local = daemonArguments(args, { socket: '/tmp/x/vault.sock', hmacKeyFile: '/tmp/x/hmac.key' });
    assert.ok(local.includes('--endpoint=/tmp/x/vault.sock'));
    assert.ok(local.includes('--health-addr=127.0.0.1:0'));
    assert.ok(local.includes('--hmac-key-file=/tmp/x/hmac.key'));
    assert.ok(!local.some((a) => a.startsWith('--hmac-secret-name')));
    // Everything else exactly as the DaemonSet passes it.
    for (const arg of args.filter((a) => !/^--(endpoint|health-addr|hmac-secret-name)=/.test(a))) assert.ok(local.includes(arg), arg);
    assert.ok(env['VAULT_ADDR'] !== undefined);
    assert.throws(() => daemonArguments(['--log-level=info'], { socket: 's', hmacKeyFile: 'k' }), /lack --endpoint/);
    assert.match(imageEnv()['NODE_OPTIONS'] ?? '', /--max-old-space-size=/);
    assert.equal(imageEnv('FROM a\nENV NODE_OPTIONS=--x\nFROM b AS c\nENV NODE_ENV=production\n')['NODE_OPTIONS'], undefined);
  });
});
