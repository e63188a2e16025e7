/** The trust-boundary flags through the real command-line parser: defaults, lists, `*` and refusals. */
import assert from 'node:assert/strict';
import { parseFlags, UsageError } from '../../src/cli/flags.js';

function trust(argv: readonly string[], env: Record<string, string> = {}): unknown {
  const r = parseFlags(argv, env);
  assert.equal(r.kind, 'run');
  return r.kind === 'run' ? r.settings.trust : undefined;
}

describe('cli/trust-flags', () => {
  it('without a list, allows only the default address (-vault-addr, VAULT_ADDR or the built-in one), no directory, no skip-verify', () => {
    const strict = { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false, authMounts: [] };
    assert.deepEqual(trust(['-vault-addr=https://vault:8200']), strict);
    assert.deepEqual(trust([], { VAULT_ADDR: 'https://vault:8200' }), strict);
    assert.deepEqual(trust([]), strict);
  });

  it('reads a comma-separated list of addresses (normalised) and directories, and the skip-verify switch', () => {
    assert.deepEqual(
      trust(['--allowed-vault-addresses', ' https://A.example:8200/ ,http://b:80', '--allowed-tls-directories=/etc/vault-tls/,/x/../ca', '--allow-skip-tls-verify']),
      { vaultAddresses: ['https://a.example:8200', 'http://b'], tlsDirectories: ['/etc/vault-tls', '/ca'], allowSkipTlsVerify: true, authMounts: [] },
    );
    assert.deepEqual(trust(['--allowed-vault-addresses=*', '-vault-addr=https://v:1']), { vaultAddresses: 'any', tlsDirectories: [], allowSkipTlsVerify: false, authMounts: [] });
  });

  it('--trust-policy=reference accepts what the reference accepts: any address, TLS files anywhere, skip-verify', () => {
    const reference = { vaultAddresses: 'any', tlsDirectories: ['/'], allowSkipTlsVerify: true, authMounts: 'any' };
    assert.deepEqual(trust(['--trust-policy=reference']), reference);
    assert.deepEqual(trust(['-trust-policy', 'reference', '-vault-addr=https://vault:8200']), reference);
    // strict is the default, spelt out or not.
    assert.deepEqual(trust(['--trust-policy=strict']), trust([]));
    assert.deepEqual(trust(['--trust-policy=strict', '--allow-skip-tls-verify']), { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: true, authMounts: [] });
  });

  it('refuses --trust-policy=reference next to the fine-grained flags, and an unknown policy, as usage errors', () => {
    for (const [argv, mention] of [
      [['--trust-policy=reference', '--allowed-vault-addresses=https://x'], /-trust-policy=reference already allows everything -allowed-vault-addresses/],
      [['--trust-policy=reference', '--allowed-tls-directories=/etc/tls'], /-allowed-tls-directories/],
      [['--trust-policy=reference', '--allow-skip-tls-verify'], /-allow-skip-tls-verify/],
      [['--trust-policy=reference', '--allowed-auth-mounts=cert'], /-allowed-auth-mounts/],
      [['--trust-policy=open'], /"open" is not one of strict, reference/],
    ] as const) {
      assert.throws(() => parseFlags(argv, {}), (err: unknown) => err instanceof UsageError && mention.test(err.problem));
    }
  });

  it('refuses a bad address, a relative directory and `*` mixed with addresses, as usage errors', () => {
    for (const [argv, mention] of [
      [['--allowed-vault-addresses=ftp://x'], /allowed-vault-addresses/],
      [['--allowed-vault-addresses=https://u:p@x'], /user name or password/],
      [['--allowed-vault-addresses=*,https://x'], /cannot be combined/],
      [['--allowed-tls-directories=relative/dir'], /not an absolute directory/],
      [['--allowed-auth-mounts=*,cert'], /-allowed-auth-mounts: `\*` \(any auth mount\) cannot be combined/],
      [['--allowed-auth-mounts=team/../cert'], /-allowed-auth-mounts must be a Vault auth mount path/],
    ] as const) {
      assert.throws(() => parseFlags(argv, {}), (err: unknown) => err instanceof UsageError && mention.test(err.problem));
    }
  });

  it('reads --allowed-auth-mounts: auth mount paths without their slashes, or * for any', () => {
    const given = (value: string) => (trust([`--allowed-auth-mounts=${value}`]) as { authMounts: unknown }).authMounts;
    assert.deepEqual(given(' /cert/ , team-a/jwt'), ['cert', 'team-a/jwt']);
    assert.equal(given('*'), 'any');
    assert.deepEqual(given(''), []);
  });
});
