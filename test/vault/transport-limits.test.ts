/** The transport's limits on what Vault sends back: nesting depth (found by the Mount-path fuzzer), values (issue 19). */
import assert from 'node:assert/strict';
import http from 'node:http';
import { DEFAULT_MAX_RESPONSE_VALUES, MAX_JSON_DEPTH, ResponseTooDeepError, ResponseTooLargeError, UndiciTransport, VaultHttpError } from '../../src/vault/transport.js';
import { AddressGates, DEFAULT_GATE_LIMITS } from '../../src/vault/rate-limit.js';
import { scanJson } from '../../src/vault/transport.js';
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

  it('counts the values of a body on its bytes, before any parse', () => {
    const values = (text: string): number => scanJson(Buffer.from(text)).values;
    // The top-level value, then each string, container and comma-separated entry.
    assert.equal(values('{"a":1}'), 3);
    assert.equal(values('{"a":1,"b":"x"}'), 6);
    assert.equal(values('[1,2,3]'), 4);
    assert.equal(values('{"a":"[,{\\",,"}'), 4);
  });

  it('refuses a 2xx with more JSON values than the cap while it arrives, as MOUNT_TOO_LARGE naming the flag', async () => {
    const keys = (n: number): string => JSON.stringify({ data: { data: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'])) } });
    let status = 200;
    let body = '';
    let parsedBodies = 0;
    const server = http.createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    const uri = `http://127.0.0.1:${port}/v1/secret/data/x`;
    const gates = new AddressGates(DEFAULT_GATE_LIMITS);
    const transport = new UndiciTransport({ tls: { ca: undefined, cert: undefined, key: undefined, servername: undefined, rejectUnauthorized: true }, requestTimeoutMs: 5_000, maxResponseValues: 1_000, gates });
    const gate = gates.for(`http://127.0.0.1:${port}`);
    let gateFailures = 0;
    gate.failed = () => void gateFailures++;
    const parse = JSON.parse;
    JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
      // The bodies served here; other parses (undici's, node-vault's) are not counted.
      if (text.length > 1_000) parsedBodies++;
      return parse(text, reviver) as unknown;
    }) as typeof JSON.parse;
    try {
      body = keys(300);
      assert.equal((await transport.send({ method: 'GET', uri })).statusCode, 200);
      assert.equal(parsedBodies, 1);
      body = keys(400);
      const err = await transport.send({ method: 'GET', uri }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ResponseTooLargeError, String(err));
      assert.equal(parsedBodies, 1, 'refused before the parse');
      const failure = classifyFailure(err, { address: `http://127.0.0.1:${port}`, path: '/v1/secret/data/x', method: 'GET' }, undefined);
      assert.equal(failure.error.code, 'MOUNT_TOO_LARGE');
      assert.equal(failure.transient, false);
      assert.match(failure.error.message, /more than 1000 JSON values \(--vault-response-max-values\) for GET http:\/\/127\.0\.0\.1:\d+\/v1\/secret\/data\/x/);
      // What one tenant stored is no failure of the address: the next request goes at once.
      assert.equal(gateFailures, 0);
      // An error status that large is still that status, unquoted.
      status = 400;
      body = JSON.stringify({ errors: Array.from({ length: 2_000 }, () => 'x') });
      const refused = await transport.send({ method: 'GET', uri }).then(() => undefined, (e: unknown) => e);
      assert.ok(refused instanceof VaultHttpError);
      assert.equal(refused.response.statusCode, 400);
      assert.equal(refused.response.body, undefined);
      assert.equal(parsedBodies, 1);
    } finally {
      JSON.parse = parse;
      await transport.close();
      server.close();
    }
    assert.equal(DEFAULT_MAX_RESPONSE_VALUES, 50_000);
  });
});
