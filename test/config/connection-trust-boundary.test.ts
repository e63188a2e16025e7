/**
 * The trust boundary on a real filesystem: symlinks and `..` are resolved before the policy is applied again, a CA
 * directory's entries are checked one by one, the connection carries the real paths, and a path refused by its
 * spelling is never looked up at all.
 */
import assert from 'node:assert/strict';
import { mountConfigWith } from '../helpers/mount-config.js';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProviderError } from '../../src/errors.js';
import { buildTrustPolicy, TrustBoundary, type PathResolver } from '../../src/config/connection.js';
import { nodePathResolver } from '../../src/cli/object-graph.js';
import type { ProviderDefaults } from '../../src/config/types.js';

const mount = mountConfigWith;

async function refusal(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (err: unknown) {
    assert.ok(err instanceof ProviderError, String(err));
    return err;
  }
  throw new Error('expected a refusal');
}

describe('mount/trust-boundary', () => {
  let root: string;
  let allowed: string;
  let outside: string;
  let sa: string;
  let lookups: string[];
  let boundary: TrustBoundary;
  const defaults: ProviderDefaults = { vaultAddress: 'https://vault:8200', vaultMount: 'kubernetes', vaultNamespace: undefined, tls: { skipVerify: false } };

  before(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'vcp-trust-')));
    allowed = join(root, 'allowed');
    outside = join(root, 'outside');
    sa = join(root, 'allowed', 'sa');
    await mkdir(join(allowed, 'cas'), { recursive: true });
    await mkdir(join(allowed, 'bad-cas'), { recursive: true });
    await mkdir(sa, { recursive: true });
    await mkdir(outside);
    await writeFile(join(allowed, 'ca.pem'), 'ca');
    await writeFile(join(allowed, 'cas', 'one.pem'), 'ca');
    await writeFile(join(outside, 'secret.pem'), 'not yours');
    await writeFile(join(sa, 'token'), 'provider token');
    await symlink(join(outside, 'secret.pem'), join(allowed, 'escape.pem'));
    await mkdir(join(allowed, 'sa-cas'));
    await writeFile(join(allowed, 'sa-cas', 'fine.pem'), 'ca');
    await symlink('../sa/token', join(allowed, 'sa-cas', 'token-link'));
    await symlink(join(sa, 'token'), join(allowed, 'token-link'));
    await symlink('ca.pem', join(allowed, 'inside-link.pem'));
    await writeFile(join(allowed, 'bad-cas', 'fine.pem'), 'ca');
    await symlink(join(outside, 'secret.pem'), join(allowed, 'bad-cas', 'leak.pem'));
    await symlink(join(outside, 'gone.pem'), join(allowed, 'cas', 'dangling.pem'));
    // An allowed directory reached through a symlink (as a volume mount often is).
    await symlink(allowed, join(root, 'allowed-link'));
  });

  beforeEach(() => {
    lookups = [];
    const recording: PathResolver = {
      realpath: (p) => {
        lookups.push(p);
        return nodePathResolver.realpath(p);
      },
      readdir: (p) => nodePathResolver.readdir(p),
    };
    boundary = new TrustBoundary(
      buildTrustPolicy({ vaultAddresses: [], tlsDirectories: [join(root, 'allowed-link')], allowSkipTlsVerify: false }, defaults, [sa]),
      defaults,
      recording,
    );
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('passes files inside an allowed directory and hands on their real paths', async () => {
    const viaLink = join(root, 'allowed-link', 'inside-link.pem');
    const c = await boundary.connection(mount({ vaultCACertPath: viaLink }));
    assert.equal(c.tls.caCertPath, join(allowed, 'ca.pem'));
    assert.ok(c.key.includes(JSON.stringify(join(allowed, 'ca.pem'))));
    // `..` inside the directory is fine; a dangling entry is skipped (the loader cannot read it either).
    const d = await boundary.connection(mount({ vaultCADirectory: join(root, 'allowed-link', 'cas', '..', 'cas') }));
    assert.equal(d.tls.caDirectory, join(allowed, 'cas'));
  });

  it('refuses a symlink inside an allowed directory that leads out of it', async () => {
    const err = await refusal(boundary.connection(mount({ vaultCACertPath: join(allowed, 'escape.pem') })));
    assert.equal(err.code, 'PARAMETER_NOT_ALLOWED');
    assert.equal(err.context.parameter, 'vaultCACertPath');
    assert.match(err.message, /leads outside/);
    assert.ok(!err.message.includes(outside), 'the message does not reveal where the link leads');
  });

  it("refuses a symlink to the provider's own token, as a file and as a CA directory entry", async () => {
    const asFile = await refusal(boundary.connection(mount({ vaultTLSClientCertPath: join(allowed, 'token-link'), vaultTLSClientKeyPath: join(allowed, 'ca.pem') })));
    assert.equal(asFile.code, 'PARAMETER_NOT_ALLOWED');
    assert.equal(asFile.context.parameter, 'vaultTLSClientCertPath');
    assert.match(asFile.message, /own credentials/);
    const inDir = await refusal(boundary.connection(mount({ vaultCADirectory: join(allowed, 'sa-cas') })));
    assert.equal(inDir.code, 'PARAMETER_NOT_ALLOWED');
    assert.match(inDir.message, /entry "token-link".*own credentials/);
    const direct = await refusal(boundary.connection(mount({ vaultCACertPath: join(sa, 'token') })));
    assert.equal(direct.code, 'PARAMETER_NOT_ALLOWED');
  });

  it('refuses a CA directory with an entry leading outside, naming the entry', async () => {
    const err = await refusal(boundary.connection(mount({ vaultCADirectory: join(allowed, 'bad-cas') })));
    assert.equal(err.code, 'PARAMETER_NOT_ALLOWED');
    assert.equal(err.context.parameter, 'vaultCADirectory');
    assert.match(err.message, /entry "leak\.pem" leads outside/);
  });

  it('never looks up a path refused by its spelling (no existence oracle outside the allowed directories)', async () => {
    for (const path of [join(outside, 'secret.pem'), join(allowed, '..', 'outside', 'secret.pem'), join(outside, 'missing.pem'), '/etc/shadow']) {
      lookups = [];
      const err = await refusal(boundary.connection(mount({ vaultCACertPath: path })));
      assert.equal(err.code, 'PARAMETER_NOT_ALLOWED');
      assert.ok(!lookups.includes(path) && !lookups.some((p) => p.startsWith(outside)), `looked up ${lookups.join(', ')}`);
    }
    // The same message whether or not the file exists.
    const a = await refusal(boundary.connection(mount({ vaultCACertPath: join(outside, 'secret.pem') })));
    const b = await refusal(boundary.connection(mount({ vaultCACertPath: join(outside, 'missing.pem') })));
    assert.equal(a.message.replace('secret.pem', 'X'), b.message.replace('missing.pem', 'X'));
  });

  it('reports a missing file inside an allowed directory as LOCAL_FILE_ERROR naming the parameter', async () => {
    const err = await refusal(boundary.connection(mount({ vaultCACertPath: join(allowed, 'nope.pem') })));
    assert.equal(err.code, 'LOCAL_FILE_ERROR');
    assert.match(err.message, /vaultCACertPath ".*nope\.pem" \(ENOENT\)/);
  });

  it('resolves nothing for a mount that names no TLS file', async () => {
    lookups = [];
    await boundary.connection(mount({}));
    assert.deepEqual(lookups, []);
  });
});
