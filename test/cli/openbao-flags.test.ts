/** The OpenBao provider's flags (-openbao-*) and environment (BAO_*): read as ours, and never both spellings. */
import assert from 'node:assert/strict';
import { parseFlags, UsageError, usageText } from '../../src/cli/flags.js';
import { OPENBAO_ENV, OPENBAO_FLAGS } from '../../src/cli/openbao-flags.js';
import { settingsFrom } from '../helpers/settings.js';

type Env = Record<string, string | undefined>;


function problem(argv: readonly string[], env: Env = {}): string {
  try {
    parseFlags(argv, env);
  } catch (err: unknown) {
    assert.ok(err instanceof UsageError, String(err));
    return err.problem;
  }
  assert.fail('expected a UsageError');
}

const VALUES: Readonly<Record<string, string>> = {
  'vault-addr': 'https://bao.example:8200',
  'vault-mount': 'jwt',
  'vault-namespace': 'team-a',
  'vault-tls-ca-cert': '/tls/ca.pem',
  'vault-tls-ca-directory': '/tls/cas',
  'vault-tls-server-name': 'bao.internal',
  'vault-tls-client-cert': '/tls/c.pem',
  'vault-tls-client-key': '/tls/k.pem',
};

describe('cli/openbao-flags', () => {
  it('reads each -openbao-* flag as its -vault-* flag', () => {
    for (const [openbao, ours] of OPENBAO_FLAGS) {
      if (ours === 'vault-tls-skip-verify') {
        assert.equal(settingsFrom([`--${openbao}`]).defaults.tls.skipVerify, true);
        assert.equal(settingsFrom([`-${openbao}=false`]).defaults.tls.skipVerify, false);
        continue;
      }
      // The client certificate needs its key, and the other way round.
      const pair = ours === 'vault-tls-client-cert' ? ['--vault-tls-client-key=/k'] : ours === 'vault-tls-client-key' ? ['--vault-tls-client-cert=/c'] : [];
      assert.deepEqual(settingsFrom([`--${openbao}=${VALUES[ours]}`, ...pair]), settingsFrom([`--${ours}=${VALUES[ours]}`, ...pair]), openbao);
      assert.deepEqual(settingsFrom([`-${openbao}`, VALUES[ours]!, ...pair]), settingsFrom([`--${ours}=${VALUES[ours]}`, ...pair]), `${openbao} with a separate value`);
    }
  });

  it('reads each BAO_* variable as its VAULT_* variable', () => {
    const values: Record<string, string> = {
      VAULT_ADDR: 'https://bao.example:8200',
      VAULT_NAMESPACE: 'team-a',
      VAULT_CACERT: '/tls/ca.pem',
      VAULT_CAPATH: '/tls/cas',
      VAULT_TLS_SERVER_NAME: 'bao.internal',
      VAULT_SKIP_VERIFY: 'true',
    };
    for (const [bao, ours] of OPENBAO_ENV) {
      if (ours === 'VAULT_CLIENT_CERT' || ours === 'VAULT_CLIENT_KEY') continue;
      assert.deepEqual(settingsFrom([], { [bao]: values[ours] }), settingsFrom([], { [ours]: values[ours] }), bao);
    }
    const pair = settingsFrom([], { BAO_CLIENT_CERT: '/c', BAO_CLIENT_KEY: '/k' }).defaults.tls;
    assert.deepEqual([pair.clientCertPath, pair.clientKeyPath], ['/c', '/k']);
    // The usual precedence: a flag, of either spelling, beats the environment, of either spelling.
    assert.equal(settingsFrom(['--openbao-addr=https://flag:8200'], { BAO_ADDR: 'https://env:8200' }).defaults.vaultAddress, 'https://flag:8200');
    assert.equal(settingsFrom(['--vault-addr=https://flag:8200'], { BAO_ADDR: 'https://env:8200' }).defaults.vaultAddress, 'https://flag:8200');
    assert.equal(settingsFrom([], { BAO_SKIP_VERIFY: 'false' }).defaults.tls.skipVerify, false);
    assert.match(problem([], { BAO_SKIP_VERIFY: 'maybe' }), /could not parse VAULT_SKIP_VERIFY/);
  });

  it('stops the start when both spellings of one flag or variable are given, naming both', () => {
    for (const [openbao, ours] of OPENBAO_FLAGS) {
      const argv = ours === 'vault-tls-skip-verify' ? [`--${ours}`, `--${openbao}=false`] : [`--${ours}=x`, `--${openbao}=x`];
      assert.equal(problem(argv), `-${ours} and -${openbao} name the same setting: give only one of them`);
    }
    for (const [bao, ours] of OPENBAO_ENV) {
      assert.equal(problem([], { [bao]: 'x', [ours]: 'x' }), `${ours} and ${bao} name the same setting: set only one of them`);
    }
    // An empty variable is not given, for either spelling.
    assert.equal(settingsFrom([], { BAO_ADDR: 'https://bao:8200', VAULT_ADDR: '' }).defaults.vaultAddress, 'https://bao:8200');
    assert.equal(settingsFrom([], { BAO_ADDR: '', VAULT_ADDR: 'https://v:8200' }).defaults.vaultAddress, 'https://v:8200');
  });

  it('prints the version even when the environment names a setting twice', () => {
    assert.equal(parseFlags(['--version'], { BAO_ADDR: 'a', VAULT_ADDR: 'b' }).kind, 'version');
  });

  it('lists the -openbao-* flags in the usage text', () => {
    const text = usageText();
    for (const [openbao, ours] of OPENBAO_FLAGS) {
      assert.match(text, new RegExp(`^  -${openbao}\\b.*\\n\\s+\\tThe OpenBao provider's spelling of -${ours}\\b`, 'm'), openbao);
    }
  });
});
