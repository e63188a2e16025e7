// `npm run build && npx tsx bench/kube-client-memory.ts [label]`: what the provider's Kubernetes client costs in
// resident memory, in the daemon as the DaemonSet runs it (`node dist/main.js` with the image's NODE_OPTIONS,
// in-cluster: KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount files at their fixed path, through a private mount
// namespace as the real suite's in-cluster harness does; needs root for `unshare -m`).
//
// Per run, a fresh daemon against the fake API server over https: RssAnon (/proc/<pid>/status: the heap and other
// private pages, without the shared text of node itself) once it serves and has settled, then again after one
// mount without a driver token, which takes the TokenRequest fallback (and reads or creates the HMAC Secret). Vault
// answers that login with 403, so nothing else is loaded. Prints min / median / max over BENCH_RUNS runs (default 5).
// Nothing is asserted; the figures go into docs by hand, with the label of the build measured.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { FakeKubeApi } from '../test/helpers/fake-kube-api.js';
import { DriverClient } from '../test/helpers/grpc-client.js';
import { imageNodeOptions } from '../scripts/image/dockerfile.js';
import { createTlsMaterial } from '../test/vault-server/index.js';
import { inClusterArgs } from '../test/helpers/in-cluster.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? '5');
const SETTLE_MS = 3_000;
const label = process.argv[2] ?? 'this build';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function rssAnonMiB(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^RssAnon:\s+(\d+) kB/m.exec(text);
  if (m === null) throw new Error(`no RssAnon for ${pid}`);
  return Number(m[1]) / 1024;
}

async function oneRun(): Promise<{ idle: number; after: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'vcp-bench-kube-'));
  const tls = await createTlsMaterial();
  const kube = await FakeKubeApi.start({ tls: { key: tls.serverKeyPem, cert: tls.serverCertPem } });
  // Vault refuses every login at once: the mount ends right after the TokenRequest.
  const vault = createServer((_req, res) => res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":["permission denied"]}'));
  await new Promise<void>((resolve) => vault.listen(0, '127.0.0.1', resolve));
  const sa = join(dir, 'serviceaccount');
  await mkdir(sa);
  await writeFile(join(sa, 'token'), kube.token);
  await writeFile(join(sa, 'ca.crt'), tls.caCertPem);
  await writeFile(join(sa, 'namespace'), 'csi');
  const socket = join(dir, 'vault.sock');
  const child = spawn(
    'unshare',
    inClusterArgs(sa, [
      process.execPath,
      ...imageNodeOptions(),
      join(ROOT, 'dist/main.js'),
      `--endpoint=${socket}`,
      `--vault-addr=http://127.0.0.1:${(vault.address() as AddressInfo).port}`,
      '--health-addr=127.0.0.1:0',
    ]),
    { env: { PATH: process.env['PATH'] ?? '', KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(kube.url).port }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const client = new DriverClient(socket);
  try {
    for (let i = 0; !out.includes('"msg":"provider serving"'); i++) {
      if (i > 600 || child.exitCode !== null) throw new Error(`the provider did not start:\n${out.slice(-3000)}`);
      await sleep(50);
    }
    const pid = child.pid;
    if (pid === undefined) throw new Error('no pid');
    await sleep(SETTLE_MS);
    const idle = await rssAnonMiB(pid);
    const attributes = {
      'csi.storage.k8s.io/ephemeral': 'true',
      'csi.storage.k8s.io/pod.name': 'web-0',
      'csi.storage.k8s.io/pod.namespace': 'prod',
      'csi.storage.k8s.io/pod.uid': '9d1f5c3e-0000-4000-8000-000000000001',
      'csi.storage.k8s.io/serviceAccount.name': 'web',
      secretProviderClass: 'web-secrets',
      roleName: 'web',
      objects: stringify([{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }]),
    };
    await client
      .mount({ attributes: JSON.stringify(attributes), secrets: 'null', target_path: join(dir, 'target'), permission: '420', current_object_version: [] })
      .catch(() => undefined);
    if (kube.tokenRequests.length !== 1) throw new Error(`expected one TokenRequest, saw ${kube.tokenRequests.length}:\n${out.slice(-3000)}`);
    await sleep(SETTLE_MS);
    const after = await rssAnonMiB(pid);
    return { idle, after };
  } finally {
    client.close();
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    await kube.close();
    await new Promise((resolve) => vault.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

function summary(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
  return `min ${sorted[0]?.toFixed(1)}  median ${median.toFixed(1)}  max ${sorted.at(-1)?.toFixed(1)} MiB`;
}

const idle: number[] = [];
const after: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const r = await oneRun();
  idle.push(r.idle);
  after.push(r.after);
  console.log(`run ${i + 1}: idle ${r.idle.toFixed(1)} MiB, after one TokenRequest fallback ${r.after.toFixed(1)} MiB`);
}
const deltas = after.map((a, i) => a - (idle[i] ?? NaN));
console.log(`\n${label}, RssAnon over ${RUNS} runs (node ${process.version}, NODE_OPTIONS ${imageNodeOptions().join(' ')}):`);
console.log(`  idle daemon:                 ${summary(idle)}`);
console.log(`  after one TokenRequest:      ${summary(after)}`);
console.log(`  growth from the fallback:    ${summary(deltas)}`);
