/** node-vault is loaded with a stand-in for axios, which a client with our transport never calls. */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import nodeVault, { AXIOS_STAND_IN } from '../../src/vault/node-vault.js';

const require = createRequire(import.meta.url);

describe('vault/node-vault', () => {
  it('puts the stand-in where node-vault looks for axios, so the real one is never loaded', () => {
    const axiosPath = require.resolve('axios', { paths: [dirname(require.resolve('node-vault'))] });
    assert.equal(require.cache[axiosPath]?.exports, AXIOS_STAND_IN);
  });

  it('builds a client over a request-promise transport without touching axios, which fails loudly if asked', async () => {
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
});
