// Runs the test Vault as its own process for benchmarks and the demo:
//   npx tsx test/vault-server/main.ts [--port N] [--host H] [--root-token T] [--jwt-out FILE]
//                                     [--jwt-ttl SECONDS] [--tls-dir DIR] [--pod-name NAME] [--pod-uid UID]
// Prints one JSON line ({ address, rootToken, ... }) on stdout once listening; stops on SIGTERM/SIGINT.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createTlsMaterial, ServiceAccountJwtIssuer, startTestVault, writeTlsFiles, type TlsFiles } from './index.js';

const DEMO_POLICY = `
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
path "kv/*" { capabilities = ["read", "list"] }
path "database/creds/*" { capabilities = ["read"] }
path "pki/issue/*" { capabilities = ["create", "update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'root-token': { type: 'string', default: 'root' },
      'jwt-out': { type: 'string' },
      'jwt-ttl': { type: 'string', default: '86400' },
      'tls-dir': { type: 'string' },
      // The pod the --jwt-out token is bound to, as the kubelet binds a projected token: the provider refuses a
      // token bound to another pod, so the demo passes the pod it mounts as.
      'pod-name': { type: 'string', default: 'demo-pod' },
      'pod-uid': { type: 'string', default: '00000000-0000-4000-8000-000000000001' },
    },
    strict: true,
  });

  let tlsFiles: TlsFiles | undefined;
  let tls: { key: string; cert: string } | undefined;
  if (values['tls-dir'] !== undefined) {
    const material = await createTlsMaterial();
    tlsFiles = await writeTlsFiles(material, values['tls-dir']);
    tls = { key: material.serverKeyPem, cert: material.serverCertPem };
  }

  const vault = await startTestVault({
    host: values.host, port: Number.parseInt(values.port, 10), rootToken: values['root-token'], ...(tls ? { tls } : {}),
    // Benchmarks send many requests; keep the log from growing without bound.
    requestLogLimit: 10_000,
  });
  const issuer = new ServiceAccountJwtIssuer();

  vault.enableKv('secret', 2);
  vault.putKv('secret', 'demo', { username: 'demo-user', password: 'demo-password' });
  vault.enableKv('kv', 1);
  vault.putKv('kv', 'demo', { api_key: 'demo-api-key' });
  vault.putPolicy('demo', DEMO_POLICY);
  vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem] });
  vault.addKubernetesRole('kubernetes', 'demo', {
    boundServiceAccountNames: ['demo'], boundServiceAccountNamespaces: ['default'], policies: ['demo'], ttlSeconds: 3600,
  });
  vault.enableDatabase('database');
  vault.addDatabaseRole('database', 'demo', { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 });
  await vault.enablePki('pki');
  vault.addPkiRole('pki', 'demo', { allowedDomains: ['demo.svc.cluster.local', 'example.com'], allowSubdomains: true, allowBareDomains: true, maxTtlSeconds: 72 * 3600, keyType: 'ec' });

  const jwtOut = values['jwt-out'];
  if (jwtOut !== undefined) {
    const jwt = issuer.signServiceAccountJwt({
      namespace: 'default', serviceAccountName: 'demo', podName: values['pod-name'], podUid: values['pod-uid'],
      ttlSeconds: Number.parseInt(values['jwt-ttl'], 10),
    });
    await writeFile(jwtOut, jwt, { mode: 0o600 });
  }

  process.stdout.write(`${JSON.stringify({
    address: vault.address,
    rootToken: vault.rootToken,
    role: 'demo',
    authMount: 'kubernetes',
    serviceAccount: { namespace: 'default', name: 'demo' },
    ...(jwtOut !== undefined ? { jwtPath: jwtOut } : {}),
    ...(tlsFiles ? { caCertPath: tlsFiles.caFile, caDir: tlsFiles.caDir } : {}),
  })}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void vault.close().then(async () => {
      await tlsFiles?.cleanup();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`test vault failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
