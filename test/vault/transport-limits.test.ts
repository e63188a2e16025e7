/** The transport's limits on what Vault sends back: nesting depth (found by the Mount-path fuzzer). */
import assert from 'node:assert/strict';
import http from 'node:http';
import { MAX_JSON_DEPTH, ResponseTooDeepError, UndiciTransport } from '../../src/vault/transport.js';
import { scanJson } from '../../src/vault/json-scan.js';
import { classifyFailure } from '../../src/vault/failures.js';

function nested(depth: number): string {
  return `{"data":{"data":{"k":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
}

describe('vault/transport limits', () => {
  it('measures nesting on the bytes, before any parse, whatever the depth', () => {
    const depth = (text: string): number => scanJson(Buffer.from(text)).depth;
    assert.equal(depth('{"a":[1,{"b":2}]}'), 3);
    assert.equal(depth('{"a":[1,{"b":{}}]}'), 4);
    assert.equal(depth('"text"'), 0);
    // Brackets inside strings, escaped quotes included, are not nesting.
    assert.equal(depth('{"a":"[[[{{{\\"[[["}'), 1);
    assert.equal(depth(nested(100_000)), 100_003);
  });

  it('refuses a 200 nested deeper than the limit as a bad response naming the path, and accepts one just inside it', async () => {
    let body = '';
    const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    const transport = new UndiciTransport({ tls: { ca: undefined, cert: undefined, key: undefined, servername: undefined, rejectUnauthorized: true }, requestTimeoutMs: 5_000 });
    try {
      body = nested(MAX_JSON_DEPTH - 4);
      const ok = await transport.send({ method: 'GET', uri: `http://127.0.0.1:${port}/v1/secret/data/x` });
      assert.equal(ok.statusCode, 200);
      body = nested(MAX_JSON_DEPTH);
      const err = await transport.send({ method: 'GET', uri: `http://127.0.0.1:${port}/v1/secret/data/x` }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ResponseTooDeepError);
      const failure = classifyFailure(err, { address: `http://127.0.0.1:${port}`, path: '/v1/secret/data/x', method: 'GET' }, undefined);
      assert.equal(failure.error.code, 'BAD_VAULT_RESPONSE');
      assert.equal(failure.transient, false);
      assert.match(failure.error.message, /nested deeper than 512 levels for GET http:\/\/127\.0\.0\.1:\d+\/v1\/secret\/data\/x/);
    } finally {
      await transport.close();
      server.close();
    }
  });
});
