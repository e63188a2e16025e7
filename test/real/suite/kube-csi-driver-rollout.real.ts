/**
 * A rolling update as the DaemonSet does it with `maxSurge: 1, maxUnavailable: 0`, under load, with the real driver
 * binary (v1.6.1) and kube-apiserver: csi-kubelet publishes and republishes the volumes of six pods continuously
 * (the driver calls our provider on every republish: --rotation-poll-interval 1s) while the provider is replaced
 * several times — the new process (dist/main.js with the image's NODE_OPTIONS, --state-dir) starts beside the old
 * one and takes the socket over, then the old one gets SIGTERM — and a second instance is started by mistake and
 * stopped again. Counted: publishes the driver failed, republish failures the driver hides in its log, moments the
 * path held no socket that accepts a connection (polled every few milliseconds), and, from Vault's audit device,
 * logins and certificates issued after the first publish of each pod. All must be zero.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installDriver, RealCsiDriver, type PublishAnswer } from '../harness/csi-driver.js';
import { KubeControlPlane } from '../harness/kube.js';
import { configureKubernetesAuth, configureWebRole, createPod, createReviewer, createWebSecretProviderClass, podToken, type PodRef } from '../harness/kube-vault.js';
import { sleep } from '../harness/processes.js';
import { RealVault } from '../harness/vault-dev.js';
import { VaultAudit } from '../harness/vault-audit.js';
import { DaemonProcess, waitForServing } from '../../helpers/daemon-process.js';
import { imageNodeOptions } from '../../../scripts/image/dockerfile.js';
import { probeSocket } from '../../../src/server/socket-path.js';
import { assertNoLeaks } from '../../helpers/leak-check.js';

const PODS = 6;
const REPLACEMENTS = 4;

describe('real control plane: a surge rollout of the provider under load, through the real driver', function () {
  let kube: KubeControlPlane;
  let vault: RealVault;
  let audit: VaultAudit;
  let driver: RealCsiDriver;
  let dir: string;
  let pods: PodRef[];
  const daemons: DaemonProcess[] = [];

  const socketDir = () => join(dir, 'providers');
  const socket = () => join(socketDir(), 'vault.sock');

  /** One provider process as the DaemonSet's container runs it; all share the socket directory, key and state. */
  async function startInstance(): Promise<DaemonProcess> {
    const d = new DaemonProcess(
      [`--endpoint=${socket()}`, `--vault-addr=${vault.address}`, `--hmac-key-file=${join(dir, 'hmac.key')}`, `--state-dir=${join(dir, 'state')}`, '--health-addr=127.0.0.1:0', '--log-level=info'],
      { NODE_OPTIONS: imageNodeOptions().join(' ') },
    );
    daemons.push(d);
    await waitForServing(d);
    return d;
  }

  async function stopInstance(d: DaemonProcess): Promise<void> {
    d.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  }

  before(async function () {
    this.timeout(900_000);
    dir = await mkdtemp(join(tmpdir(), 'vcp-real-rollout-'));
    await mkdir(socketDir(), { recursive: true });
    await writeFile(join(dir, 'hmac.key'), 'rollout-hmac-key-0123456789abcdef', { mode: 0o600 });
    kube = await KubeControlPlane.start({ extraAudiences: ['vault'] });
    const driverKubeconfig = await installDriver(kube);
    await kube.must('POST', '/api/v1/namespaces', { metadata: { name: 'prod' } });
    await kube.must('POST', '/api/v1/namespaces/prod/serviceaccounts', { metadata: { name: 'web' } });
    const reviewerJwt = await createReviewer(kube);

    vault = await RealVault.start();
    audit = await VaultAudit.enable(vault, join(dir, 'vault-audit.log'));
    await vault.must('POST', 'secret/data/web', { data: { password: 'pw-rollout' } });
    await vault.must('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
    await vault.must('POST', 'pki/root/generate/internal', { common_name: 'Rollout Root CA', ttl: '87600h', key_type: 'ec', key_bits: 256 });
    await vault.must('POST', 'pki/roles/web', { allowed_domains: 'prod.svc', allow_subdomains: true, max_ttl: '72h', key_type: 'ec', key_bits: 256 });
    await configureKubernetesAuth(vault, kube, reviewerJwt);
    await configureWebRole(vault, 'path "pki/issue/web" { capabilities = ["update"] }');
    await createWebSecretProviderClass(kube, [
      '- objectName: "tls.crt"',
      '  secretPath: "pki/issue/web"',
      '  secretKey: "certificate"',
      '  method: "PUT"',
      '  secretArgs:',
      '    common_name: "web.prod.svc"',
      '    ttl: "2h"',
    ]);
    pods = [];
    for (let i = 0; i < PODS; i++) pods.push(await createPod(kube, 'prod', `web-${i}`, 'web', { secretProviderClass: 'web-secrets' }));
    driver = await RealCsiDriver.start({ kubeconfig: driverKubeconfig, providerDir: socketDir(), rotationPollInterval: '1s' });
  });

  after(async () => {
    for (const d of daemons) d.kill('SIGKILL');
    await driver?.stop();
    await vault?.stop();
    await kube?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it(`replaced ${REPLACEMENTS} times and once doubled by mistake: 0 failed mounts, never a moment without a socket, no login, no certificate re-issued`, async function () {
    this.timeout(600_000);
    let current = await startInstance();
    const tokens = new Map<string, { token: string; expirationTimestamp: string }>();
    for (const p of pods) tokens.set(p.uid, await podToken(kube, p));
    const publish = (p: PodRef): Promise<PublishAnswer> => driver.publish({ pod: p, volumeAttributes: { secretProviderClass: 'web-secrets' }, tokens: { vault: tokens.get(p.uid)! } });

    // The first publish of every pod: one login and one certificate each.
    await audit.mark();
    const certs = new Map<string, string>();
    for (const p of pods) {
      const m = await publish(p);
      assert.equal(m.grpcCode, '', `${p.name}: ${m.grpcMessage}\n${driver.log.slice(-2000)}`);
      assert.equal(m.files.get('password')?.text, 'pw-rollout');
      certs.set(p.uid, m.files.get('tls.crt')!.text);
    }
    assert.equal((await audit.requests('auth/kubernetes/login')).length, PODS);
    assert.equal((await audit.requests('pki/issue/')).length, PODS);
    await audit.mark();
    const driverLogBefore = driver.log.length;

    // Load: every pod republishes about every 1.2 s (past the driver's 1 s rotation poll: each one reaches us).
    let running = true;
    const failures: string[] = [];
    let publishes = 0;
    const loops = pods.map(async (p, i) => {
      await sleep(i * 200);
      while (running) {
        const m = await publish(p);
        publishes++;
        if (m.grpcCode !== '') failures.push(`${p.name}: ${m.grpcCode} ${m.grpcMessage}`);
        else if (m.files.get('password')?.text !== 'pw-rollout') failures.push(`${p.name}: password ${m.files.get('password')?.text}`);
        else if (m.files.get('tls.crt')?.text !== certs.get(p.uid)) failures.push(`${p.name}: the certificate changed`);
        await sleep(1_200);
      }
    });
    // The path, polled the whole time: a socket that accepts a connection, or a gap.
    const gaps: number[] = [];
    let polls = 0;
    const poller = (async () => {
      while (running) {
        if (!(await probeSocket(socket(), 2_000))) gaps.push(Date.now());
        polls++;
        await sleep(5);
      }
    })();

    const served: number[] = [];
    try {
      await sleep(3_000);
      for (let r = 0; r < REPLACEMENTS; r++) {
        // The DaemonSet controller: the new pod first; the old one is stopped once the new one is ready.
        const next = await startInstance();
        await sleep(3_000);
        await stopInstance(current);
        served.push(mountsOf(current));
        current = next;
        await sleep(3_000);
      }
      // A second instance started by mistake takes the path over; stopped, it hands the path back.
      const mistake = await startInstance();
      await sleep(3_000);
      await stopInstance(mistake);
      assert.match(mistake.out.join(''), /"socket":"handed-to-sibling"/);
      served.push(mountsOf(mistake));
      await sleep(3_000);
    } finally {
      running = false;
      await Promise.all([...loops, poller]);
    }
    await stopInstance(current);
    served.push(mountsOf(current));

    const hidden = driver.log.slice(driverLogBefore).split('\n').filter((l) => /failed to mount secrets store object content|failed to rotate|provider not found|connection refused/i.test(l));
    const logins = (await audit.requests('auth/kubernetes/login')).length;
    const issued = (await audit.requests('pki/issue/')).length;
    const refused = daemons.flatMap((d) => d.lines()).filter((l) => l['msg'] === 'mount failed');
    const merged = daemons.flatMap((d) => d.lines()).filter((l) => l['msg'] === 'kept state merged from another instance').length;
    // The figures for the report: how much traffic went through, and where.
    console.log(
      `      rollout: ${publishes} publishes, ${served.join('/')} mounts served per instance, ${polls} path polls, ${gaps.length} gaps, ${failures.length} failed, ${hidden.length} hidden failures, ${refused.length} refused by a provider, ${logins} logins, ${issued} certificates issued, ${merged} merges`,
    );
    assert.deepEqual(failures, [], 'no publish failed');
    assert.deepEqual(hidden, [], 'no republish failure hidden in the driver log');
    assert.deepEqual(refused.map((l) => `${String(l['pod'])} ${String(l['result'])}`), [], 'no provider refused or failed a mount');
    assert.deepEqual(gaps, [], 'the path always held a socket that accepts');
    assert.equal(logins, 0, 'no login after the first publishes');
    assert.equal(issued, 0, 'no certificate re-issued');
    assert.ok(publishes >= PODS * 10, `${publishes} publishes`);
    assert.ok(served.filter((n) => n > 0).length >= REPLACEMENTS, `each instance served mounts: ${served.join('/')}`);
    for (const d of daemons) assertNoLeaks('a provider\'s output', [...d.out, ...d.err]);
  });
});

/** The mounts an instance answered, from its log. */
function mountsOf(d: DaemonProcess): number {
  return d.lines().filter((l) => l['msg'] === 'mount').length;
}
