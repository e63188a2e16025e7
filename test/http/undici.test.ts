/** A buffered request over undici's dispatch API reads headers and bodies right, within its limits. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyTooLargeError, dispatchBuffered, headerObject, headerValue, Pool, type BodySink } from '../../src/http/undici.js';

describe('http/undici', () => {
  it('reads raw header lists case-insensitively, repeated headers as arrays', () => {
    const raw = ['Content-Length', '12', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Retry-After', '3'].map((s) => Buffer.from(s));
    assert.equal(headerValue(raw, 'content-length'), '12');
    assert.equal(headerValue(raw, 'retry-after'), '3');
    assert.equal(headerValue(raw, 'etag'), undefined);
    assert.deepEqual(headerObject(raw), { 'content-length': '12', 'set-cookie': ['a=1', 'b=2'], 'retry-after': '3' });
  });

  describe('dispatchBuffered', () => {
    let server: http.Server;
    let pool: Pool;
    before(async () => {
      server = http.createServer((req, res) => {
        if (req.url === '/hang') return;
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('a'.repeat(600));
          setImmediate(() => res.end('b'.repeat(600)));
          return;
        }
        const body = req.url === '/multi' ? 'a'.repeat(100_000) : 'hello';
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain', 'content-length': String(body.length) }).end(body);
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 2 });
    });
    after(async () => {
      await pool.close();
      server.closeAllConnections();
      server.close();
    });

    it('answers status, headers and the whole body, in one or many chunks', async () => {
      const small = await dispatchBuffered(pool, { path: '/small', method: 'GET' }, { maxBytes: 1024 }).answer;
      assert.equal(small.statusCode, 200);
      assert.equal(small.body.toString(), 'hello');
      assert.equal(headerValue(small.rawHeaders, 'content-type'), 'text/plain');
      const multi = await dispatchBuffered(pool, { path: '/multi', method: 'GET' }, { maxBytes: 1_000_000 }).answer;
      assert.equal(multi.body.length, 100_000);
      assert.equal((await dispatchBuffered(pool, { path: '/missing', method: 'GET' }, { maxBytes: 1024 }).answer).statusCode, 404);
    });

    it('refuses a body above the limit', async () => {
      const err = await dispatchBuffered(pool, { path: '/multi', method: 'GET' }, { maxBytes: 1000 }).answer.then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof BodyTooLargeError);
    });

    it('refuses a body above the limit while it arrives, when no Content-Length declared it', async () => {
      const err = await dispatchBuffered(pool, { path: '/chunked', method: 'GET' }, { maxBytes: 1000 }).answer.then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof BodyTooLargeError);
      assert.equal((await dispatchBuffered(pool, { path: '/chunked', method: 'GET' }, { maxBytes: 2000 }).answer).body.length, 1200);
    });

    it('hands the body to a sink (status and declared length first), and a sink that throws ends the request with its error', async () => {
      const seen: Array<string | number | undefined> = [];
      const sink: BodySink = {
        start: (status, declared) => seen.push(status, declared),
        write: (chunk) => seen.push(chunk.length),
      };
      const taken = await dispatchBuffered(pool, { path: '/small', method: 'GET' }, { maxBytes: 1024, sink }).answer;
      assert.equal(taken.body.length, 0);
      assert.deepEqual(seen, [200, 5, 5]);
      const refused = new Error('refused');
      const throwing: BodySink = { start: () => undefined, write: () => { throw refused; } };
      assert.equal(await dispatchBuffered(pool, { path: '/multi', method: 'GET' }, { maxBytes: 1_000_000, sink: throwing }).answer.then(() => undefined, (e: unknown) => e), refused);
    });

    it('sends nothing for a signal aborted before the call, and ends on a later abort with its reason', async () => {
      const aborted = AbortSignal.abort(new Error('gone'));
      const early = await dispatchBuffered(pool, { path: '/small', method: 'GET' }, { maxBytes: 1024, signal: aborted }).answer.then(() => undefined, (e: unknown) => e);
      assert.equal((early as Error).message, 'gone');
      const controller = new AbortController();
      const call = dispatchBuffered(pool, { path: '/hang', method: 'GET' }, { maxBytes: 1024, signal: controller.signal });
      setImmediate(() => controller.abort(new Error('later')));
      assert.equal(((await call.answer.then(() => undefined, (e: unknown) => e)) as Error).message, 'later');
    });

    it('ends on cancel() with the given error, and the pool keeps serving', async () => {
      const call = dispatchBuffered(pool, { path: '/hang', method: 'GET' }, { maxBytes: 1024 });
      const stop = new Error('stop');
      setImmediate(() => call.cancel(stop));
      assert.equal(await call.answer.then(() => undefined, (e: unknown) => e), stop);
      call.cancel(new Error('again')); // a no-op once settled
      assert.equal((await dispatchBuffered(pool, { path: '/small', method: 'GET' }, { maxBytes: 1024 }).answer).body.toString(), 'hello');
    });
  });
});
