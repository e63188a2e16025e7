/**
 * Metrics and the audit trail through the real provider: counts on /metrics match what Vault saw, labels carry no
 * pod names or secret paths, and the audit file has one line per Mount with versions, changes and results — and
 * never a value, token or JWT.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import { samples } from '../helpers/prometheus.js';

const OBJECTS = [
  { objectName: 'db-password', secretPath: 'secret/data/obs/db', secretKey: 'password' },
  { objectName: 'db-user', secretPath: 'secret/data/obs/db', secretKey: 'user' },
  { objectName: '.api-key', secretPath: 'secret/data/obs/api', secretKey: 'key' },
];
const VALUES = ['obs-pass-1f9a', 'obs-user-77c2', 'obs-api-key-0b3d', 'obs-pass-rotated-5e1c'];

async function scrape(h: Harness): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${h.provider.healthAddress!.port}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

interface AuditLine {
  pod: string;
  namespace: string;
  serviceAccount: string;
  secretProviderClass: string;
  result: string;
  grpcCode: string;
  firstMount: boolean;
  objects: Array<{ name: string; vaultPath: string; version?: string; changed?: boolean; cached: boolean; result: string }>;
}

describe('e2e: metrics and audit', function () {
  this.timeout(30_000);
  let h: Harness;
  let auditPath: string;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'obs/db', { password: VALUES[0]!, user: VALUES[1]! });
    h.vault.putKv('secret', 'obs/api', { key: VALUES[2]! });
    auditPath = join(h.dir, 'audit', 'audit.log');
    await h.startProvider({ auditLogFile: auditPath });
  });

  after(async () => {
    await h.close();
  });

  it('counts mounts, Vault requests, logins and token-cache hits as Vault saw them', async () => {
    await h.client.mount(h.request({ objects: OBJECTS }));
    await h.client.mount(h.request({ objects: OBJECTS }));
    await assert.rejects(h.client.mount(h.request({ objects: [{ objectName: 'gone', secretPath: 'secret/data/obs/missing' }] })));

    const text = await scrape(h);
    const mounts = samples(text, 'vault_csi_provider_mounts_total');
    assert.equal(mounts.get('{result="ok",grpc_code="OK"}'), 2);
    assert.equal(mounts.get('{result="SECRET_NOT_FOUND",grpc_code="NOT_FOUND"}'), 1);
    assert.equal(samples(text, 'vault_csi_provider_mount_duration_seconds_count').get('{result="ok"}'), 2);
    assert.equal(samples(text, 'vault_csi_provider_mounts_in_flight').get(''), 0);

    const requests = samples(text, 'vault_csi_provider_vault_requests_total');
    assert.equal(requests.get('{operation="login",status="200"}'), h.vault.countRequests({ kind: 'login', status: 200 }));
    assert.equal(requests.get('{operation="login",status="200"}'), 1, 'one login, then the cached token');
    assert.equal(requests.get('{operation="read",status="200"}'), h.vault.countRequests({ kind: 'read', status: 200 }));
    assert.equal(requests.get('{operation="read",status="200"}'), 4, 'two distinct paths per mount');
    assert.equal(requests.get('{operation="read",status="404"}'), 1);
    assert.equal(samples(text, 'vault_csi_provider_vault_logins_total').get('{result="ok"}'), 1);
    const cache = samples(text, 'vault_csi_provider_cache_events_total');
    assert.equal(cache.get('{cache="token",event="miss"}'), 1);
    assert.equal(cache.get('{cache="token",event="hit"}'), 2);
    assert.equal(samples(text, 'vault_csi_provider_cache_entries').get('{cache="token"}'), 1);

    // Bounded labels: nothing that names a pod, a namespace, a role or a path, and of course no value or token.
    for (const forbidden of [POD.name, POD.uid, 'web-secrets', 'obs/db', 'obs/api', 'db-password', '"prod"']) {
      assert.ok(!text.includes(forbidden), `metrics mention ${forbidden}`);
    }
    assertNoLeaks('metrics', [text], VALUES);
  });

  it('writes one audit line per Mount to the audit file, with changes since the pod\'s last mount', async () => {
    h.vault.putKv('secret', 'obs/db', { password: VALUES[3]!, user: VALUES[1]! });
    await h.client.mount(h.request({ objects: OBJECTS }));

    const text = await readFile(auditPath, 'utf8');
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditLine);
    assert.equal(lines.length, 4, 'three mounts in the test before, one here');
    const [first, second, failed, rotated] = lines as [AuditLine, AuditLine, AuditLine, AuditLine];
    assert.deepEqual(
      { pod: first.pod, namespace: first.namespace, serviceAccount: first.serviceAccount, secretProviderClass: first.secretProviderClass, result: first.result },
      { pod: POD.name, namespace: POD.namespace, serviceAccount: POD.serviceAccountName, secretProviderClass: 'web-secrets', result: 'ok' },
    );
    assert.equal(first.firstMount, true);
    assert.deepEqual(first.objects.map((o) => [o.name, o.vaultPath, o.changed, o.cached, o.result]), [
      ['db-password', 'secret/data/obs/db', true, false, 'ok'],
      ['db-user', 'secret/data/obs/db', true, false, 'ok'],
      ['.api-key', 'secret/data/obs/api', true, false, 'ok'],
    ]);
    for (const o of first.objects) assert.match(o.version ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(second.firstMount, false);
    assert.deepEqual(second.objects.map((o) => o.changed), [false, false, false]);
    assert.deepEqual(
      { result: failed.result, grpcCode: failed.grpcCode, objects: failed.objects.map((o) => [o.name, o.result, o.version]) },
      { result: 'SECRET_NOT_FOUND', grpcCode: 'NOT_FOUND', objects: [['gone', 'SECRET_NOT_FOUND', undefined]] },
    );
    assert.deepEqual(rotated.objects.map((o) => [o.name, o.changed]), [['db-password', true], ['db-user', false], ['.api-key', false]]);

    assertNoLeaks('audit file', text.split('\n'), VALUES);
    assert.equal(h.logLinesWith('mount audit').length, 0, 'audit lines went to their own file only');
  });

  it('marks objects answered by the pod\'s kept certificate as cached, and counts the lease-cache hit', async () => {
    const pki = [
      { objectName: 'tls.crt', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'a.prod.svc', ttl: '1h' }, secretKey: 'certificate' },
      { objectName: 'tls.key', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'a.prod.svc', ttl: '1h' }, secretKey: 'private_key' },
    ];
    const before = h.vault.countRequests({ kind: 'issue' });
    await h.client.mount(h.request({ objects: pki }));
    await h.client.mount(h.request({ objects: pki }));
    assert.equal(h.vault.countRequests({ kind: 'issue' }) - before, 1, 'one certificate issued, then kept for the pod');

    const lines = (await readFile(auditPath, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditLine);
    const [issued, kept] = lines.slice(-2) as [AuditLine, AuditLine];
    assert.deepEqual(issued.objects.map((o) => [o.name, o.cached, o.changed]), [['tls.crt', false, true], ['tls.key', false, true]]);
    assert.deepEqual(kept.objects.map((o) => [o.name, o.cached, o.changed]), [['tls.crt', true, false], ['tls.key', true, false]]);
    assert.equal(samples(await scrape(h), 'vault_csi_provider_cache_events_total').get('{cache="lease",event="hit"}'), 1);
  });

  it('writes audit lines into the main log when no audit file is set', async () => {
    await h.stopProvider();
    h.logs.length = 0;
    await h.startProvider();
    await h.client.mount(h.request({ objects: OBJECTS }));
    const lines = h.logLinesWith('"mount audit"').map((l) => JSON.parse(l) as AuditLine & { audit: boolean; component: string });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.audit, true);
    assert.equal(lines[0]!.component, 'audit');
    assert.equal(lines[0]!.objects.length, 3);
    assertNoLeaks('provider log', h.logs, VALUES);
  });
});
