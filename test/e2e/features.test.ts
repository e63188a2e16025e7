/**
 * Our keys beyond the reference, end to end through the gRPC API against the Vault-compatible test server:
 * optional objects, JSON pointers, templates, whole secrets as files, PKI bundles — each with its failure modes.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, readdir, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';

function files(res: MountResponse__Output): Map<string, { mode: number; text: string }> {
  return new Map(res.files.map((f) => [f.path, { mode: f.mode, text: Buffer.from(f.contents).toString('utf8') }]));
}

function versions(res: MountResponse__Output): Map<string, string> {
  return new Map(res.object_version.map((v) => [v.id, v.version]));
}

function certs(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

describe('e2e: features beyond the reference', function () {
  this.timeout(60_000);
  let h: Harness;
  let rootCaPem: string;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'pw-1', user: 'svc' });
    h.vault.putKv('secret', 'nested', {
      config: { db: { hosts: ['db-0.prod', 'db-1.prod'], port: 5432 } },
      'a/b': 'slash-key',
      'a.b': 'dot-key',
      'm~n': 'tilde-key',
      b64: Buffer.from([0, 1, 2, 255]).toString('base64'),
    });
    h.vault.putKv('secret', 'registry', { server: 'registry.example.com', username: 'robot$ci', password: 'pa"ss\\word' });
    h.vault.putKv('secret', 'evil', { value: '{{ @registry.password }}' });
    h.vault.putKv('secret', 'many', { 'app.yaml': 'a: 1\n', '.env': 'X=1\n', port: 8080, 'ca.pem': 'PEM' });
    h.vault.putKv('secret', 'bad-keys', { ok: '1', 'x/y': '2' });
    ({ rootCaPem } = await h.vault.enablePki('pki-bundle', undefined, { intermediate: true }));
    h.vault.addPkiRole('pki-bundle', 'web', { allowedDomains: ['prod.svc'], allowSubdomains: true, maxTtlSeconds: 86400, keyType: 'ec' });
    h.vault.putPolicy('web', `
path "secret/data/*" { capabilities = ["read"] }
path "database/creds/web" { capabilities = ["read"] }
path "pki-bundle/issue/web" { capabilities = ["create", "update"] }
`);
    await h.startProvider({}, { vaultClient: { sleep: () => Promise.resolve() } });
  });

  after(async () => {
    await h.close();
  });

  beforeEach(() => {
    h.vault.clearRequests();
    h.vault.clearFaults();
  });

  describe('optional: true', () => {
    it('skips an object whose path is missing (404) and one whose key is missing; the mount succeeds', async () => {
      const res = await h.client.mount(
        h.request({
          objects: [
            { objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' },
            { objectName: 'feature-flag', secretPath: 'secret/data/not-yet', secretKey: 'enabled', optional: true },
            { objectName: 'api-key', secretPath: 'secret/data/app', secretKey: 'api-key', optional: true },
          ],
        }),
      );
      assert.deepEqual([...files(res).keys()], ['password']);
      assert.deepEqual([...versions(res).keys()], ['password', 'feature-flag', 'api-key'], 'an absence is still a version entry');
      assert.equal(h.vault.countRequests({ kind: 'read' }), 2, 'one read per distinct path');
      const line = h.logs.filter((l) => l.includes('"msg":"mount"')).at(-1)!;
      assert.match(line, /"absentOptional":\["feature-flag","api-key"\]/);
    });

    it('keeps the absence version stable, and changes it when the secret appears', async () => {
      const objects = [{ objectName: 'late', secretPath: 'secret/data/late', secretKey: 'v', optional: true }];
      const first = versions(await h.client.mount(h.request({ objects })));
      const again = versions(await h.client.mount(h.request({ objects })));
      assert.equal(first.get('late'), again.get('late'));
      h.vault.putKv('secret', 'late', { v: 'now-here' });
      const res = await h.client.mount(h.request({ objects }));
      assert.equal(files(res).get('late')?.text, 'now-here');
      assert.notEqual(versions(res).get('late'), first.get('late'));
      h.vault.deleteKv('secret', 'late', undefined, { all: true });
      const gone = versions(await h.client.mount(h.request({ objects })));
      assert.equal(gone.get('late'), first.get('late'), 'absent again: the absence version again');
    });

    it('never skips a 403', async () => {
      const err = await h.client.mountError(
        h.request({ objects: [{ objectName: 'm', secretPath: 'secret/metadata/app', optional: true }] }),
      );
      assert.equal(err.code, status.PERMISSION_DENIED, err.details);
      assert.match(err.details, /^PERMISSION_DENIED: object "m"/);
    });

    it('never skips a network failure or a 5xx', async () => {
      const objects = [
        { objectName: 'a', secretPath: 'secret/data/app', secretKey: 'user' },
        { objectName: 'o', secretPath: 'secret/data/flaky', secretKey: 'v', optional: true },
      ];
      h.vault.injectFault({ pathPrefix: 'secret/data/flaky', resetConnection: true });
      const reset = await h.client.mountError(h.request({ objects }));
      assert.equal(reset.code, status.UNAVAILABLE, reset.details);
      assert.match(reset.details, /^VAULT_UNAVAILABLE: object "o"/);
      h.vault.clearFaults();
      h.vault.injectFault({ pathPrefix: 'secret/data/flaky', status: 500 });
      const fiveHundred = await h.client.mountError(h.request({ objects }));
      assert.equal(fiveHundred.code, status.UNAVAILABLE, fiveHundred.details);
    });

    it('does not make a required object optional because it shares the request', async () => {
      const err = await h.client.mountError(
        h.request({
          objects: [
            { objectName: 'opt', secretPath: 'secret/data/nothing', secretKey: 'a', optional: true },
            { objectName: 'req', secretPath: 'secret/data/nothing', secretKey: 'b' },
          ],
        }),
      );
      assert.equal(err.code, status.NOT_FOUND, err.details);
      assert.match(err.details, /^SECRET_NOT_FOUND: object "req"/, 'the required object is the one named');
    });

    it('still fails an optional object whose value cannot be decoded', async () => {
      const err = await h.client.mountError(
        h.request({ objects: [{ objectName: 'd', secretPath: 'secret/data/app', secretKey: 'user', encoding: 'hex', optional: true }] }),
      );
      assert.equal(err.code, status.FAILED_PRECONDITION, err.details);
    });
  });

  describe('jsonPointer', () => {
    it('selects nested values and keys holding "/", "." and "~"; secretKey stays literal', async () => {
      const res = await h.client.mount(
        h.request({
          objects: [
            { objectName: 'host', secretPath: 'secret/data/nested', jsonPointer: '/config/db/hosts/1' },
            { objectName: 'db.json', secretPath: 'secret/data/nested', jsonPointer: '/config/db' },
            { objectName: 'slash', secretPath: 'secret/data/nested', jsonPointer: '/a~1b' },
            { objectName: 'dot', secretPath: 'secret/data/nested', jsonPointer: '/a.b' },
            { objectName: 'tilde', secretPath: 'secret/data/nested', jsonPointer: '/m~0n' },
            { objectName: 'literal', secretPath: 'secret/data/nested', secretKey: 'a/b' },
            { objectName: 'bin', secretPath: 'secret/data/nested', jsonPointer: '/b64', encoding: 'base64' },
          ],
        }),
      );
      const f = files(res);
      assert.equal(f.get('host')?.text, 'db-1.prod');
      assert.equal(f.get('db.json')?.text, '{"hosts":["db-0.prod","db-1.prod"],"port":5432}');
      assert.equal(f.get('slash')?.text, 'slash-key');
      assert.equal(f.get('dot')?.text, 'dot-key');
      assert.equal(f.get('tilde')?.text, 'tilde-key');
      assert.equal(f.get('literal')?.text, 'slash-key');
      assert.deepEqual(Buffer.from(res.files.find((x) => x.path === 'bin')!.contents), Buffer.from([0, 1, 2, 255]));
      assert.equal(h.vault.countRequests({ kind: 'read' }), 1);
    });

    it('answers NOT_FOUND naming the object and where the pointer stopped', async () => {
      const err = await h.client.mountError(
        h.request({ objects: [{ objectName: 'p', secretPath: 'secret/data/nested', jsonPointer: '/config/db/hosts/5' }] }),
      );
      assert.equal(err.code, status.NOT_FOUND);
      assert.match(err.details, /^KEY_NOT_FOUND: object "p" \(Vault path secret\/data\/nested\): JSON pointer "\/config\/db\/hosts\/5" .*has 2 elements/);
      assert.ok(!err.details.includes('db-0.prod'), 'no value in the message');
    });

    it('refuses secretKey and jsonPointer together, and a malformed pointer', async () => {
      for (const obj of [
        { objectName: 'p', secretPath: 'secret/data/nested', secretKey: 'x', jsonPointer: '/x' },
        { objectName: 'p', secretPath: 'secret/data/nested', jsonPointer: 'config/db' },
      ]) {
        const err = await h.client.mountError(h.request({ objects: [obj] }));
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /^INVALID_CONFIG: objects\[0\] \("p"\): (set secretKey or jsonPointer|jsonPointer "config\/db")/);
      }
      assert.equal(h.vault.countRequests(), 0, 'nothing was asked of Vault');
    });
  });

  describe('template', () => {
    it('renders a .env and a JDBC URL from one dynamic credential (one lease), plus another object', async () => {
      const res = await h.client.mount(
        h.request({
          objects: `
- objectName: .env
  secretPath: database/creds/web
  template: |
    DB_USER={{ .username }}
    DB_PASSWORD={{ json .password }}
    APP_USER={{ @app.user }}
- objectName: jdbc-url
  secretPath: database/creds/web
  template: "jdbc:postgresql://db.prod.svc:5432/app?user={{ urlencode .username }}&password={{ urlencode .password }}"
- objectName: app
  secretPath: secret/data/app
  inputOnly: true
`,
        }),
      );
      const f = files(res);
      const env = Object.fromEntries(f.get('.env')!.text.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      assert.match(env['DB_USER']!, /^v-/);
      assert.equal(env['APP_USER'], 'svc');
      const url = new URL(f.get('jdbc-url')!.text.slice('jdbc:'.length));
      assert.equal(url.searchParams.get('user'), env['DB_USER'], 'both files from the same credential');
      assert.equal(url.searchParams.get('password'), JSON.parse(env['DB_PASSWORD']!) as string);
      assert.equal(h.vault.countRequests({ kind: 'dynamic' }), 1, 'one lease for both templates');
      assert.ok(!f.has('app'), 'an inputOnly object writes no file');
      assert.deepEqual([...versions(res).keys()], ['.env', 'jdbc-url'], 'and has no version');
    });

    it('renders a config.json and a .dockerconfigjson that parse back to the secrets', async () => {
      const res = await h.client.mount(
        h.request({
          objects: `
- objectName: reg
  secretPath: secret/data/registry
  inputOnly: true
- objectName: .dockerconfigjson
  template: '{"auths":{{{ json @reg.server }}:{"username":{{ json @reg.username }},"password":{{ json @reg.password }},"auth":"{{ base64 @reg.username ":" @reg.password }}"}}}'
- objectName: config.json
  secretPath: secret/data/nested
  filePermission: 0600
  template: |
    {"hosts": {{ json .config.db.hosts }}, "port": {{ .config.db.port }}, "registry": {{ json @reg.server }}}
`,
        }),
      );
      const f = files(res);
      const docker = JSON.parse(f.get('.dockerconfigjson')!.text) as { auths: Record<string, { username: string; password: string; auth: string }> };
      const entry = docker.auths['registry.example.com']!;
      assert.deepEqual([entry.username, entry.password], ['robot$ci', 'pa"ss\\word']);
      assert.equal(Buffer.from(entry.auth, 'base64').toString(), 'robot$ci:pa"ss\\word');
      assert.deepEqual(JSON.parse(f.get('config.json')!.text), { hosts: ['db-0.prod', 'db-1.prod'], port: 5432, registry: 'registry.example.com' });
      assert.equal(f.get('config.json')?.mode, 0o600);
    });

    it('writes a value that looks like a template literally (no injection)', async () => {
      const res = await h.client.mount(
        h.request({ objects: [{ objectName: 'out', secretPath: 'secret/data/evil', template: 'v={{ .value }}' }, { objectName: 'registry', secretPath: 'secret/data/registry', secretKey: 'password' }] }),
      );
      assert.equal(files(res).get('out')?.text, 'v={{ @registry.password }}');
    });

    it('changes the template\'s version when an input changes', async () => {
      h.vault.putKv('secret', 'tpl-input', { v: 'one' });
      const objects = [
        { objectName: 'in', secretPath: 'secret/data/tpl-input', inputOnly: true },
        { objectName: 'out', template: '{{ @in.v }}' },
      ];
      const first = versions(await h.client.mount(h.request({ objects })));
      assert.equal(versions(await h.client.mount(h.request({ objects }))).get('out'), first.get('out'));
      h.vault.putKv('secret', 'tpl-input', { v: 'two' });
      const res = await h.client.mount(h.request({ objects }));
      assert.equal(files(res).get('out')?.text, 'two');
      assert.notEqual(versions(res).get('out'), first.get('out'));
    });

    it('fails naming a missing reference, never a value', async () => {
      const err = await h.client.mountError(
        h.request({
          objects: [
            { objectName: 'reg', secretPath: 'secret/data/registry', inputOnly: true },
            { objectName: 'out', template: 'u={{ @reg.username }}\np={{ @reg.token }}' },
          ],
        }),
      );
      assert.equal(err.code, status.NOT_FOUND);
      assert.match(err.details, /^KEY_NOT_FOUND: object "out": template reference @reg\.token \(line 2, column 3\): object "reg" has no key "token"/);
      assert.ok(!err.details.includes('robot'), 'no value in the message');
    });

    it('skips an optional template whose optional input is absent', async () => {
      const res = await h.client.mount(
        h.request({
          objects: [
            { objectName: 'keep', secretPath: 'secret/data/app', secretKey: 'user' },
            { objectName: 'maybe', secretPath: 'secret/data/not-there', inputOnly: true, optional: true },
            { objectName: 'out', template: '{{ @maybe.v }}', optional: true },
          ],
        }),
      );
      assert.deepEqual([...files(res).keys()], ['keep']);
      assert.deepEqual([...versions(res).keys()], ['keep', 'out']);
    });

    it('refuses syntax errors, unknown objects and unused inputs before asking Vault anything', async () => {
      const cases: ReadonlyArray<readonly [string, RegExp]> = [
        ['- {objectName: t, secretPath: secret/data/app, template: "{{ .user "}', /objects\[0\] \("t"\): template line 1, column 1: an action opened here is not closed/],
        ['- {objectName: t, template: "{{ @nobody.x }}"}', /template reference @"nobody" names no object/],
        ['- {objectName: t, template: "{{ exec .x }}", secretPath: secret/data/app}', /unknown helper "exec"/],
        ['- {objectName: i, secretPath: secret/data/app, inputOnly: true}\n- {objectName: p, secretPath: secret/data/app, secretKey: user}', /"i" is inputOnly but no template refers to it/],
      ];
      for (const [objects, mention] of cases) {
        const err = await h.client.mountError(h.request({ objects }));
        assert.equal(err.code, status.INVALID_ARGUMENT, objects);
        assert.match(err.details, mention);
      }
      assert.equal(h.vault.countRequests(), 0);
    });
  });

  describe('expand: keys', () => {
    it('maps every key of a secret to a file under objectName, with one version', async () => {
      const res = await h.client.mount(
        h.request({ objects: [{ objectName: 'app-config', secretPath: 'secret/data/many', expand: 'keys', filePermission: 0o640 }] }),
      );
      const f = files(res);
      assert.deepEqual([...f.keys()], ['app-config/.env', 'app-config/app.yaml', 'app-config/ca.pem', 'app-config/port']);
      assert.equal(f.get('app-config/app.yaml')?.text, 'a: 1\n');
      assert.equal(f.get('app-config/port')?.text, '8080');
      assert.ok([...f.values()].every((x) => x.mode === 0o640));
      assert.deepEqual([...versions(res).keys()], ['app-config']);
    });

    it('refuses a key that is not a safe file name, naming it', async () => {
      const err = await h.client.mountError(h.request({ objects: [{ objectName: 'bad', secretPath: 'secret/data/bad-keys', expand: 'keys' }] }));
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.details, /^INVALID_CONFIG: object "bad" \(Vault path secret\/data\/bad-keys\): key "x\/y" of the secret cannot be a file name under "bad\/": it contains "\/"/);
    });

    it('fails naming both objects when a key collides with another object\'s file', async () => {
      const err = await h.client.mountError(
        h.request({
          objects: [
            { objectName: 'cfg', secretPath: 'secret/data/many', expand: 'keys' },
            { objectName: 'cfg/port', secretPath: 'secret/data/app', secretKey: 'user' },
          ],
        }),
      );
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.details, /"cfg\/port" is also written by object "cfg"/);
    });

    it('writes the directory atomically in --write-files mode', async () => {
      await h.stopProvider();
      await h.startProvider({ writeFiles: true }, { vaultClient: { sleep: () => Promise.resolve() } });
      try {
        const target = join(h.dir, 'expand-target');
        await mkdir(target);
        await h.client.mount(h.request({ objects: [{ objectName: 'cfg', secretPath: 'secret/data/many', expand: 'keys' }], targetPath: target }));
        assert.equal(await readlink(join(target, 'cfg')), '..data/cfg');
        assert.deepEqual((await readdir(join(target, 'cfg'))).sort(), ['.env', 'app.yaml', 'ca.pem', 'port']);
        assert.equal(await readFile(join(target, 'cfg', 'port'), 'utf8'), '8080');
      } finally {
        await h.stopProvider();
        await h.startProvider({}, { vaultClient: { sleep: () => Promise.resolve() } });
      }
    });
  });

  describe('expand: pki', () => {
    it('yields tls.crt (with the chain), tls.key and ca.crt from one issue', async () => {
      const res = await h.client.mount(
        h.request({
          objects: [{ objectName: 'tls', secretPath: 'pki-bundle/issue/web', method: 'PUT', secretArgs: { common_name: 'web.prod.svc', ttl: '1h' }, expand: 'pki', filePermission: 0o600 }],
        }),
      );
      const f = files(res);
      assert.deepEqual([...f.keys()], ['tls/tls.crt', 'tls/tls.key', 'tls/ca.crt']);
      const chain = certs(f.get('tls/tls.crt')!.text);
      assert.equal(chain.length, 2, 'leaf and intermediate');
      assert.match(chain[0]!.subject, /web\.prod\.svc/);
      const [root] = certs(f.get('tls/ca.crt')!.text);
      assert.equal(root!.toString().trim(), new X509Certificate(rootCaPem).toString().trim());
      assert.ok(chain[0]!.verify(chain[1]!.publicKey) && chain[1]!.verify(root!.publicKey), 'leaf → intermediate → root');
      assert.ok(chain[0]!.checkPrivateKey(createPrivateKey(f.get('tls/tls.key')!.text)));
      assert.equal(f.get('tls/tls.key')?.mode, 0o600);
      assert.equal(h.vault.countRequests({ kind: 'issue' }), 1);
      assert.deepEqual([...versions(res).keys()], ['tls']);
    });

    it('fails naming the object when the PKI answers in DER', async () => {
      const err = await h.client.mountError(
        h.request({ objects: [{ objectName: 'tls', secretPath: 'pki-bundle/issue/web', method: 'PUT', secretArgs: { common_name: 'web.prod.svc', format: 'der' }, expand: 'pki' }] }),
      );
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.match(err.details, /^DECODE_FAILED: object "tls" \(Vault path pki-bundle\/issue\/web\): field "certificate" holds no PEM certificate/);
    });

    it('refuses an encoding with expand pki, and an unknown expand mode', async () => {
      for (const extra of [{ expand: 'pki', encoding: 'base64' }, { expand: 'everything' }]) {
        const err = await h.client.mountError(h.request({ objects: [{ objectName: 'tls', secretPath: 'pki-bundle/issue/web', method: 'PUT', ...extra }] }));
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /objects\[0\] \("tls"\): expand/);
      }
    });
  });

  // Last (mocha runs nested describes after this level's own tests): every mount above has logged by now.
  describe('logs', () => {
    it('never hold a value that was rendered, pointed at or expanded', () => {
      assert.ok(h.logs.length > 20, 'the mounts above were logged');
      for (const secret of ['pw-1', 'pa"ss', 'pa\\"ss', 'slash-key', 'tilde-key', 'db-0.prod', 'BEGIN', 'robot$ci']) {
        assert.deepEqual(h.logLinesWith(secret), [], secret);
      }
    });
  });
});
