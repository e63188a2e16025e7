/**
 * `npm run demo`: the whole path on one machine, no cluster needed.
 *
 * 1. starts the Vault-compatible dev server (test/vault-server/main.ts) in its own process;
 * 2. starts the provider (src/main.ts) in its own process on a temporary Unix socket, as the DaemonSet runs it;
 * 3. sends one Mount through the gRPC contract, built from examples/demo-secretproviderclass.yaml the way the
 *    driver builds it (parameters + pod attributes + the pod's ServiceAccount token);
 * 4. prints the files it got back, then stops both processes.
 * The values printed are the dev server's demo values: a real deployment never prints contents.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DriverClient } from '../test/helpers/grpc-client.js';

const ROOT = new URL('..', import.meta.url).pathname;
// The pod the demo mounts as; the dev server binds the demo token to it, as the kubelet binds a pod's token.
const POD = { name: 'demo-pod', uid: '00000000-0000-4000-8000-000000000001' } as const;

function start(args: readonly string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = (async function* () {
    let buffered = '';
    for await (const chunk of child.stdout) {
      buffered += (chunk as Buffer).toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        yield buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
      }
    }
  })();
  return { child, lines };
}

async function firstLine(lines: AsyncIterableIterator<string>, test: (line: string) => boolean, what: string): Promise<string> {
  // next() by hand: leaving a for-await loop early would close the generator, and the caller reads on.
  for (let r = await lines.next(); r.done !== true; r = await lines.next()) if (test(r.value)) return r.value;
  throw new Error(`${what} exited before it was ready`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vault-csi-demo-'));
  const jwtPath = join(dir, 'demo.jwt');
  const keyPath = join(dir, 'hmac.key');
  const socket = join(dir, 'providers', 'vault.sock');
  await writeFile(keyPath, 'demo-hmac-key-not-for-production', { mode: 0o600 });
  const children: ChildProcess[] = [];
  try {
    console.log('1. starting the Vault-compatible dev server …');
    const vault = start(['test/vault-server/main.ts', '--jwt-out', jwtPath, '--pod-name', POD.name, '--pod-uid', POD.uid]);
    children.push(vault.child);
    const info = JSON.parse(await firstLine(vault.lines, (l) => l.startsWith('{'), 'the dev server')) as { address: string };
    console.log(`   Vault at ${info.address}`);

    console.log('2. starting the provider …');
    const provider = start(['src/main.ts', `--endpoint=${socket}`, `--vault-addr=${info.address}`, `--hmac-key-file=${keyPath}`, '--health-addr=127.0.0.1:0']);
    children.push(provider.child);
    await firstLine(provider.lines, (l) => l.includes('"msg":"provider serving"'), 'the provider');
    console.log(`   provider serving on ${socket}`);
    // Keep reading the provider's log so its pipe never fills; show the per-mount line.
    void (async () => {
      for await (const line of provider.lines) if (line.includes('"msg":"mount')) console.log(`   provider log: ${line}`);
    })();

    const spc = parse(await readFile(join(ROOT, 'examples/demo-secretproviderclass.yaml'), 'utf8')) as {
      metadata: { name: string };
      spec: { parameters: Record<string, string> };
    };
    const jwt = (await readFile(jwtPath, 'utf8')).trim();
    const attributes = {
      ...spc.spec.parameters,
      secretProviderClass: spc.metadata.name,
      'csi.storage.k8s.io/pod.name': POD.name,
      'csi.storage.k8s.io/pod.namespace': 'default',
      'csi.storage.k8s.io/pod.uid': POD.uid,
      'csi.storage.k8s.io/serviceAccount.name': 'demo',
      'csi.storage.k8s.io/ephemeral': 'true',
      'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ vault: { token: jwt, expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() } }),
    };

    console.log(`3. Mount of SecretProviderClass "${spc.metadata.name}" through the gRPC API …`);
    const client = new DriverClient(socket);
    const version = await client.version();
    console.log(`   Version: ${version.runtime_name} ${version.runtime_version} (${version.version})`);
    const res = await client.mount({ attributes: JSON.stringify(attributes), secrets: 'null', target_path: join(dir, 'target'), permission: '420' });
    client.close();

    console.log(`4. ${res.files.length} files:\n`);
    const versions = new Map(res.object_version.map((v) => [v.id, v.version]));
    for (const file of res.files) {
      const text = Buffer.from(file.contents).toString('utf8');
      const shown = text.length > 160 ? `${text.slice(0, 160).replace(/\n/g, '\\n')}… (${text.length} bytes)` : text.replace(/\n/g, '\\n');
      console.log(`   ${file.path.padEnd(20)} mode ${file.mode.toString(8).padStart(4, '0')}  version ${versions.get(file.path)?.slice(0, 12) ?? '-'}…  ${shown}`);
    }
    console.log('\n(the dev server\'s demo values; a real provider never prints contents)');
  } finally {
    for (const child of children.reverse()) await stop(child);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
