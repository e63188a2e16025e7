/**
 * No leaks, across the whole catalog of outcomes (docs/security.md): the provider runs at log level trace, serves
 * successes of every kind (KV v1 and v2, encoded values, a PKI certificate and key, a database credential, the whole
 * response JSON, --write-files) and fails in every way a mount can (bad role, missing secret or key, denied path,
 * undecodable value, Vault error messages that quote a token or the JWT, a revoked cached token). Then no log line
 * (audit lines included), gRPC error message, metric or object version may hold a secret value — in plain text or as
 * Vault stored it (base64, hex) — a Vault token, or a JWT.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { startHarness, POD, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import { assertNoLeaks, JWT_SHAPE } from '../helpers/leak-check.js';
import { DaemonProcess, waitForVersion } from '../helpers/daemon-process.js';
import { imageNodeOptions } from '../../scripts/image/dockerfile.js';
import { DriverClient } from '../helpers/grpc-client.js';
import { LogLevels } from '../../src/observability/logger.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';

const PLAIN = { password: 'leak-check-password-a41f', api: 'leak-check-api-key-77c2', note: 'leak check <&> note' };
const ENCODED_SECRET = 'leak-check-binary-secret-0b9e';
const UNDECODABLE = 'leak-check-not-base64-%%%';

describe('e2e: no secret, token or JWT leaves the provider except in the files', function () {
  this.timeout(60_000);
  let h: Harness;
  const errors: string[] = [];
  const versions: string[] = [];
  const secrets: string[] = [];
  const jwts: string[] = [];

  async function ok(request: MountRequest): Promise<Map<string, string>> {
    const res = await h.client.mount(request);
    versions.push(...res.object_version.map((v) => v.version));
    return new Map(res.files.map((f) => [f.path, Buffer.from(f.contents).toString()]));
  }

  async function fails(request: MountRequest): Promise<void> {
    const err: ServiceError = await h.client.mountError(request);
    errors.push(err.details);
  }

  function request(objects: ReadonlyArray<Record<string, unknown>>, extra: { params?: Record<string, string>; pod?: PodIdentity; targetPath?: string } = {}): MountRequest {
    const pod = extra.pod ?? POD;
    const jwt = h.jwtFor(pod);
    jwts.push(jwt);
    return h.request({ objects, jwt, pod, ...(extra.params === undefined ? {} : { params: extra.params }), ...(extra.targetPath === undefined ? {} : { targetPath: extra.targetPath }) });
  }

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', PLAIN);
    h.vault.putKv('kv', 'legacy', { token: PLAIN.api });
    h.vault.putKv('secret', 'encoded', {
      b64: Buffer.from(ENCODED_SECRET).toString('base64'),
      hex: Buffer.from(ENCODED_SECRET).toString('hex'),
      bad: UNDECODABLE,
    });
    secrets.push(...Object.values(PLAIN), ENCODED_SECRET, Buffer.from(ENCODED_SECRET).toString('base64'), Buffer.from(ENCODED_SECRET).toString('hex'), UNDECODABLE);
    await h.startProvider();
  });

  after(async () => h.close());

  it('serves every kind of success', async () => {
    const files = await ok(
      request([
        { objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' },
        { objectName: 'all.json', secretPath: 'secret/data/app' },
        { objectName: 'legacy', secretPath: 'kv/legacy', secretKey: 'token' },
        { objectName: 'b64', secretPath: 'secret/data/encoded', secretKey: 'b64', encoding: 'base64' },
        { objectName: 'hex', secretPath: 'secret/data/encoded', secretKey: 'hex', encoding: 'hex' },
        { objectName: 'db/user', secretPath: 'database/creds/web', secretKey: 'username' },
        { objectName: 'db/pass', secretPath: 'database/creds/web', secretKey: 'password' },
        { objectName: 'tls/key', secretPath: 'pki/issue/web', secretKey: 'private_key', method: 'PUT', secretArgs: { common_name: 'a.prod.svc' } },
        { objectName: 'tls/crt', secretPath: 'pki/issue/web', secretKey: 'certificate', method: 'PUT', secretArgs: { common_name: 'a.prod.svc' } },
      ]),
    );
    assert.equal(files.get('password'), PLAIN.password);
    assert.equal(files.get('b64'), ENCODED_SECRET);
    // The dynamic secrets this run minted are secrets too.
    secrets.push(files.get('db/pass')!, files.get('db/user')!, files.get('tls/key')!.split('\n')[1]!);
  });

  it('writes files with --write-files at trace level too', async () => {
    await h.stopProvider();
    await h.startProvider({ writeFiles: true });
    const target = join(h.dir, 'written');
    await mkdir(target);
    await ok(request([{ objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' }], { targetPath: target }));
    await h.stopProvider();
    await h.startProvider();
  });

  it('fails in every way a mount can', async () => {
    const app = (key: string): Record<string, unknown> => ({ objectName: 'x', secretPath: 'secret/data/app', secretKey: key });
    await fails(request([app('password')], { pod: { ...POD, serviceAccountName: 'intruder' } }));
    await fails(request([app('password')], { params: { roleName: 'no-such-role' } }));
    await fails(request([{ objectName: 'x', secretPath: 'secret/data/missing', secretKey: 'k' }]));
    await fails(request([app('no-such-key')]));
    await fails(request([{ objectName: 'x', secretPath: 'secret/data/encoded', secretKey: 'bad', encoding: 'base64' }]));
    await fails(request([{ objectName: 'x', secretPath: 'sys/raw/secret', secretKey: 'k' }]));
    await fails(request([{ objectName: '../x', secretPath: 'secret/data/app', secretKey: 'password' }]));
    // Vault's own error texts quoting a token and the JWT (some plugins echo their input).
    const jwt = h.jwtFor(POD);
    h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', status: 400, body: { errors: [`could not validate ${jwt}`] }, times: 1 });
    h.vault.revokeAllTokens();
    await fails(request([app('password')], { params: { roleName: 'web-echo' } }));
    h.vault.injectFault({ pathPrefix: 'secret/data/app', status: 400, body: { errors: ['token hvs.CAESIJ1234567890abcdefghijklmnop is not allowed'] }, times: 1 });
    await fails(request([app('password')]));
    // A proxy in front of Vault echoing the login's body (the JWT) in a 502, on every retry.
    const echo = h.vault.injectFault({ pathPrefix: 'auth/kubernetes/login', status: 502, echoBody: true });
    h.vault.revokeAllTokens();
    await fails(request([app('password')], { params: { roleName: 'web-5xx' } }));
    echo.remove();
    assert.ok(echo.hits > 0);
    // A cached token Vault no longer knows: one fresh login, and the read succeeds.
    await ok(request([app('password')]));
    h.vault.revokeAllTokens();
    await ok(request([app('password')]));
    assert.equal(errors.length, 10);
    // Each failure above names what failed; the two that quoted credentials were cleaned.
    assert.ok(errors.some((e) => e.includes('<redacted-jwt>')) && errors.some((e) => e.includes('<redacted-token>')));
  });

  it('has put none of it into a log line, error message, metric or object version', async () => {
    const everything = [...secrets, ...jwts];
    assert.equal(h.settings.logLevel, 'trace');
    assert.ok(h.logs.some((l) => l.includes('"level":"debug"')), 'below-info lines were written');
    assert.ok(h.logs.some((l) => l.includes('mount audit')), 'audit lines were written');
    assertNoLeaks('log line', h.logs, everything);
    assertNoLeaks('error message', errors, everything);
    assertNoLeaks('object version', versions, everything);
    const metrics = await h.provider.metrics.registry.metrics();
    assertNoLeaks('metric', metrics.split('\n'), everything);
  });
});

/**
 * The same promise for the process as the image runs it (dist/main.js, the image's NODE_OPTIONS), reading every byte
 * it writes to stdout and stderr: at every log level, and with `DEBUG=*`, which an operator sets when something is
 * wrong and which makes any dependency using the `debug` package print. node-vault does (every request body, the
 * login's JWT included) unless given its own hook; the provider gives it a silent one (src/vault/client.ts).
 */
