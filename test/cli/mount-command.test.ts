/**
 * `vault-csi-provider mount` against the Vault-compatible test server: SecretProviderClass / Pod YAML fixtures in,
 * files written by the atomic writer, a table out, and one exit code per kind of failure.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startHarness, fixedHmacKey, POD, type Harness } from '../helpers/provider-harness.js';
import { MountExitCodes, runMountCommand } from '../../src/cli/mount-command.js';
import { driverAttributes, parsePod, ManifestError } from '../../src/cli/manifests.js';
import { builtMain } from '../helpers/built.js';

const FIXTURES = new URL('../fixtures/mount-command/', import.meta.url).pathname;
const SPC = join(FIXTURES, 'secretproviderclass.yaml');
const POD_FILE = join(FIXTURES, 'pod.yaml');
const DEPLOYMENT = join(FIXTURES, 'deployment.yaml');

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

describe('cli: vault-csi-provider mount', function () {
  this.timeout(60_000);
  let h: Harness;
  let jwtFile: string;
  let counter = 0;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'db', { username: 'app', password: 'db-pw-7f3a', hosts: ['db-0.prod.svc', 'db-1.prod.svc'] });
    h.vault.putKv('secret', 'api', { key: 'api-key-91c2' });
    h.vault.putKv('secret', 'app-config', { 'app.yaml': 'level: info\n', port: 8080 });
    // EC keys: an RSA key per issue would make each run wait on key generation.
    h.vault.addPkiRole('pki', 'web', { allowedDomains: ['prod.svc'], allowSubdomains: true, maxTtlSeconds: 86400, keyType: 'ec' });
    jwtFile = join(h.dir, 'token.jwt');
    await writeFile(jwtFile, `${h.jwtFor({ ...POD, name: 'web-0' })}\n`);
  });

  after(async () => {
    await h.close();
  });

  function target(): string {
    counter += 1;
    return join(h.dir, `out-${counter}`);
  }

  async function run(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runMountCommand(args, {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      env,
      hmacKey: fixedHmacKey(),
    });
    return { code, out: out.join(''), err: err.join('') };
  }

  function base(dir = target()): string[] {
    return ['--secret-provider-class', SPC, '--pod', POD_FILE, '--jwt-file', jwtFile, '--target', dir, '--vault-addr', h.vault.address];
  }

  async function variant(objects: string, extra = ''): Promise<string> {
    counter += 1;
    const file = join(h.dir, `spc-${counter}.yaml`);
    const indented = objects.trim().split('\n').map((l) => `      ${l}`).join('\n');
    await writeFile(
      file,
      `apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: web-secrets, namespace: prod}\nspec:\n  provider: vault\n  parameters:\n${extra}    roleName: web\n    objects: |\n${indented}\n`,
    );
    return file;
  }

  function assertNoSecrets(r: Run): void {
    for (const secret of ['db-pw-7f3a', 'api-key-91c2', 'level: info', 'BEGIN', 'eyJ']) {
      assert.ok(!r.out.includes(secret) && !r.err.includes(secret), `${secret} must not be printed: ${r.out}\n${r.err}`);
    }
  }

  it('writes the files with the atomic writer and prints objects, paths, sizes, modes and versions', async () => {
    const dir = target();
    const r = await run(base(dir));
    assert.equal(r.code, MountExitCodes.ok, r.err);
    assertNoSecrets(r);
    const lines = r.out.split('\n');
    assert.match(lines[0]!, /^OBJECT\s+PATH\s+SIZE\s+MODE\s+VERSION\s+NOTE$/);
    const row = (path: string): string[] => lines.find((l) => l.split(/\s+/)[1] === path)?.split(/\s+/) ?? [];
    assert.deepEqual(row('db-password').slice(0, 4), ['db-password', 'db-password', '10', '0644']);
    assert.match(row('db-password')[4]!, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(row('tls/tls.key').slice(0, 2), ['tls', 'tls/tls.key']);
    assert.equal(row('tls/tls.key')[3], '0600');
    assert.equal(row('tls/tls.crt')[4], row('tls/ca.crt')[4], 'one version for the whole bundle');
    assert.ok(row('config/port').length > 0 && row('config/app.yaml').length > 0);
    assert.match(r.out, /^feature-flags\s+-\s+-\s+-\s+[A-Za-z0-9_-]{43}\s+optional: not in Vault, no file$/m);
    assert.match(r.out, /^api\s+-\s+-\s+-\s+-\s+template input, no file$/m);
    assert.match(r.out, /\n8 files from 6 objects written to .*out-\d+ \(5 Vault requests\)\n/);

    // On disk as a pod would see it: ..data and one symlink per top-level name.
    assert.ok((await lstat(join(dir, 'db-password'))).isSymbolicLink());
    assert.equal(await readlink(join(dir, 'tls')), '..data/tls');
    assert.equal(await readFile(join(dir, 'db-password'), 'utf8'), 'db-pw-7f3a');
    assert.equal(await readFile(join(dir, 'db-host'), 'utf8'), 'db-0.prod.svc');
    assert.equal(await readFile(join(dir, '.env'), 'utf8'), 'DB_USER=app\nDB_PASSWORD="db-pw-7f3a"\nAPI_KEY=api-key-91c2\n');
    assert.equal(await readFile(join(dir, 'config', 'port'), 'utf8'), '8080');
    assert.equal((await stat(join(dir, 'tls', 'tls.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'db-password'))).mode & 0o777, 0o644);
    assert.match(new X509Certificate(await readFile(join(dir, 'tls', 'tls.crt'))).subject, /web\.prod\.svc/);
    assert.ok(!existsSync(join(dir, 'feature-flags')) && !existsSync(join(dir, 'api')));
  });

  it('gives the same versions on a second run with the same key (and leaves the files in place)', async () => {
    const dir = target();
    const first = await run(base(dir));
    const second = await run(base(dir));
    assert.equal(second.code, 0, second.err);
    const versionOf = (r: Run, path: string): string | undefined => r.out.split('\n').find((l) => l.split(/\s+/)[1] === path)?.split(/\s+/)[4];
    assert.equal(versionOf(second, 'db-password'), versionOf(first, 'db-password'));
    assert.notEqual(versionOf(second, 'tls/tls.crt'), versionOf(first, 'tls/tls.crt'), 'a new certificate each run');
  });

  it('takes the namespace and ServiceAccount from flags without a pod, and the class by --name', async () => {
    const r = await run(['--secret-provider-class', SPC, '--name', 'other-secrets', '--namespace', 'prod', '--service-account', 'web', '--jwt-file', jwtFile, '--target', target(), '--vault-addr', h.vault.address]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^unused\s+unused\s+3\s+0644/m);
  });

  it('reads a workload\'s pod template and its volumeAttributes, which override the parameters', async () => {
    const ambiguous = await run(['--secret-provider-class', SPC, '--pod', DEPLOYMENT, '--jwt-file', jwtFile, '--target', target(), '--vault-addr', h.vault.address]);
    assert.equal(ambiguous.code, MountExitCodes.invalidSecretProviderClass);
    assert.match(ambiguous.err, /has 2 volumes for these SecretProviderClasses; choose one with --volume/);
    const chosen = await run(['--secret-provider-class', SPC, '--pod', DEPLOYMENT, '--volume', 'secrets', '--jwt-file', jwtFile, '--target', target(), '--vault-addr', h.vault.address]);
    assert.equal(chosen.code, MountExitCodes.authentication, chosen.err);
    assert.match(chosen.err, /AUTH_FAILED: Vault login as role "web-override"/);
  });

  describe('exit codes', () => {
    it('2 for a usage error: a missing flag, an unknown flag, an unreadable file', async () => {
      for (const args of [
        ['--secret-provider-class', SPC, '--jwt-file', jwtFile],
        [...base(), '--endpoint', '/tmp/x.sock'],
        ['--secret-provider-class', join(h.dir, 'nope.yaml'), '--jwt-file', jwtFile, '--target', target()],
        ['stray'],
      ]) {
        const r = await run(args);
        assert.equal(r.code, MountExitCodes.usage, `${args.join(' ')}: ${r.err}`);
        assert.match(r.err, /Usage: vault-csi-provider mount/);
      }
    });

    it('3 for an invalid SecretProviderClass: bad objects, another provider, a parameter Kubernetes would refuse', async () => {
      const cases: ReadonlyArray<readonly [Promise<string>, RegExp]> = [
        [variant('- {objectName: a, secretPath: secret/data/db, secretKey: x, jsonPointer: /x}'), /INVALID_CONFIG: objects\[0\] \("a"\): set secretKey or jsonPointer, not both/],
        [variant('- {objectName: t, template: "{{ @ghost.x }}"}'), /template reference @"ghost" names no object/],
        [variant('- {objectName: a, secretPath: secret/data/db}', '    vaultSkipTLSVerify: true\n'), /spec\.parameters\.vaultSkipTLSVerify must be a string/],
      ];
      h.vault.clearRequests();
      for (const [file, mention] of cases) {
        const r = await run(['--secret-provider-class', await file, '--pod', POD_FILE, '--jwt-file', jwtFile, '--target', target(), '--vault-addr', h.vault.address]);
        assert.equal(r.code, MountExitCodes.invalidSecretProviderClass, r.err);
        assert.match(r.err, mention);
      }
      const azure = await variant('- {objectName: a, secretPath: s}');
      await writeFile(azure, (await readFile(azure, 'utf8')).replace('provider: vault', 'provider: azure'));
      const r = await run(['--secret-provider-class', azure, '--jwt-file', jwtFile, '--target', target()]);
      assert.equal(r.code, MountExitCodes.invalidSecretProviderClass);
      assert.match(r.err, /is for provider "azure"/);
      assert.equal(h.vault.countRequests(), 0, 'an invalid class never reaches Vault');
    });

    it('4 for a failed login, without printing the JWT', async () => {
      const badJwt = join(h.dir, 'bad.jwt');
      await writeFile(badJwt, h.jwtFor(POD, 'vault', { wrongKey: true }));
      const r = await run(['--secret-provider-class', SPC, '--pod', POD_FILE, '--jwt-file', badJwt, '--target', target(), '--vault-addr', h.vault.address]);
      assert.equal(r.code, MountExitCodes.authentication, r.err);
      assert.match(r.err, /^vault-csi-provider mount: AUTH_FAILED: /m);
      assertNoSecrets(r);
    });

    it('5 for a missing secret or key, naming the object, and nothing written', async () => {
      const dir = target();
      const file = await variant('- {objectName: p, secretPath: secret/data/db, secretKey: password}\n- {objectName: gone, secretPath: secret/data/gone, secretKey: x}');
      const r = await run(['--secret-provider-class', file, '--pod', POD_FILE, '--jwt-file', jwtFile, '--target', dir, '--vault-addr', h.vault.address]);
      assert.equal(r.code, MountExitCodes.missingSecret, r.err);
      assert.match(r.err, /SECRET_NOT_FOUND: object "gone" \(Vault path secret\/data\/gone\)/);
      assert.ok(!existsSync(join(dir, 'p')), 'all-or-nothing');
      const noKey = await variant('- {objectName: p, secretPath: secret/data/db, secretKey: nope}');
      const k = await run(['--secret-provider-class', noKey, '--pod', POD_FILE, '--jwt-file', jwtFile, '--target', target(), '--vault-addr', h.vault.address]);
      assert.equal(k.code, MountExitCodes.missingSecret, k.err);
    });

    it('6 for a path the role may not read', async () => {
      const file = await variant('- {objectName: m, secretPath: secret/metadata/db}');
      const r = await run(['--secret-provider-class', file, '--pod', POD_FILE, '--jwt-file', jwtFile, '--target', target(), '--vault-addr', h.vault.address]);
      assert.equal(r.code, MountExitCodes.permissionDenied, r.err);
      assert.match(r.err, /PERMISSION_DENIED: object "m"/);
    });

    it('6 also for a vaultAddress the trust flags do not allow, as a node with the same flags would refuse it', async () => {
      const file = await variant('- {objectName: p, secretPath: secret/data/db, secretKey: password}', '    vaultAddress: "https://vault.elsewhere.example:8200"\n');
      h.vault.clearRequests();
      const r = await run(['--secret-provider-class', file, '--pod', POD_FILE, '--jwt-file', jwtFile, '--target', target(), '--vault-addr', h.vault.address]);
      assert.equal(r.code, MountExitCodes.permissionDenied, r.err);
      assert.match(r.err, /PARAMETER_NOT_ALLOWED: .*vaultAddress/);
      assert.equal(h.vault.countRequests(), 0);
    });

    it('1 when the target directory cannot be created, naming it', async () => {
      const blocker = join(h.dir, 'a-file');
      await writeFile(blocker, 'x');
      const r = await run(base(join(blocker, 'out')));
      assert.equal(r.code, MountExitCodes.failed, r.err);
      assert.match(r.err, /WRITE_FAILED: cannot create the target directory .*a-file\/out \(ENOTDIR\)/);
    });

    it('1 when Vault cannot be reached', async () => {
      const r = await run([...base(), '--vault-addr', 'http://127.0.0.1:1', '--vault-request-timeout', '2s'], {});
      assert.equal(r.code, MountExitCodes.failed, r.err);
      assert.match(r.err, /VAULT_UNAVAILABLE/);
    });
  });

  it('runs as a subcommand of the real entry point', async () => {
    // The compiled entry the image runs (`npm test` builds first; a stale dist/ fails here).
    const child = spawn(process.execPath, [builtMain(), 'mount', ...base()], {
      env: { PATH: process.env['PATH'] ?? '', ...(process.env['NODE_V8_COVERAGE'] === undefined ? {} : { NODE_V8_COVERAGE: process.env['NODE_V8_COVERAGE'] }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const [code] = (await once(child, 'exit')) as [number | null];
    const r = { code: code ?? -1, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^OBJECT\s+PATH/);
    assert.match(r.out, /versions use a random key for this run/);
    assertNoSecrets(r);
  });

  it('parses CronJobs, refuses manifests without a pod, and builds attributes as the driver does', () => {
    const cron = parsePod(
      'apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly, namespace: jobs}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          serviceAccountName: runner\n          volumes:\n            - name: s\n              csi: {driver: secrets-store.csi.k8s.io, volumeAttributes: {secretProviderClass: x}}\n',
      'cron.yaml',
    );
    assert.deepEqual([cron.name, cron.namespace, cron.serviceAccountName, cron.volumes[0]?.secretProviderClass], ['nightly', 'jobs', 'runner', 'x']);
    assert.throws(() => parsePod('kind: Service\nspec: {}\n', 'svc.yaml'), ManifestError);
    const spc = { name: 'web-secrets', namespace: 'prod', provider: 'vault', parameters: new Map([['roleName', 'web']]) };
    assert.throws(
      () => driverAttributes({ spc, volume: undefined }, { name: 'p', namespace: 'dev', uid: 'u', serviceAccountName: 'sa' }),
      /in namespace prod, the pod in dev: the driver only looks in the pod's namespace/,
    );
    const attrs = driverAttributes(
      { spc, volume: { volumeName: 'v', secretProviderClass: 'web-secrets', volumeAttributes: new Map([['secretProviderClass', 'web-secrets'], ['roleName', 'other']]) } },
      { name: 'p', namespace: 'prod', uid: 'u', serviceAccountName: 'sa' },
    );
    assert.equal(attrs['roleName'], 'other', 'volumeAttributes on top of parameters');
    assert.equal(attrs['csi.storage.k8s.io/serviceAccount.name'], 'sa');
  });
});
