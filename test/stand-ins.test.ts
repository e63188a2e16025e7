/** node-vault and prom-client load with stand-ins for axios and @opentelemetry/api, which we never use. */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import nodeVault from '../src/vault/node-vault.js';
import { Registry, collectDefaultMetrics } from '../src/observability/prom-client.js';
import { AXIOS_STAND_IN, installStandIn, OPENTELEMETRY_STAND_IN } from '../src/stand-ins.js';

const require = createRequire(import.meta.url);
const cached = (dependent: string, dependency: string): unknown =>
  require.cache[require.resolve(dependency, { paths: [dirname(require.resolve(dependent))] })]?.exports;

describe('stand-ins', () => {
  it('sit where node-vault and prom-client look for axios and the OpenTelemetry API, so the real ones never load', () => {
    assert.equal(cached('node-vault', 'axios'), AXIOS_STAND_IN);
    assert.equal(cached('prom-client', '@opentelemetry/api'), OPENTELEMETRY_STAND_IN);
  });

  it('leave a node-vault client over a request-promise transport working; axios fails loudly if ever asked', async () => {
    const calls: unknown[] = [];
    const transport = {
      defaults: () => (options: unknown) => {
        calls.push(options);
        return Promise.resolve({ statusCode: 200, body: { data: { ok: true } }, request: { path: '/v1/secret/x' } });
      },
    };
    const client = nodeVault({ endpoint: 'http://127.0.0.1:1', apiVersion: 'v1', 'request-promise': transport });
    assert.deepEqual(await client.read('secret/x'), { data: { ok: true } });
    assert.equal(calls.length, 1);
    assert.throws(() => AXIOS_STAND_IN.create(), /axios transport is not used/);
  });

  it("leave prom-client's default metrics working, process CPU included", async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const text = await registry.metrics();
    assert.match(text, /^process_cpu_seconds_total \d/m);
    assert.match(text, /^nodejs_heap_size_used_bytes \d/m);
  });

  it('install nothing for a dependency that cannot be found or is already loaded', () => {
    assert.equal(installStandIn('node-vault', 'no-such-package-here', {}), false);
    assert.equal(installStandIn('node-vault', 'axios', {}), false);
    assert.equal(cached('node-vault', 'axios'), AXIOS_STAND_IN);
  });
});
