/**
 * What Vault says to one tenant cannot stall or exhaust the daemon (issue 19, classes 4, 5 and 7, and responses at
 * the budget), through the real gRPC socket against the fake Vault. Each attack runs beside a victim mount of
 * another namespace, which must succeed; the attacker gets an error naming the object and what was exceeded, and
 * nothing leaks. Work and memory are checked by what the provider counts (the audit's bytes, refusals before the
 * parse), never by a timer.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startHarness, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import { samples } from '../helpers/prometheus.js';

const VICTIM: PodIdentity = { name: 'victim-0', namespace: 'team-b', uid: '7a0e1c2d-0000-4000-8000-00000000000b', serviceAccountName: 'victim' };

describe('e2e: what Vault answers one tenant is bounded (issue 19, classes 4, 5, 7)', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.addKubernetesRole('kubernetes', 'victim', {
      boundServiceAccountNames: ['victim'],
      boundServiceAccountNamespaces: ['team-b'],
      audience: 'vault',
      policies: ['victim'],
      ttlSeconds: 3600,
    });
    h.vault.putPolicy('victim', 'path "secret/data/team-b/*" { capabilities = ["read"] }');
    h.vault.putKv('secret', 'team-b/db', { password: 'victim-password-3c1e' });
  });

  after(async () => h.close());

  afterEach(async () => {
    h.vault.clearFaults();
    await h.stopProvider();
  });

  async function victimMounts(): Promise<void> {
    const res = await h.client.mount(
      h.request({ pod: VICTIM, params: { roleName: 'victim' }, objects: [{ objectName: 'password', secretPath: 'secret/data/team-b/db', secretKey: 'password' }] }),
    );
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), 'victim-password-3c1e');
  }

  async function metric(name: string): Promise<Map<string, number>> {
    const res = await fetch(`http://127.0.0.1:${h.provider.healthAddress!.port}/metrics`);
    return samples(await res.text(), name);
  }

  it('class 4: a refused PKI common_name of 64 KiB echoed by Vault is cut before any scan; the victim mounts', async () => {
    await h.startProvider();
    const echo = `${'eyJ'.repeat(Math.floor((64 * 1024) / 3))}.prod.svc.evil.org`;
    const [attack] = await Promise.all([
      h.client.mountError(
        h.request({ objects: [{ objectName: 'tls/crt', secretPath: 'pki/issue/web', method: 'PUT', secretKey: 'certificate', secretArgs: { common_name: echo } }] }),
      ),
      victimMounts(),
    ]);
    assert.equal(attack.code, status.FAILED_PRECONDITION);
    assert.match(attack.details, /^VAULT_REQUEST_REJECTED: object "tls\/crt" \(Vault path pki\/issue\/web\): Vault rejected PUT http:\/\/127\.0\.0\.1:\d+\/v1\/pki\/issue\/web \(400\): common name /);
    // Vault's part is a bounded quote in which the echoed run is redacted or dropped, never shown.
    assert.ok(attack.details.length < 500, `${attack.details.length} characters`);
    assert.ok(!attack.details.includes('eyJeyJ'), attack.details.slice(0, 300));
  });

  it('class 4: an error text of 1 MiB with a token across the cut shows no part of the token', async () => {
    await h.startProvider();
    const token = `hvs.${'Q'.repeat(90)}`;
    const text = `role lookup failed: ${'x '.repeat(1_010)}${token} ${'y'.repeat(1024 * 1024)}`;
    h.vault.injectFault({ pathPrefix: 'secret/data/app', status: 400, body: { errors: [text, ...Array.from({ length: 10_000 }, (_, i) => `also ${i}`)] }, times: 1 });
    const [attack] = await Promise.all([h.client.mountError(h.request({ objects: [{ objectName: 'app', secretPath: 'secret/data/app', secretKey: 'k' }] })), victimMounts()]);
    assert.equal(attack.code, status.FAILED_PRECONDITION);
    assert.match(attack.details, /^VAULT_REQUEST_REJECTED: object "app" .*: role lookup failed: x x x/);
    assert.match(attack.details, /; also 0; also 1; also 2; and 9997 more$/);
    assert.ok(!attack.details.includes('QQQQQQQQ'), 'no part of the token');
    assert.ok(h.logs.every((l) => !l.includes('QQQQQQQQ')), 'nor in a log line');
  });

  it('class 5: expand: pki over 512 KiB of "-----BEGIN A-----" lines is refused naming the object; the victim mounts', async () => {
    await h.startProvider();
    h.vault.putKv('secret', 'fake-bundle', { certificate: '-----BEGIN A-----\n'.repeat(Math.floor((512 * 1024) / 18)), private_key: 'x', issuing_ca: 'y' });
    const [attack] = await Promise.all([
      h.client.mountError(h.request({ objects: [{ objectName: 'tls', secretPath: 'secret/data/fake-bundle', expand: 'pki' }] })),
      victimMounts(),
    ]);
    assert.equal(attack.code, status.FAILED_PRECONDITION);
    assert.match(attack.details, /^DECODE_FAILED: object "tls" \(Vault path secret\/data\/fake-bundle\): field "certificate" holds no PEM certificate/);
  });

  it('a response with more JSON values than --vault-response-max-values fails before its parse, naming the object and the flag', async () => {
    await h.startProvider({ vaultResponseMaxValues: 20_000 });
    h.vault.putKv('secret', 'wide', Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'])));
    h.vault.putKv('secret', 'narrow', Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`k${i}`, 'v'])));
    const [attack] = await Promise.all([h.client.mountError(h.request({ objects: [{ objectName: 'all.json', secretPath: 'secret/data/wide' }] })), victimMounts()]);
    assert.equal(attack.code, status.RESOURCE_EXHAUSTED);
    assert.match(attack.details, /^MOUNT_TOO_LARGE: object "all\.json" \(Vault path secret\/data\/wide\): Vault's response holds more than 20000 JSON values \(--vault-response-max-values\)/);
    const ok = await h.client.mount(h.request({ objects: [{ objectName: 'all.json', secretPath: 'secret/data/narrow' }] }));
    assert.equal(ok.files.length, 1);
    // The refusal is the tenant's alone: the address is not marked failed, and nothing stays charged.
    assert.equal(h.provider.admission.bytesInFlight, 0);
  });

  it('class 7: optional objects with long names over 65 volumes stay within --audit-state-max-bytes', async () => {
    const maxBytes = 512 * 1024;
    await h.startProvider({ auditStateMaxBytes: maxBytes });
    h.vault.putKv('secret', 'sparse', { present: 'yes' });
    // 40 optional objects with long names, absent keys of one secret: one read a mount, ~26 KiB of audit state.
    const objects = Array.from({ length: 40 }, (_, i) => ({ objectName: `${'o'.repeat(240)}-${i}`, secretPath: 'secret/data/sparse', secretKey: `missing-${i}`, optional: true }));
    for (let v = 0; v < 65; v++) {
      const pod: PodIdentity = { name: `web-${v}`, namespace: 'prod', uid: `00000000-0000-4000-8000-${String(v).padStart(12, '0')}`, serviceAccountName: 'web' };
      const res = await h.client.mount(h.request({ pod, objects }));
      assert.equal(res.files.length, 0);
      assert.equal(res.object_version.length, 40);
    }
    const bytes = (await metric('vault_csi_provider_cache_bytes')).get('{cache="audit"}')!;
    const volumes = (await metric('vault_csi_provider_cache_entries')).get('{cache="audit"}')!;
    assert.ok(bytes > 0 && bytes <= maxBytes, `${bytes} bytes of audit state`);
    assert.ok(volumes > 0 && volumes < 65, `${volumes} volumes remembered`);
    assert.equal(h.provider.audit.rememberedBytes, bytes);
    await victimMounts();
    const delay = await metric('vault_csi_provider_event_loop_delay_seconds');
    assert.ok(delay.has('{quantile="1"}'), 'the event-loop delay is exported');
  });
});

