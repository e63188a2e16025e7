// `npx tsx bench/tls-context.ts`: what one TLS context costs to make, with the test CA alone and with a client
// certificate too: what tls.connect spent on every connection when given `ca` before the transport shared one
// (docs/benchmark.md, "Earlier: CPU per republish").
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { createTlsMaterial } from '../test/vault-server/index.js';

const material = await createTlsMaterial();
const RUNS = 500;
const kinds: ReadonlyArray<readonly [string, SecureContextOptions]> = [
  ['a CA', { ca: [material.caCertPem] }],
  ['a CA and a client certificate', { ca: [material.caCertPem], cert: material.clientCertPem, key: material.clientKeyPem }],
];
for (const [label, options] of kinds) {
  for (let i = 0; i < 50; i++) createSecureContext(options);
  const started = performance.now();
  for (let i = 0; i < RUNS; i++) createSecureContext(options);
  console.log(`${label}: ${((performance.now() - started) / RUNS).toFixed(3)} ms per context (${RUNS} made)`);
}