describe('e2e: nothing leaks from the daemon process, at any log level, with DEBUG=*', function () {
  this.timeout(120_000);
  let h: Harness;
  const secrets: string[] = [];
  const jwts: string[] = [];

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', PLAIN);
    h.vault.putPolicy('web-denied', 'path "secret/data/app" { capabilities = ["read"] }');
    h.vault.enableUserpassAuth();
    secrets.push(...Object.values(PLAIN));
  });

  after(async () => h.close());

  for (const level of LogLevels) {
    it(`--log-level=${level}: stdout and stderr hold no secret, token or JWT`, async () => {
      const keyFile = join(h.dir, `hmac-${level}.key`);
      await writeFile(keyFile, 'a-test-hmac-key-of-enough-bytes\n');
      const socket = join(h.dir, `leak-${level}`, 'vault.sock');
      const d = new DaemonProcess(
        [`--endpoint=${socket}`, '--health-addr=127.0.0.1:0', `--vault-addr=${h.vault.address}`, `--hmac-key-file=${keyFile}`, `--log-level=${level}`],
        { DEBUG: '*' },
        imageNodeOptions(),
      );
      const client = new DriverClient(socket);
      try {
        // Above info there is no "provider serving" line to wait for: the socket answering is the sign.
        await waitForVersion(d, client);
        const pod = { ...POD, uid: `uid-leak-${level}` };
        const mount = (objects: ReadonlyArray<Record<string, unknown>>, params: Record<string, string> = {}): MountRequest => {
          const jwt = h.jwtFor(pod);
          jwts.push(jwt);
          return h.request({ objects, jwt, pod, params });
        };
        const ok = await client.mount(
          mount([
            { objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' },
            { objectName: 'all.json', secretPath: 'secret/data/app' },
            { objectName: 'db.json', secretPath: 'database/creds/web' },
            { objectName: 'tls.json', secretPath: 'pki/issue/web', method: 'PUT', secretArgs: { common_name: 'a.prod.svc' } },
          ]),
        );
        const files = new Map(ok.files.map((f) => [f.path, Buffer.from(f.contents).toString()]));
        const db = JSON.parse(files.get('db.json')!) as { data: { username: string; password: string } };
        const tls = JSON.parse(files.get('tls.json')!) as { data: { private_key: string } };
        secrets.push(db.data.password, db.data.username, tls.data.private_key.split('\n')[1]!);
        // Failures: a bad role, a missing key, and a revoked cached token (lookup, new login, retry).
        await client.mountError(mount([{ objectName: 'x', secretPath: 'secret/data/app', secretKey: 'password' }], { roleName: 'no-such-role' }));
        await client.mountError(mount([{ objectName: 'x', secretPath: 'secret/data/app', secretKey: 'nope' }]));
        h.vault.revokeAllTokens();
        await client.mount(mount([{ objectName: 'x', secretPath: 'secret/data/app', secretKey: 'password' }]));
        // A proxy echoing a userpass login's body (the password) in a 502, on every retry.
        const password = `leak-check-daemon-pw-${level}-9c`;
        secrets.push(password);
        const echo = h.vault.injectFault({ pathPrefix: 'auth/userpass/login', status: 502, echoBody: true });
        const userpass = h.request({ objects: [{ objectName: 'x', secretPath: 'secret/data/app', secretKey: 'password' }], pod, params: { vaultAuthMethod: 'userpass', vaultUsername: 'alice' }, jwt: null, secrets: { password } });
        await client.mountError(userpass);
        echo.remove();
        assert.ok(echo.hits > 0);
      } finally {
        client.close();
        d.kill('SIGTERM');
        await d.exited;
      }
      const out = d.out.join('');
      const err = d.err.join('');
      if (['trace', 'debug', 'info'].includes(level)) assert.ok(out.includes('"msg":"mount audit"') || out.includes('"msg":"mount"'), 'the daemon logged its mounts');
      assertNoLeaks(`stdout at ${level}`, out.split('\n'), [...secrets, ...jwts]);
      assertNoLeaks(`stderr at ${level}`, err.split('\n'), [...secrets, ...jwts]);
      // The whole streams as one text too: a JWT split over two writes would slip past a per-line check.
      assert.ok(!JWT_SHAPE.test(out.replace(/\n/g, '')) && !JWT_SHAPE.test(err.replace(/\n/g, '')));
    });
  }
});

