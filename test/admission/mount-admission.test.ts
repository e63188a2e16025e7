/** Admission control's arithmetic: budgets per mount and per node, the bound on mounts, what a ledger gives back. */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { DEFAULT_ADMISSION_LIMITS, DEFAULT_MOUNT_RESPONSE_BUDGET, DEFAULT_NODE_MEMORY_BUDGET, MountAdmission, MountMemory } from '../../src/admission/mount-admission.js';
import { grpcStatusFor, ProviderError } from '../../src/errors.js';

const MiB = 1024 * 1024;
const WHO = { secretProviderClass: 'web-secrets', pod: { namespace: 'prod', name: 'web-0' } };

function refusal(fn: () => void): ProviderError {
  try {
    fn();
  } catch (err: unknown) {
    assert.ok(err instanceof ProviderError);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('admission/mount-admission', () => {
  it('has defaults that fit each other and the driver: 8 MiB of responses a mount, 24 MiB a node, 256 mounts', () => {
    assert.equal(DEFAULT_MOUNT_RESPONSE_BUDGET, (4 + 4) * MiB);
    assert.equal(DEFAULT_NODE_MEMORY_BUDGET, 24 * MiB);
    assert.ok(DEFAULT_ADMISSION_LIMITS.mountBytes <= DEFAULT_ADMISSION_LIMITS.nodeBytes);
    assert.equal(DEFAULT_ADMISSION_LIMITS.maxMounts, 256);
    assert.throws(() => new MountAdmission({ nodeBytes: MiB, mountBytes: 2 * MiB, maxMounts: 1 }), RangeError);
  });

  it('refuses response bytes over the mount budget with MOUNT_TOO_LARGE naming the budget, and then every later charge', () => {
    const admission = new MountAdmission({ nodeBytes: 10 * MiB, mountBytes: 4 * MiB, maxMounts: 8 });
    const memory = admission.admit(WHO);
    memory.receive(3 * MiB);
    // What a mount gives back to the node still counts as read: the budget is of the mount's whole life.
    memory.release(3 * MiB);
    memory.charge(5 * MiB);
    const err = refusal(() => memory.receive(2 * MiB));
    assert.equal(err.code, 'MOUNT_TOO_LARGE');
    assert.equal(grpcStatusFor(err.code), status.RESOURCE_EXHAUSTED);
    assert.equal(err.message, "the mount's Vault responses would pass 4.0 MiB, its budget (--mount-response-budget: the driver's 4 MiB receive limit for files and 4 MiB for template inputs)");
    // The mount's other reads stop at their next chunk, however small.
    assert.equal(refusal(() => memory.charge(1)), err);
    assert.equal(memory.receivedBytes, 3 * MiB);
    assert.equal(memory.heldBytes, 5 * MiB);
    assert.equal(admission.bytesInFlight, 5 * MiB);
    memory.close();
    assert.equal(admission.bytesInFlight, 0);
    assert.equal(admission.mountsInFlight, 0);
  });

  it('refuses a charge over the node budget with NODE_BUDGET_EXCEEDED, affecting no other mount', () => {
    const admission = new MountAdmission({ nodeBytes: 6 * MiB, mountBytes: 5 * MiB, maxMounts: 8 });
    const a = admission.admit(WHO);
    const b = admission.admit(WHO);
    a.charge(4 * MiB);
    const err = refusal(() => b.charge(3 * MiB));
    assert.equal(err.code, 'NODE_BUDGET_EXCEEDED');
    assert.equal(grpcStatusFor(err.code), status.RESOURCE_EXHAUSTED);
    assert.equal(err.message, "the mounts in flight on this node hold 4.0 MiB (this one 0 B), and 3.0 MiB more would pass the provider's memory budget of 6.0 MiB (--memory-budget); the driver retries the mount");
    // A refused charge takes nothing; the other mount goes on, and room comes back as mounts end.
    assert.equal(admission.bytesInFlight, 4 * MiB);
    a.charge(1);
    a.release(2 * MiB);
    assert.equal(admission.bytesInFlight, 2 * MiB + 1);
    a.close();
    b.close();
    const c = admission.admit(WHO);
    c.charge(4 * MiB);
    assert.equal(admission.peakBytesInFlight, 4 * MiB + 1);
    c.close();
    assert.equal(admission.bytesInFlight, 0);
  });

  it('bounds the mounts in progress, naming the SecretProviderClass, the pod and the flag', () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 2 });
    const first = admission.admit(WHO);
    admission.admit(WHO);
    const err = refusal(() => admission.admit(WHO));
    assert.equal(err.code, 'NODE_BUDGET_EXCEEDED');
    assert.match(err.message, /^mount of SecretProviderClass "web-secrets" for pod prod\/web-0 refused: 2 mounts are in progress on this node, the provider's bound \(--max-mounts-in-flight=2\); the driver retries the mount$/);
    first.close();
    first.close();
    assert.equal(admission.mountsInFlight, 1);
    admission.admit(WHO);
  });

  it('ignores charges and releases once closed (a shared request outliving its mount), and never goes below zero', () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 2 });
    const memory = admission.admit(WHO);
    memory.charge(100);
    memory.release(500);
    assert.equal(memory.heldBytes, 0);
    memory.close();
    memory.charge(10 * MiB);
    memory.release(10);
    assert.equal(admission.bytesInFlight, 0);
    // Without an admission (the CLI's one mount) only the mount's own budget applies.
    const alone = new MountMemory(undefined, 100);
    alone.receive(100);
    alone.charge(10 * MiB);
    assert.equal(refusal(() => alone.receive(1)).code, 'MOUNT_TOO_LARGE');
    assert.equal(alone.peakBytes, 10 * MiB + 100);
  });
});
