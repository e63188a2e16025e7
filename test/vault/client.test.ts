/**
 * VaultClient over its undici transport against a plain HTTP server standing in for Vault: every request, each
 * login method's included, goes out through the transport it was given (none through node-vault's built-in axios
 * client, which would announce itself as `User-Agent: axios/…`), with exactly the path, body and headers we set.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentialLogin, podTokenLogin } from '../../src/auth/login-request.js';
import { Sensitive } from '../../src/config/sensitive.js';
import type { ConnectionSettings } from '../../src/config/types.js';
import { VaultClient } from '../../src/vault/client.js';
import { UndiciTransport, type RequestContext } from '../../src/vault/transport.js';

const NO_TLS = { ca: undefined, cert: undefined, key: undefined, servername: undefined, rejectUnauthorized: true };

interface Seen {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly userAgent: string | undefined;
  readonly token: string | undefined;
  readonly body: unknown;
}

describe('vault/client', () => {
  let server: http.Server;
  let address: string;
  const seen: Seen[] = [];

  /** Settings for the test server (plain HTTP, no namespace) with the auth mount `authMount`. */
  function plainHttp(authMount: string, key: string): ConnectionSettings {
    return {
      address,
      addresses: [address],
      namespace: undefined,
      authMount,
      tls: { caCertPath: undefined, caDirectory: undefined, serverName: undefined, clientCertPath: undefined, clientKeyPath: undefined, skipVerify: false },
      key,
    };
  }

  before(async () => {
    server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        seen.push({
          method: req.method,
          url: req.url,
          userAgent: req.headers['user-agent'],
          token: req.headers['x-vault-token'] as string | undefined,
          body: text === '' ? undefined : (JSON.parse(text) as unknown),
        });
        const answer = req.url!.includes('/login')
          ? { auth: { client_token: `token-${seen.length}`, accessor: 'a', lease_duration: 60, renewable: true } }
          : { data: { value: 'v' }, lease_duration: 0, renewable: false };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends every login (through node-vault\'s login helpers) and every read through the undici transport', async () => {
    const settings = plainHttp('team/kube', 'test');
    const transport = new UndiciTransport({ tls: NO_TLS, requestTimeoutMs: 5_000 });
    const client = new VaultClient(settings, transport);
    try {
      const logins = [
        podTokenLogin('kubernetes', 'team/kube', 'web', 'J1'),
        podTokenLogin('jwt', 'team/kube', 'web', 'J2'),
        credentialLogin({ method: 'approle', roleId: new Sensitive('R'), secretId: new Sensitive('S') }, 'team/kube', ''),
        credentialLogin({ method: 'userpass', username: "o'neil@x", password: new Sensitive('P') }, 'team/kube', ''),
      ];
      const tokens = [];
      for (const login of logins) tokens.push((await client.sendLogin(login)).token);
      assert.deepEqual(tokens, ['token-1', 'token-2', 'token-3', 'token-4']);
      // A login's token stays the caller's: the next request carries only the token it is given.
      await client.request('given', { method: 'GET', requestPath: '/v1/secret/data/app', query: 'version=2', body: undefined });
      await client.request('given', { method: 'LIST', requestPath: '/v1/secret/metadata/', query: '', body: undefined });
      await client.request('given', { method: 'PUT', requestPath: '/v1/pki/issue/web', query: '', body: { common_name: 'a' } });
      assert.deepEqual(
        seen.map(({ method, url, token, body }) => ({ method, url, token, body })),
        [
          { method: 'POST', url: '/v1/auth/team/kube/login', token: undefined, body: { role: 'web', jwt: 'J1' } },
          { method: 'POST', url: '/v1/auth/team/kube/login', token: undefined, body: { role: 'web', jwt: 'J2' } },
          { method: 'POST', url: '/v1/auth/team/kube/login', token: undefined, body: { role_id: 'R', secret_id: 'S' } },
          { method: 'POST', url: '/v1/auth/team/kube/login/o%27neil%40x', token: undefined, body: { password: 'P' } },
          { method: 'GET', url: '/v1/secret/data/app?version=2', token: 'given', body: undefined },
          { method: 'GET', url: '/v1/secret/metadata/?list=true', token: 'given', body: undefined },
          { method: 'PUT', url: '/v1/pki/issue/web', token: 'given', body: { common_name: 'a' } },
        ],
      );
      for (const request of seen) assert.doesNotMatch(request.userAgent ?? '', /axios/i);
    } finally {
      await client.close();
    }
  });

  it("carries one context per request, its tenant the view's, through node-vault to the transport: logins, lookups, reads, writes", async () => {
    const settings = plainHttp('kubernetes', 'tenant-test');
    const transport = new UndiciTransport({ tls: NO_TLS, requestTimeoutMs: 5_000 });
    const contexts: Array<RequestContext | undefined> = [];
    const send = transport.send.bind(transport);
    transport.send = (options, context) => {
      contexts.push(context);
      return send(options, context);
    };
    const shared = new VaultClient(settings, transport);
    const client = shared.forTenant('team-a');
    const signal = new AbortController().signal;
    try {
      await client.sendLogin(podTokenLogin('kubernetes', 'kubernetes', 'web', 'J'), signal);
      await client.sendLogin(credentialLogin({ method: 'approle', roleId: new Sensitive('R'), secretId: new Sensitive('S') }, 'approle', ''), signal);
      await client.lookupSelf('given', signal);
      await client.request('given', { method: 'GET', requestPath: '/v1/secret/data/app', query: '', body: undefined }, signal);
      await client.request('given', { method: 'PUT', requestPath: '/v1/pki/issue/web', query: '', body: { common_name: 'a' } }, signal);
      await shared.request('given', { method: 'GET', requestPath: '/v1/secret/data/app', query: '', body: undefined });
      assert.equal(contexts.length, 6);
      for (const context of contexts.slice(0, 5)) {
        assert.equal(context?.tenant, 'team-a');
        assert.equal(context.signal, signal);
        assert.equal(context.throttle, 'wait');
      }
      assert.equal(contexts[5]?.tenant, undefined, 'the shared client itself speaks for no tenant');
    } finally {
      await shared.close();
    }
  });
});
