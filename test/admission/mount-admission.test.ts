/** Admission control's arithmetic: budgets per mount and per node, the bound on mounts, what a ledger gives back. */
import assert from 'node:assert/strict';
import type { Clock } from '../../src/shared/clock.js';
import { status } from '@grpc/grpc-js';
import {
  DEFAULT_ADMISSION_LIMITS,
  DEFAULT_MOUNT_RESPONSE_BUDGET,
  DEFAULT_NODE_MEMORY_BUDGET,
  MountAdmission,
  MountMemory,
  type AdmissionSubject,
  type AdmissionWait,
} from '../../src/admission/mount-admission.js';
import { grpcStatusFor, ProviderError } from '../../src/errors.js';

const MiB = 1024 * 1024;
const WHO = { secretProviderClass: 'web-secrets', pod: { namespace: 'prod', name: 'web-0' } };

async function refused(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (err: unknown) {
    assert.ok(err instanceof ProviderError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

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
  it('has defaults that fit each other and the driver: 8 MiB of responses a mount, 24 MiB a node, 256 mounts, 1024 waiting', () => {
    assert.equal(DEFAULT_MOUNT_RESPONSE_BUDGET, (4 + 4) * MiB);
    assert.equal(DEFAULT_NODE_MEMORY_BUDGET, 24 * MiB);
    assert.ok(DEFAULT_ADMISSION_LIMITS.mountBytes <= DEFAULT_ADMISSION_LIMITS.nodeBytes);
    assert.equal(DEFAULT_ADMISSION_LIMITS.maxMounts, 256);
    assert.equal(DEFAULT_ADMISSION_LIMITS.maxMountsPerNamespace, 64);
    // A node restart of 330 volumes (issue 19, class 12) waits, even all in one namespace: 64 run, 266 wait.
    assert.ok((DEFAULT_ADMISSION_LIMITS.maxQueued ?? 0) >= 330 - 64);
    assert.throws(() => new MountAdmission({ nodeBytes: MiB, mountBytes: 2 * MiB, maxMounts: 1 }), RangeError);
  });

  it('refuses response bytes over the mount budget with MOUNT_TOO_LARGE naming the budget, and then every later charge', async () => {
    const admission = new MountAdmission({ nodeBytes: 10 * MiB, mountBytes: 4 * MiB, maxMounts: 8 });
    const memory = await admission.admit(WHO);
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

  it('refuses a charge over the node budget with NODE_BUDGET_EXCEEDED, affecting no other mount', async () => {
    const admission = new MountAdmission({ nodeBytes: 6 * MiB, mountBytes: 5 * MiB, maxMounts: 8 });
    const a = await admission.admit(WHO);
    const b = await admission.admit(WHO);
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
    const c = await admission.admit(WHO);
    c.charge(4 * MiB);
    assert.equal(admission.peakBytesInFlight, 4 * MiB + 1);
    c.close();
    assert.equal(admission.bytesInFlight, 0);
  });

  it('with --max-mounts-queued=0, refuses a mount past the bound at once, naming the SecretProviderClass, the pod and the flags', async () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 2, maxQueued: 0 });
    const first = await admission.admit(WHO);
    await admission.admit(WHO);
    const err = await refused(admission.admit(WHO));
    assert.equal(err.code, 'NODE_BUDGET_EXCEEDED');
    assert.equal(err.message, 'mount of SecretProviderClass "web-secrets" for pod prod/web-0 refused: 2 mounts are in progress on this node, the provider\'s bound (--max-mounts-in-flight=2), and 0 mounts wait for a place, the queue\'s bound (--max-mounts-queued=0); the driver retries the mount');
    first.close();
    first.close();
    assert.equal(admission.mountsInFlight, 1);
    await admission.admit(WHO);
  });

  it('ignores charges and releases once closed (a shared request outliving its mount), and never goes below zero', async () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 2 });
    const memory = await admission.admit(WHO);
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

/** Timers the test fires by hand: a wait limit passes only when the test says so. */
class ManualTimers implements Pick<Clock, 'monotonic' | 'after'> {
  readonly pending = new Map<number, () => void>();
  #next = 0;
  monotonic(): number {
    return 0;
  }
  after(_ms: number, fn: () => void): () => void {
    const id = this.#next++;
    this.pending.set(id, fn);
    return () => this.pending.delete(id);
  }
  fireAll(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const fn of due) fn();
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function pod(namespace: string, name: string): AdmissionSubject {
  return { secretProviderClass: 'app', pod: { namespace, name } };
}

describe('admission/mount-admission: waiting fairly instead of refusing (issue 19, class 12)', () => {
  /** Admits `subject`, recording its name in `order` once it has a place; its ledger goes to `held`. */
  function enter(admission: MountAdmission, subject: AdmissionSubject, order: string[], held: MountMemory[], wait = {}): Promise<void> {
    return admission.admit(subject, wait).then((memory) => {
      order.push(subject.pod.name);
      held.push(memory);
    });
  }

  it('queues a mount past --max-mounts-in-flight and admits it when a place frees, holding no memory budget while it waits', async () => {
    const waits: AdmissionWait[] = [];
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 2 }, { onWait: (w) => waits.push(w) });
    const a = await admission.admit(pod('a', 'a-0'));
    await admission.admit(pod('b', 'b-0'));
    const order: string[] = [];
    const held: MountMemory[] = [];
    const waiting = enter(admission, pod('c', 'c-0'), order, held);
    await settle();
    assert.deepEqual([admission.mountsInFlight, admission.mountsQueued, order.length], [2, 1, 0]);
    assert.equal(admission.bytesInFlight, 0);
    a.charge(1000);
    a.close();
    await waiting;
    assert.deepEqual(order, ['c-0']);
    assert.deepEqual([admission.mountsInFlight, admission.mountsQueued, admission.peakMountsQueued], [2, 0, 1]);
    assert.deepEqual(waits.map((w) => w.result), ['admitted', 'admitted', 'admitted']);
  });

  it('gives freed places round robin across namespaces, first come first served within one', async () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 1 });
    const order: string[] = [];
    const held: MountMemory[] = [];
    await enter(admission, pod('x', 'x-0'), order, held);
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < 3; i++) all.push(enter(admission, pod('a', `a-${i}`), order, held));
    for (let i = 0; i < 2; i++) all.push(enter(admission, pod('b', `b-${i}`), order, held));
    all.push(enter(admission, pod('c', 'c-0'), order, held));
    await settle();
    for (let i = 0; i < 6; i++) {
      held[i]!.close();
      await settle();
    }
    await Promise.all(all);
    assert.deepEqual(order, ['x-0', 'a-0', 'b-0', 'c-0', 'a-1', 'b-1', 'a-2']);
  });

  it("keeps one namespace to its share of places (--max-mounts-in-flight-per-namespace): another namespace's mount goes at once", async () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 4, maxMountsPerNamespace: 2 });
    const order: string[] = [];
    const held: MountMemory[] = [];
    for (let i = 0; i < 5; i++) void enter(admission, pod('slow', `slow-${i}`), order, held);
    await settle();
    assert.deepEqual(order, ['slow-0', 'slow-1']);
    await enter(admission, pod('victim', 'v-0'), order, held);
    assert.deepEqual([admission.inFlightOf('slow'), admission.inFlightOf('victim'), admission.mountsQueued], [2, 1, 3]);
    held[0]!.close();
    await settle();
    assert.deepEqual(order, ['slow-0', 'slow-1', 'v-0', 'slow-2']);
  });

  it("refuses only past the queue's bound (--max-mounts-queued), naming the pod and the bound; a full queue makes room for a namespace with fewer waiting", async () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 1, maxQueued: 3 });
    const order: string[] = [];
    const held: MountMemory[] = [];
    await enter(admission, pod('x', 'x-0'), order, held);
    const a = [0, 1, 2].map((i) => enter(admission, pod('a', `a-${i}`), order, held));
    await settle();
    const full = await refused(admission.admit(pod('a', 'a-3')));
    assert.equal(full.code, 'NODE_BUDGET_EXCEEDED');
    assert.equal(full.message, 'mount of SecretProviderClass "app" for pod a/a-3 refused: 1 mounts are in progress on this node, the provider\'s bound (--max-mounts-in-flight=1), and 3 mounts wait for a place, the queue\'s bound (--max-mounts-queued=3); the driver retries the mount');
    // Namespace b has nobody waiting: namespace a's newest gives up its place in the queue.
    const b = enter(admission, pod('b', 'b-0'), order, held);
    const pushed = await refused(a[2]!);
    assert.match(pushed.message, /^mount of SecretProviderClass "app" for pod a\/a-2 refused: the queue was full \(--max-mounts-queued=3\) and its namespace had the most mounts waiting \(3\)/);
    assert.equal(admission.mountsQueued, 3);
    // a has 2 waiting, more than c would have with its one: a's newest again. Then every namespace has one waiting,
    // and d would have as many: the queue is simply full.
    const c = enter(admission, pod('c', 'c-0'), order, held);
    assert.match((await refused(a[1]!)).message, /pod a\/a-1 refused: the queue was full/);
    assert.equal((await refused(admission.admit(pod('d', 'd-0')))).code, 'NODE_BUDGET_EXCEEDED');
    for (let i = 0; i < 4; i++) {
      held[i]?.close();
      await settle();
    }
    await Promise.all([a[0], b, c]);
    assert.deepEqual(order, ['x-0', 'a-0', 'b-0', 'c-0']);
  });

  it("refuses a mount whose wait would pass what its deadline allows, naming the pod and the bound that held it", async () => {
    const timers = new ManualTimers();
    const waits: AdmissionWait[] = [];
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 2, maxMountsPerNamespace: 1 }, { timers, onWait: (w) => waits.push(w) });
    const held = await admission.admit(pod('a', 'a-0'), { waitMs: 1000 });
    const late = admission.admit(pod('a', 'a-1'), { waitMs: 1000 });
    assert.equal(timers.pending.size, 1, 'a timer only for the mount that waits');
    timers.fireAll();
    const err = await refused(late);
    assert.equal(err.code, 'NODE_BUDGET_EXCEEDED');
    assert.equal(err.message, 'mount of SecretProviderClass "app" for pod a/a-1 refused: it waited 0.0 s for a place, as long as its time budget lets it wait: 1 mounts of namespace "a" are in progress, its share (--max-mounts-in-flight-per-namespace=1); the driver retries the mount');
    assert.equal(admission.mountsQueued, 0);
    // No time left to wait at all: refused at once.
    await admission.admit(pod('b', 'b-0'));
    const none = await refused(admission.admit(pod('c', 'c-0'), { waitMs: 0 }));
    assert.match(none.message, /^mount of SecretProviderClass "app" for pod c\/c-0 refused: its time budget leaves no time to wait for a place: 2 mounts are in progress on this node, the provider's bound \(--max-mounts-in-flight=2\)/);
    assert.deepEqual(waits.map((w) => w.result), ['admitted', 'refused', 'admitted', 'refused']);
    held.close();
  });

  it('drops a waiting mount whose caller gives up, with its reason, and admits the next', async () => {
    const admission = new MountAdmission({ nodeBytes: MiB, mountBytes: MiB, maxMounts: 1 });
    const first = await admission.admit(pod('a', 'a-0'));
    const controller = new AbortController();
    const gone = admission.admit(pod('b', 'b-0'), { signal: controller.signal });
    const next = admission.admit(pod('c', 'c-0'));
    await settle();
    controller.abort(new Error('cancelled by the caller'));
    const err = await refused(gone);
    assert.equal(err.code, 'DEADLINE_EXCEEDED');
    assert.equal(err.message, 'mount of SecretProviderClass "app" for pod b/b-0: the caller gave up (cancelled by the caller) while it waited for a place: 1 mounts are in progress on this node, the provider\'s bound (--max-mounts-in-flight=1)');
    assert.equal(admission.mountsQueued, 1);
    first.close();
    (await next).close();
    assert.deepEqual([admission.mountsInFlight, admission.mountsQueued], [0, 0]);
    await assert.rejects(admission.admit(pod('d', 'd-0'), { signal: controller.signal }), /cancelled/);
  });
});