/**
 * The credentials of the other auth methods (an AppRole role and secret ID, a userpass password, a client key) are
 * the pod author's secrets too: after successes and every kind of failure with them, none is in a log line (trace
 * level), an error, a metric or an object version.
 */
describe('e2e: no AppRole, userpass or client-certificate credential leaves the provider', function () {
  this.timeout(60_000);
  let h: Harness;
  const errors: string[] = [];
  const versions: string[] = [];
  const credentials: string[] = [];

  before(async () => {
    const { createTlsMaterial } = await import('../vault-server/index.js');
    h = await startHarness();
    h.vault.putKv('secret', 'app', PLAIN);
    h.vault.enableAppRoleAuth();
    const roleId = h.vault.addAppRole('approle', 'web', { policies: ['web'] });
    const secretId = h.vault.newAppRoleSecretId('approle', 'web');
    h.vault.enableUserpassAuth();
    h.vault.addUserpassUser('userpass', 'alice', 'leak-check-userpass-pw-3d', { policies: ['web'] });
    const tls = await createTlsMaterial();
    credentials.push(roleId, secretId, 'leak-check-userpass-pw-3d', 'leak-check-wrong-secret-id-8f', 'leak-check-wrong-pw-2a', 'leak-check-5xx-pw-71', 'leak-check-5xx-secret-id-c4', tls.clientKeyPem.split('\n')[1]!);
    await h.startProvider();
    const objects = [{ objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' }];
    const approle = (id: string) => h.request({ objects, params: { vaultAuthMethod: 'approle', vaultRoleID: roleId }, jwt: null, secrets: { secretId: id } });
    const userpass = (pw: string) => h.request({ objects, params: { vaultAuthMethod: 'userpass', vaultUsername: 'alice' }, jwt: null, secrets: { password: pw } });
    for (const good of [approle(secretId), approle(secretId), userpass('leak-check-userpass-pw-3d')]) {
      versions.push(...(await h.client.mount(good)).object_version.map((v) => v.version));
    }
    // Vault's answer quoting the credential (a proxy or plugin might): cut out of the message.
    h.vault.injectFault({ pathPrefix: 'auth/userpass/login', status: 400, body: { errors: ['bad password leak-check-wrong-pw-2a'] }, times: 1 });
    const failing = [
      approle('leak-check-wrong-secret-id-8f'),
      userpass('leak-check-wrong-pw-2a'),
      userpass('leak-check-wrong-pw-2a'),
      h.request({ objects, params: { vaultAuthMethod: 'cert' }, jwt: null, secrets: { 'tls.crt': tls.clientCertPem, 'tls.key': tls.clientKeyPem } }),
      h.request({ objects, params: { vaultAuthMethod: 'cert' }, jwt: null, secrets: { 'tls.crt': tls.clientKeyPem, 'tls.key': tls.clientKeyPem } }),
    ];
    for (const bad of failing) errors.push((await h.client.mountError(bad)).details);
    // A proxy echoing the login's body in a 5xx (retried, so echoed again each time): a 403 was always cleaned, a 5xx too.
    for (const [path, status, bad] of [
      ['auth/userpass/login', 502, userpass('leak-check-5xx-pw-71')],
      ['auth/approle/login', 503, approle('leak-check-5xx-secret-id-c4')],
    ] as const) {
      const echo = h.vault.injectFault({ pathPrefix: path, status, echoBody: true });
      const err = await h.client.mountError(bad);
      echo.remove();
      assert.ok(echo.hits > 0, path);
      assert.match(err.details, new RegExp(`^VAULT_UNAVAILABLE: .*Vault answered ${status} .*upstream failed on request \\{.*\\[redacted\\]`), err.details);
      errors.push(err.details);
    }
  });

  after(async () => h.close());

  it('has put none of them into a log line, error message, metric or object version', async () => {
    assert.equal(errors.length, 7);
    assert.ok(errors.some((e) => e.includes('[redacted]')), 'the echoed password was cut out');
    assertNoLeaks('log line', h.logs, credentials);
    assertNoLeaks('error message', errors, credentials);
    assertNoLeaks('object version', versions, credentials);
    const metrics = await h.provider.metrics.registry.metrics();
    assertNoLeaks('metric', metrics.split('\n'), credentials);
  });
});
