/** The undici transport against a plain HTTP server: deadlines, aborts, size limits, non-JSON answers. */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { BodyTooLargeError } from '../../src/http/undici.js';
import nodeVault from 'node-vault';
import { NonJsonResponseError, splitUri, UndiciTransport, VaultHttpError, within } from '../../src/vault/transport.js';
import { classifyFailure } from '../../src/vault/failures.js';
import { MountAdmission, MountMemory } from '../../src/admission/mount-admission.js';
import { ProviderError } from '../../src/errors.js';
import { ManualClock } from '../helpers/clocks.js';
import { waitFor } from '../helpers/wait-for.js';
import { createTlsMaterial, type TlsMaterial } from '../vault-server/index.js';

const NO_TLS = { ca: undefined, cert: undefined, key: undefined, servername: undefined, rejectUnauthorized: true };

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

describe('vault/transport', () => {
  let server: http.Server;
  let handler: Handler;
  let base: string;
  const transports: UndiciTransport[] = [];
  const transport = (options: { requestTimeoutMs?: number; maxResponseBytes?: number } = {}): UndiciTransport => {
    const t = new UndiciTransport({ tls: NO_TLS, requestTimeoutMs: options.requestTimeoutMs ?? 5_000, ...(options.maxResponseBytes === undefined ? {} : { maxResponseBytes: options.maxResponseBytes }) });
    transports.push(t);
    return t;
  };
  const failure = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => assert.fail('expected a failure'), (err: unknown) => err);

  before(async () => {
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close()));
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends method, path, query, headers and a JSON body, and reports the path without the query', async () => {
    let seen: { method?: string; url?: string; token?: string | string[]; type?: string | string[]; body: string } = { body: '' };
    handler = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, token: req.headers['x-vault-token'], type: req.headers['content-type'], body };
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"k":"v"}}');
      });
    };
    const res = await transport().send({ method: 'PUT', uri: `${base}/v1/pki/issue/web?x=1`, headers: { 'X-Vault-Token': 't' }, json: { common_name: 'a' } });
    assert.deepEqual(seen, { method: 'PUT', url: '/v1/pki/issue/web?x=1', token: 't', type: 'application/json', body: '{"common_name":"a"}' });
    assert.deepEqual(res.body, { data: { k: 'v' } });
    assert.equal(res.request.path, '/v1/pki/issue/web');
    assert.equal(res.statusCode, 200);
  });

  it('ends a request whose body trickles past the whole-request deadline, though every chunk arrives in time', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":');
      // A chunk every 40 ms keeps undici's body timeout (the full 300 ms) from firing; only the deadline can.
      const timer = setInterval(() => res.write(' '), 40);
      res.on('close', () => clearInterval(timer));
    };
    const err = await failure(transport({ requestTimeoutMs: 300 }).send({ method: 'GET', uri: `${base}/v1/secret/data/slow` }));
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'TimeoutError');
    const classified = classifyFailure(err, { address: base, path: '/v1/secret/data/slow', method: 'GET' }, undefined);
    assert.equal(classified.error.code, 'VAULT_UNAVAILABLE');
    assert.equal(classified.transient, true);
    assert.match(classified.error.message, /did not answer GET .*\/v1\/secret\/data\/slow within the request timeout/);
  });

  it('measures and sweeps request deadlines on the clock it is given', async () => {
    let held = 0;
    handler = () => void (held += 1);
    // Virtual time: nothing expires until the test moves the clock, however long the request really waits.
    const clock = new ManualClock();
    const t = new UndiciTransport({ tls: NO_TLS, requestTimeoutMs: 60_000, clock });
    transports.push(t);
    const outcome: { settled?: unknown } = {};
    const sent = t.send({ method: 'GET', uri: `${base}/v1/held` }).then(() => (outcome.settled = 'answered'), (err: unknown) => (outcome.settled = err));
    await waitFor(() => held > 0, 'the request held by the server');
    assert.equal(clock.pending, 1, 'one sweep timer for the request in flight');
    for (let i = 0; i < 59; i++) clock.advance(1_000);
    await new Promise((r) => setImmediate(r));
    const settledNow = (): unknown => outcome.settled;
    assert.equal(settledNow(), undefined, 'still in time at 59 s of virtual time');
    clock.advance(1_000);
    await sent;
    const settled = settledNow();
    assert.ok(settled instanceof Error && settled.name === 'TimeoutError', String(settled));
    assert.equal(clock.pending, 0, 'no timer left once nothing is in flight');
  });

  it("stops waiting when the caller's signal aborts, and the connection pool keeps serving", async () => {
    let hanging = 0;
    handler = (req, res) => {
      if (req.url === '/v1/hang') {
        hanging += 1;
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    };
    const t = transport();
    const controller = new AbortController();
    const pending = failure(t.send({ method: 'GET', uri: `${base}/v1/hang` }, { signal: controller.signal }));
    while (hanging === 0) await new Promise((r) => setImmediate(r));
    controller.abort(new Error('cancelled by the caller'));
    const err = await pending;
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'cancelled by the caller');
    assert.deepEqual((await t.send({ method: 'GET', uri: `${base}/v1/ok` })).body, { ok: true });
    // An already aborted signal sends nothing.
    const before = hanging;
    const early = await failure(t.send({ method: 'GET', uri: `${base}/v1/hang` }, { signal: AbortSignal.abort(new Error('gone')) }));
    assert.equal((early as Error).message, 'gone');
    assert.equal(hanging, before);
  });

  it('refuses an answer above the size limit, whether its length is declared or chunked', async () => {
    const big = JSON.stringify({ data: { blob: 'x'.repeat(4096) } });
    handler = (req, res) => {
      if (req.url === '/v1/declared') res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) }).end(big);
      else {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < big.length; i += 512) res.write(big.slice(i, i + 512));
        res.end();
      }
    };
    const t = transport({ maxResponseBytes: 1024 });
    for (const path of ['/v1/declared', '/v1/chunked']) {
      const err = await failure(t.send({ method: 'GET', uri: `${base}${path}` }));
      assert.ok(err instanceof BodyTooLargeError, path);
      const classified = classifyFailure(err, { address: base, path, method: 'GET' }, undefined).error;
      assert.equal(classified.code, 'BAD_VAULT_RESPONSE');
      assert.equal(classified.message, `Vault's response exceeded 1024 bytes for GET ${base}${path}`);
    }
    // Just inside the limit is fine.
    const small = transport({ maxResponseBytes: big.length });
    assert.equal(((await small.send({ method: 'GET', uri: `${base}/v1/declared` })).body as { data: { blob: string } }).data.blob.length, 4096);
  });

  it('refuses a 200 that is not JSON, and keeps the status of an error page that is not JSON', async () => {
    handler = (req, res) => {
      if (req.url === '/v1/html-ok') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
      else res.writeHead(502, { 'content-type': 'text/html', 'retry-after': '3' }).end('<html>bad gateway</html>');
    };
    const t = transport();
    const notJson = await failure(t.send({ method: 'GET', uri: `${base}/v1/html-ok` }));
    assert.ok(notJson instanceof NonJsonResponseError);
    const gateway = await failure(t.send({ method: 'GET', uri: `${base}/v1/html-err` }));
    assert.ok(gateway instanceof VaultHttpError);
    assert.equal(gateway.response.statusCode, 502);
    assert.equal(gateway.response.body, undefined);
    assert.equal(gateway.response.headers['retry-after'], '3');
  });

  it('answers 204 with no body', async () => {
    handler = (_req, res) => res.writeHead(204).end();
    const res = await transport().send({ method: 'GET', uri: `${base}/v1/sys/nothing` });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, undefined);
  });

  it('takes any 2xx as an answer, as Vault\'s Go client does (202 and 299 from real Vault), and a 300 as an error', async () => {
    for (const code of [201, 202, 299]) {
      handler = (_req, res) => res.writeHead(code, { 'Content-Type': 'application/json' }).end('{"data":{"ok":true}}');
      const res = await transport().send({ method: 'GET', uri: `${base}/v1/sys/any` });
      assert.equal(res.statusCode, code);
      assert.deepEqual(res.body, { data: { ok: true } });
    }
    handler = (_req, res) => res.writeHead(300, { 'Content-Type': 'application/json' }).end('{"errors":[]}');
    assert.ok((await failure(transport().send({ method: 'GET', uri: `${base}/v1/sys/any` }))) instanceof VaultHttpError);
  });

  it('splits URIs without parsing them, resolving dot segments as a URL parser would', () => {
    assert.deepEqual(splitUri('http://127.0.0.1:8200/v1/secret/data/a?version=2'), { origin: 'http://127.0.0.1:8200', path: '/v1/secret/data/a?version=2' });
    assert.deepEqual(splitUri('https://[::1]:8200/prefix/v1/kv/a'), { origin: 'https://[::1]:8200', path: '/prefix/v1/kv/a' });
    assert.deepEqual(splitUri('http://vault:8200'), { origin: 'http://vault:8200', path: '/' });
    assert.deepEqual(splitUri('http://vault:8200/v1/secret/data/../../sys/x?list=true'), { origin: 'http://vault:8200', path: '/v1/sys/x?list=true' });
    assert.deepEqual(splitUri('http://vault:8200/v1/secret/./a/%2E%2e/b'), { origin: 'http://vault:8200', path: '/v1/secret/b' });
    // A dot inside a segment is not a dot segment.
    assert.deepEqual(splitUri('http://vault:8200/v1/secret/data/.env'), { origin: 'http://vault:8200', path: '/v1/secret/data/.env' });
  });

  it('sends a path with dot segments resolved', async () => {
    let url: string | undefined;
    handler = (req, res) => {
      url = req.url;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    };
    await transport().send({ method: 'GET', uri: `${base}/v1/secret/data/../other` });
    assert.equal(url, '/v1/secret/other');
  });

  it('refuses a URI that is not absolute', async () => {
    const err = await failure(Promise.resolve().then(() => transport().send({ method: 'GET', uri: '/v1/relative' })));
    assert.ok(err instanceof TypeError);
  });

  describe('over TLS: one context for all of a transport\'s connections', () => {
    let material: TlsMaterial;
    let tlsServer: https.Server;
    let tlsBase: string;
    const peers: string[] = [];
    before(async () => {
      material = await createTlsMaterial();
      tlsServer = https.createServer({ cert: material.serverCertPem, key: material.serverKeyPem, ca: material.caCertPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
        // Each answer is held a little, so that four requests at once need four connections.
        peers.push(`${(req.socket as TLSSocket).remotePort}:${(req.socket as TLSSocket).getPeerCertificate().subject?.CN?.toString() ?? ''}`);
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{}}'), 30);
      });
      await new Promise<void>((ok) => tlsServer.listen(0, '127.0.0.1', ok));
      tlsBase = `https://localhost:${(tlsServer.address() as AddressInfo).port}`;
    });
    after(() => {
      tlsServer.closeAllConnections();
      tlsServer.close();
    });
    const made: SecureContextOptions[] = [];
    const tlsTransport = (ca: string): UndiciTransport => {
      const t = new UndiciTransport({
        tls: { ca: [ca], cert: material.clientCertPem, key: material.clientKeyPem, servername: undefined, rejectUnauthorized: true },
        requestTimeoutMs: 5_000,
        secureContext: (options) => {
          made.push(options);
          return createSecureContext(options);
        },
      });
      transports.push(t);
      return t;
    };

    it('makes one context, at the first connection, and with it verifies the server and presents the client certificate on every connection', async () => {
      peers.length = 0;
      made.length = 0;
      const t = tlsTransport(material.caCertPem);
      assert.equal(made.length, 0, 'nothing made before a connection');
      await Promise.all(Array.from({ length: 4 }, (_, i) => t.send({ method: 'GET', uri: `${tlsBase}/v1/secret/data/${i}` })));
      const ports = new Set(peers.map((p) => p.split(':')[0]));
      assert.equal(ports.size, 4, `four connections: ${peers.join(', ')}`);
      assert.ok(peers.every((p) => p.endsWith(':vault-csi-provider')), peers.join(', '));
      assert.deepEqual(made, [{ ca: [material.caCertPem], cert: material.clientCertPem, key: material.clientKeyPem }]);
    });

    it('fails each request as a connection failure when OpenSSL refuses the key, made at the first connection not at construction', async () => {
      // The SecretProviderClass's certificate and key are checked before a transport exists (auth-methods e2e); this
      // is the transport's own guard.
      const t = new UndiciTransport({ tls: { ca: [material.caCertPem], cert: material.clientCertPem, key: 'not a key', servername: undefined, rejectUnauthorized: true }, requestTimeoutMs: 5_000 });
      transports.push(t);
      for (const i of [1, 2]) {
        const err = await failure(t.send({ method: 'GET', uri: `${tlsBase}/v1/secret/data/${i}` }));
        const classified = classifyFailure(err, { address: tlsBase, path: `/v1/secret/data/${i}`, method: 'GET' }, undefined);
        assert.equal(classified.error.code, 'VAULT_UNAVAILABLE', String(err));
        assert.match(classified.error.message, /^TLS failure talking to https:\/\/localhost:\d+ \(ERR_OSSL_[A-Z_]+\) for \/v1\/secret\/data\/\d$/);
      }
      const good = await tlsTransport(material.caCertPem).send({ method: 'GET', uri: `${tlsBase}/v1/secret/data/3` });
      assert.equal(good.statusCode, 200);
    });
  });

  describe("charging the mount's memory ledger as the answer arrives", () => {
    /** A MountMemory with a response budget of `limit`, recording what it is told the responses take. */
    function ledger(limit: number): { memory: MountMemory; received: number[] } {
      const memory = new MountMemory(undefined, limit);
      const received: number[] = [];
      const receive = memory.receive.bind(memory);
      memory.receive = (bytes: number): void => {
        received.push(bytes);
        receive(bytes);
      };
      return { memory, received };
    }

    it('refuses at the headers a body whose declared length is over the budget, before reading it', async () => {
      const big = JSON.stringify({ data: { blob: 'x'.repeat(200_000) } });
      let written = 0;
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) });
        written = 0;
        // Slowly, so that what the provider reads before refusing can be seen.
        const next = (): void => {
          if (written >= big.length || res.destroyed) return void res.end();
          res.write(big.slice(written, written + 16_384), () => setTimeout(next, 5));
          written += 16_384;
        };
        next();
      };
      const { memory, received } = ledger(100_000);
      const err = await failure(transport().send({ method: 'GET', uri: `${base}/v1/big` }, { memory }));
      assert.ok(err instanceof ProviderError);
      assert.equal(err.code, 'MOUNT_TOO_LARGE');
      assert.deepEqual(received, [big.length], 'the declared length, and nothing more');
      assert.ok(written < big.length, 'the rest of the body was never asked for');
    });

    it('refuses a chunked body (no length) as soon as what it holds passes the budget', async () => {
      let written = 0;
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        written = 0;
        res.write('{"data":{"blob":"');
        const next = (): void => {
          if (res.destroyed || written > 2_000_000) return void res.end('"}}');
          res.write('x'.repeat(16_384), () => setTimeout(next, 2));
          written += 16_384;
        };
        next();
      };
      const { memory } = ledger(150_000);
      const err = await failure(transport().send({ method: 'GET', uri: `${base}/v1/chunked` }, { memory }));
      assert.ok(err instanceof ProviderError && err.code === 'MOUNT_TOO_LARGE', String(err));
      // Refused at the chunk that passed the budget, not at the end of the body.
      assert.ok(written < 300_000, `${written} bytes written`);
      assert.ok(memory.receivedBytes <= 150_000);
    });

    it('refuses while it arrives a body that would parse into far more than its size, at the node budget', async () => {
      const objects = `{"data":{"list":[${Array.from({ length: 20_000 }, () => '{}').join(',')}]}}`;
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < objects.length; i += 4096) res.write(objects.slice(i, i + 4096));
        res.end();
      };
      // 60 KB of text, over 2 MB once parsed: refused though the text alone would fit both budgets.
      const admission = new MountAdmission({ nodeBytes: 1_000_000, mountBytes: 1_000_000, maxMounts: 1 });
      const memory = await admission.admit({ secretProviderClass: 's', pod: { namespace: 'n', name: 'p' } });
      const err = await failure(transport().send({ method: 'GET', uri: `${base}/v1/objects` }, { memory }));
      assert.ok(err instanceof ProviderError && err.code === 'NODE_BUDGET_EXCEEDED', String(err));
      assert.ok(memory.receivedBytes < objects.length);
      memory.close();
      assert.equal(admission.bytesInFlight, 0);
    });

    it('holds nothing of an answer cut off part-way or of a 2xx that is not JSON', async () => {
      handler = (req, res) => {
        if (req.url === '/v1/html') return void res.writeHead(200, { 'content-type': 'text/html' }).end(`<html>${'z'.repeat(50_000)}</html>`);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200000' });
        res.write(`{"data":{"blob":"${'x'.repeat(60_000)}`, () => res.destroy());
      };
      const { memory } = ledger(10_000_000);
      const cut = await failure(transport().send({ method: 'GET', uri: `${base}/v1/cut` }, { memory }));
      assert.ok(!(cut instanceof VaultHttpError), String(cut));
      assert.ok(memory.receivedBytes >= 60_000, 'the part that arrived was counted');
      assert.equal(memory.heldBytes, 0, 'and given back when the answer failed');
      assert.ok((await failure(transport().send({ method: 'GET', uri: `${base}/v1/html` }, { memory }))) instanceof NonJsonResponseError);
      assert.equal(memory.heldBytes, 0);
    });

    it('keeps only the parsed form charged after a read, and nothing of an error answer', async () => {
      const body = JSON.stringify({ data: { blob: 'y'.repeat(100_000) } });
      handler = (req, res) => {
        if (req.url === '/v1/denied') res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: ['permission denied'.repeat(1000)] }));
        else res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      };
      const { memory } = ledger(10_000_000);
      const res = await transport().send({ method: 'GET', uri: `${base}/v1/ok` }, { memory });
      assert.equal((res.body as { data: { blob: string } }).data.blob.length, 100_000);
      // About the size of the response (its strings, a few values), not the body plus its text plus its parse.
      assert.ok(memory.heldBytes >= 100_000 && memory.heldBytes < 101_000, String(memory.heldBytes));
      assert.ok(memory.peakBytes >= 2 * 100_000, 'the text and the parsed form were both charged during the parse');
      const held = memory.heldBytes;
      assert.ok((await failure(transport().send({ method: 'GET', uri: `${base}/v1/denied` }, { memory }))) instanceof VaultHttpError);
      assert.equal(memory.heldBytes, held);
    });
  });

  describe('the context of a request sent through node-vault', () => {
    const vaultOver = (t: Pick<UndiciTransport, 'defaults'>): ReturnType<typeof nodeVault> =>
      nodeVault({ endpoint: base, apiVersion: 'v1', 'request-promise': t, debug: () => undefined });
    /** Answers every request with an empty secret; counts them. */
    const answering = (): { count: number } => {
      const received = { count: 0 };
      handler = (_req, res) => {
        received.count += 1;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{}}');
      };
      return received;
    };

    it('reaches the request node-vault sends within it (an aborted signal: nothing is sent)', async () => {
      const received = answering();
      const vault = vaultOver(transport());
      const err = await failure(within({ signal: AbortSignal.abort(new Error('gone')) }, () => vault.request({ path: '/secret/x', method: 'GET' }) as Promise<unknown>));
      assert.equal((err as Error).message, 'gone');
      assert.equal(received.count, 0);
      await within({}, () => vault.request({ path: '/secret/x', method: 'GET' }) as Promise<unknown>);
      assert.equal(received.count, 1);
    });

    it('is handed to one request only: a request outside `within` (or after it) fails as INTERNAL and sends nothing', async () => {
      const received = answering();
      const vault = vaultOver(transport());
      const missing = (err: unknown): boolean => err instanceof ProviderError && err.code === 'INTERNAL' && /without its context/.test(err.message);
      assert.ok(missing(await failure(vault.request({ path: '/secret/x', method: 'GET' }) as Promise<unknown>)));
      let second: Promise<unknown> | undefined;
      await within({}, () => {
        const first = vault.request({ path: '/secret/x', method: 'GET' }) as Promise<unknown>;
        second = failure(vault.request({ path: '/secret/y', method: 'GET' }) as Promise<unknown>);
        return first;
      });
      assert.ok(missing(await second));
      // A login helper validates before it sends, so `within` has returned by then: it fails rather than go without.
      assert.ok(missing(await failure(within({}, () => vault.approleLogin({ role_id: 'r', secret_id: 's' }) as Promise<unknown>))));
      assert.equal(received.count, 1);
    });

    it('goes with every request of a client bound to it, a login helper included', async () => {
      const paths: string[] = [];
      handler = (req, res) => {
        paths.push(req.url ?? '');
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"auth":{"client_token":"t"}}');
      };
      const t = transport();
      await vaultOver(t.bound({})).approleLogin({ role_id: 'r', secret_id: 's' });
      assert.deepEqual(paths, ['/v1/auth/approle/login']);
      const err = await failure(vaultOver(t.bound({ signal: AbortSignal.abort(new Error('gone')) })).approleLogin({ role_id: 'r', secret_id: 's' }) as Promise<unknown>);
      assert.equal((err as Error).message, 'gone');
      assert.equal(paths.length, 1);
    });
  });
});
