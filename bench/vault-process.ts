// The benchmark's Vault: the Vault-compatible test server in its own process, forked by bench/rotation.ts with an
// IPC channel. It is seeded from the bench's first message (the public key of the bench's ServiceAccount JWT
// issuer, how many KV secrets), then answers request counts by kind and clears its request log on request.
// Never shipped.
import { REQUEST_KINDS, startTestVault, type RequestKind } from '../test/vault-server/index.js';

export interface SetupMessage {
  readonly type: 'setup';
  readonly publicKeyPem: string;
  readonly kvSecrets: number;
}
export type BenchRequest = SetupMessage | { readonly type: 'counts' } | { readonly type: 'clear' } | { readonly type: 'stop' };
export type BenchReply =
  | { readonly type: 'ready'; readonly address: string }
  | { readonly type: 'counts'; readonly counts: Record<RequestKind, number> }
  | { readonly type: 'cleared' };

export const BENCH_POLICY = `
path "secret/data/*" { capabilities = ["read"] }
path "database/creds/bench" { capabilities = ["read"] }
path "pki/issue/bench" { capabilities = ["create", "update"] }
`;

function reply(message: BenchReply): void {
  process.send?.(message);
}

async function setup(message: SetupMessage): Promise<void> {
  // Each round is cleared before it runs; the largest makes about 20 000 requests.
  const vault = await startTestVault({ requestLogLimit: 200_000 });
  vault.enableKv('secret', 2);
  for (let i = 0; i < message.kvSecrets; i++) vault.putKv('secret', `app-${i}`, { password: `bench-password-${i}`, user: `user-${i}` });
  // One path holding as many keys as there are KV secrets: the "10 objects, 1 path" volume.
  vault.putKv('secret', 'wide', Object.fromEntries(Array.from({ length: message.kvSecrets }, (_, i) => [`key-${i}`, `bench-value-${i}`])));
  vault.putPolicy('bench', BENCH_POLICY);
  vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [message.publicKeyPem] });
  vault.addKubernetesRole('kubernetes', 'bench', {
    boundServiceAccountNames: ['*'], boundServiceAccountNamespaces: ['bench'], policies: ['bench'], ttlSeconds: 3600,
  });
  vault.enableDatabase('database');
  vault.addDatabaseRole('database', 'bench', { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 });
  await vault.enablePki('pki');
  vault.addPkiRole('pki', 'bench', { allowedDomains: ['bench.svc'], allowSubdomains: true, maxTtlSeconds: 86400, keyType: 'ec' });

  process.on('message', (raw: BenchRequest) => {
    if (raw.type === 'counts') {
      const counts = Object.fromEntries(REQUEST_KINDS.map((k) => [k, vault.countRequests({ kind: k })])) as Record<RequestKind, number>;
      reply({ type: 'counts', counts });
    } else if (raw.type === 'clear') {
      vault.clearRequests();
      reply({ type: 'cleared' });
    } else if (raw.type === 'stop') {
      void vault.close().then(() => process.exit(0));
    }
  });
  reply({ type: 'ready', address: vault.address });
}

process.once('message', (first: BenchRequest) => {
  if (first.type !== 'setup') {
    process.stderr.write('bench vault: the first message must be setup\n');
    process.exit(2);
  }
  setup(first).catch((err: unknown) => {
    process.stderr.write(`bench vault failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
});
// Stop with the bench, whatever happens to it.
process.on('disconnect', () => process.exit(0));
