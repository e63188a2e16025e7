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
    const strict = { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false };
    assert.deepEqual(trust(['-vault-addr=https://vault:8200']), strict);
    assert.deepEqual(trust([], { VAULT_ADDR: 'https://vault:8200' }), strict);
    assert.deepEqual(trust([]), strict);
  });

  it('reads a comma-separated list of addresses (normalised) and directories, and the skip-verify switch', () => {
    assert.deepEqual(
      trust(['--allowed-vault-addresses', ' https://A.example:8200/ ,http://b:80', '--allowed-tls-directories=/etc/vault-tls/,/x/../ca', '--allow-skip-tls-verify']),
      { vaultAddresses: ['https://a.example:8200', 'http://b'], tlsDirectories: ['/etc/vault-tls', '/ca'], allowSkipTlsVerify: true },
    );
    assert.deepEqual(trust(['--allowed-vault-addresses=*', '-vault-addr=https://v:1']), { vaultAddresses: 'any', tlsDirectories: [], allowSkipTlsVerify: false });
  });

  it('refuses a bad address, a relative directory and `*` mixed with addresses, as usage errors', () => {
    for (const [argv, mention] of [
      [['--allowed-vault-addresses=ftp://x'], /allowed-vault-addresses/],
      [['--allowed-vault-addresses=https://u:p@x'], /user name or password/],
      [['--allowed-vault-addresses=*,https://x'], /cannot be combined/],
      [['--allowed-tls-directories=relative/dir'], /not an absolute directory/],
    ] as const) {
      assert.throws(() => parseFlags(argv, {}), (err: unknown) => err instanceof UsageError && mention.test(err.problem));
    }
  });
});
