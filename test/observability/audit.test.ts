/**
 * Audit records: who asked and what each object got; "changed" is per pod volume against its last successful
 * mount, remembered in a bounded map; failed mounts name the failing object; the file sink writes one line each.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMountRequest } from '../../src/config/mount-request.js';
import type { MountConfig } from '../../src/config/types.js';
import { ProviderError } from '../../src/errors.js';
import { DEFAULT_AUDIT_STATE_BYTES, fileAuditSink, MountAuditor, volumeStateBytes, type AuditRecord, type AuditSink } from '../../src/observability/audit.js';

function config(pod: { uid: string; name?: string }, targetPath = '/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/secrets/mount'): MountConfig {
  return parseMountRequest({
    attributes: JSON.stringify({
      roleName: 'web',
      secretProviderClass: 'web-secrets',
      'csi.storage.k8s.io/pod.name': pod.name ?? 'web-0',
      'csi.storage.k8s.io/pod.namespace': 'prod',
      'csi.storage.k8s.io/pod.uid': pod.uid,
      'csi.storage.k8s.io/serviceAccount.name': 'web',
      objects: '- objectName: "a"\n  secretPath: "secret/data/a"\n- objectName: "b"\n  secretPath: "secret/data/b"\n',
    }),
    secrets: 'null',
    targetPath,
    permission: '420',
  });
}

function memorySink(): AuditSink & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  return { records, write: (r) => void records.push(r), close: () => Promise.resolve() };
}

const ok = { error: undefined, result: 'ok' as const, grpcCode: 'OK', durationMs: 5 };
const mounted = (a: string, b: string) => [
  { objectName: 'a', secretPath: 'secret/data/a', version: a },
  { objectName: 'b', secretPath: 'secret/data/b', version: b, cached: true },
];

describe('observability/audit', () => {
  it('records who asked and, per object, version, change since the pod volume\'s last mount, cache and result', () => {
    const sink = memorySink();
    const auditor = new MountAuditor({ sink });
    const cfg = config({ uid: 'uid-1' });
    const first = auditor.record({ ...ok, config: cfg, mounted: mounted('va1', 'vb1') });
    assert.deepEqual(
      { pod: first.pod, podUid: first.podUid, namespace: first.namespace, serviceAccount: first.serviceAccount, secretProviderClass: first.secretProviderClass },
      { pod: 'web-0', podUid: 'uid-1', namespace: 'prod', serviceAccount: 'web', secretProviderClass: 'web-secrets' },
    );
    assert.equal(first.firstMount, true);
    assert.deepEqual(first.objects, [
      { name: 'a', vaultPath: 'secret/data/a', version: 'va1', changed: true, cached: false, result: 'ok' },
      { name: 'b', vaultPath: 'secret/data/b', version: 'vb1', changed: true, cached: true, result: 'ok' },
    ]);

    const same = auditor.record({ ...ok, config: cfg, mounted: mounted('va1', 'vb1') });
    assert.equal(same.firstMount, false);
    assert.deepEqual(same.objects.map((o) => o.changed), [false, false]);

    const rotated = auditor.record({ ...ok, config: cfg, mounted: mounted('va1', 'vb2') });
    assert.deepEqual(rotated.objects.map((o) => o.changed), [false, true]);
    assert.equal(sink.records.length, 3);
  });

  it('keeps pods and volumes apart, and a failed mount does not move the baseline', () => {
    const auditor = new MountAuditor({ sink: memorySink() });
    auditor.record({ ...ok, config: config({ uid: 'uid-1' }), mounted: mounted('va1', 'vb1') });
    assert.equal(auditor.record({ ...ok, config: config({ uid: 'uid-2' }), mounted: mounted('va1', 'vb1') }).firstMount, true, 'another pod');
    assert.equal(auditor.record({ ...ok, config: config({ uid: 'uid-1' }, '/other/volume'), mounted: mounted('va1', 'vb1') }).firstMount, true, 'another volume');

    const error = new ProviderError('SECRET_NOT_FOUND', 'nothing there').forObject('b', 'secret/data/b');
    const failed = auditor.record({ config: config({ uid: 'uid-1' }), mounted: undefined, error, result: 'SECRET_NOT_FOUND', grpcCode: 'NOT_FOUND', durationMs: 2 });
    assert.equal(failed.result, 'SECRET_NOT_FOUND');
    assert.deepEqual(failed.objects, [
      { name: 'a', vaultPath: 'secret/data/a', cached: false, result: 'not_mounted' },
      { name: 'b', vaultPath: 'secret/data/b', cached: false, result: 'SECRET_NOT_FOUND' },
    ]);
    const after = auditor.record({ ...ok, config: config({ uid: 'uid-1' }), mounted: mounted('va1', 'vb1') });
    assert.deepEqual(after.objects.map((o) => o.changed), [false, false], 'compared with the last successful mount');
  });

  it('records a request that could not be parsed with what is known: nothing', () => {
    const auditor = new MountAuditor({ sink: memorySink() });
    const error = new ProviderError('INVALID_CONFIG', 'roleName is required');
    const r = auditor.record({ config: undefined, mounted: undefined, error, result: 'INVALID_CONFIG', grpcCode: 'INVALID_ARGUMENT', durationMs: 1 });
    assert.deepEqual({ pod: r.pod, objects: r.objects, firstMount: r.firstMount }, { pod: '', objects: [], firstMount: true });
    assert.equal(auditor.rememberedVolumes, 0);
  });

  it('remembers a bounded number of pod volumes, forgetting the least recently mounted', () => {
    const auditor = new MountAuditor({ sink: memorySink(), maxVolumes: 2 });
    for (const uid of ['p1', 'p2', 'p1', 'p3']) auditor.record({ ...ok, config: config({ uid }), mounted: mounted('va', 'vb') });
    assert.equal(auditor.rememberedVolumes, 2);
    assert.equal(auditor.record({ ...ok, config: config({ uid: 'p1' }), mounted: mounted('va', 'vb') }).firstMount, false);
    assert.equal(auditor.record({ ...ok, config: config({ uid: 'p2' }), mounted: mounted('va', 'vb') }).firstMount, true, 'p2 was evicted');
  });

  it('remembers a bounded number of bytes: thousands of objects over 65 volumes stay within it (issue 19, class 7)', () => {
    const auditor = new MountAuditor({ sink: { write: () => undefined, close: () => Promise.resolve() } });
    // 65 volumes of 5,000 optional objects with 200-character names: ~190 MiB if every one were kept.
    const objects = Array.from({ length: 5_000 }, (_, i) => ({ objectName: `${'n'.repeat(190)}-${i}`, secretPath: 'secret/data/x', version: 'v'.repeat(43), state: 'absent' as const }));
    const perVolume = volumeStateBytes(`uid-0\n${config({ uid: 'uid-0' }).targetPath}`, objects);
    assert.ok(perVolume * 65 > 100 * 1024 * 1024, `${perVolume} bytes a volume`);
    let peak = 0;
    for (let v = 0; v < 65; v++) {
      auditor.record({ ...ok, config: config({ uid: `uid-${v}` }), mounted: objects });
      peak = Math.max(peak, auditor.rememberedBytes);
    }
    assert.ok(peak <= DEFAULT_AUDIT_STATE_BYTES, `${peak} bytes remembered`);
    assert.equal(auditor.rememberedVolumes, Math.floor(DEFAULT_AUDIT_STATE_BYTES / perVolume));
    // The most recent volumes are the ones remembered.
    assert.equal(auditor.record({ ...ok, config: config({ uid: 'uid-64' }), mounted: objects }).firstMount, false);
    assert.equal(auditor.record({ ...ok, config: config({ uid: 'uid-0' }), mounted: objects }).firstMount, true);
  });

  it('keeps nothing of a volume that alone is over the byte bound, and forgets what it had', () => {
    const auditor = new MountAuditor({ sink: memorySink(), maxBytes: 4_096 });
    const cfg = config({ uid: 'u' });
    auditor.record({ ...ok, config: cfg, mounted: mounted('va', 'vb') });
    assert.equal(auditor.rememberedVolumes, 1);
    const many = Array.from({ length: 100 }, (_, i) => ({ objectName: `o${i}`, secretPath: 's', version: 'v' }));
    assert.equal(auditor.record({ ...ok, config: cfg, mounted: many }).firstMount, false);
    assert.equal(auditor.rememberedVolumes, 0);
    assert.equal(auditor.rememberedBytes, 0);
    assert.equal(auditor.record({ ...ok, config: cfg, mounted: many }).firstMount, true);
  });

  it('marks an optional object Vault did not have as absent', () => {
    const auditor = new MountAuditor({ sink: memorySink() });
    const r = auditor.record({ ...ok, config: config({ uid: 'u' }), mounted: [{ objectName: 'a', secretPath: 'secret/data/a', version: 'v', state: 'absent' }] });
    assert.equal(r.objects[0]?.result, 'absent');
  });

  describe('file sink', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'vcp-audit-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('appends one JSON line per mount, creating the directory, and survives a reopen', async () => {
      const path = join(dir, 'sub', 'audit.log');
      const sink = fileAuditSink(path);
      const auditor = new MountAuditor({ sink });
      auditor.record({ ...ok, config: config({ uid: 'u1' }), mounted: mounted('va', 'vb') });
      sink.reopen();
      auditor.record({ ...ok, config: config({ uid: 'u1' }), mounted: mounted('va', 'vb') });
      await auditor.close();
      auditor.record({ ...ok, config: config({ uid: 'u1' }), mounted: mounted('va', 'vb') });
      const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
      assert.equal(lines.length, 2, 'nothing is written after close');
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(parsed[0]?.audit, true);
      assert.equal(parsed[0]?.msg, 'mount audit');
      assert.equal(parsed[0]?.pod, 'web-0');
      assert.equal(parsed[1]?.firstMount, false);

      const again = fileAuditSink(path);
      again.write({ ...(parsed[0] as unknown as AuditRecord) });
      await again.close();
      assert.equal((await readFile(path, 'utf8')).trimEnd().split('\n').length, 3, 'appended, not truncated');
    });

    it('fails at once when the file cannot be opened', () => {
      assert.throws(() => fileAuditSink(join('/dev/null', 'audit.log')), /EEXIST|ENOTDIR/);
    });
  });
});
