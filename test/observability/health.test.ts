import assert from 'node:assert/strict';
import { HealthServer, parseListenAddress } from '../../src/observability/health.js';

describe('observability/health', () => {
  it('parses Go listen addresses', () => {
    assert.deepEqual(parseListenAddress(':8080'), { host: undefined, port: 8080 });
    assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListenAddress('[::1]:9000'), { host: '::1', port: 9000 });
    assert.throws(() => parseListenAddress('8080'));
    assert.throws(() => parseListenAddress(':99999'));
  });

  it('answers 200 while ready, 503 while draining, 404 elsewhere, and serves extra routes', async () => {
    let ready = true;
    const server = new HealthServer(() => ready, [
      (req, res) => {
        if (req.url !== '/extra') return false;
        res.end('extra');
        return true;
      },
    ]);
    const addr = await server.listen('127.0.0.1:0');
    const base = `http://127.0.0.1:${addr.port}`;
    try {
      assert.equal((await fetch(`${base}/health/ready`)).status, 200);
      ready = false;
      assert.equal((await fetch(`${base}/health/ready`)).status, 503);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal(await (await fetch(`${base}/extra`)).text(), 'extra');
    } finally {
      await server.close();
    }
  });
});
