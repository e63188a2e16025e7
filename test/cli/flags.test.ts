import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFlags, UsageError, usageText, DEFAULT_VAULT_ADDRESS, type ProviderSettings } from '../../src/cli/flags.js';
import { settingsFrom } from '../helpers/settings.js';


function usageError(argv: readonly string[], mention: RegExp, env: Record<string, string | undefined> = {}): UsageError {
  let caught: unknown;
  try {
    parseFlags(argv, env);
  } catch (err: unknown) {
    caught = err;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError, got ${String(caught)}`);
  assert.match(caught.problem, mention);
  assert.ok(caught.message.includes(usageText()), 'the message carries the usage text');
  return caught;
}

describe('cli/flags parseFlags', () => {
  it('has the reference defaults', () => {
    assert.deepEqual(settingsFrom([]), {
      endpoint: '/tmp/vault.sock',
      healthAddr: ':8080',
      logLevel: 'info',
      hmacSecretName: 'vault-csi-provider-hmac-key',
      hmacKeyFile: undefined,
      cacheSize: 1000,
      writeFiles: false,
      requestTimeoutMs: 30_000,
      leaseReuseFraction: 2 / 3,
      leaseCacheSize: 5000,
      leaseCacheMaxBytes: 8 * 1024 * 1024,
      memoryBudgetBytes: 24 * 1024 * 1024,
      mountResponseBudgetBytes: 8 * 1024 * 1024,
      maxMountsInFlight: 256,
      maxMountsInFlightPerNamespace: 64,
      maxMountsQueued: 1024,
      stateMaxBytes: 16 * 1024 * 1024,
      stateIdleMs: 30 * 60_000,
      tokenRequestFallback: false,
      trust: { vaultAddresses: [], tlsDirectories: [], allowSkipTlsVerify: false, authMounts: [] },
      vaultLimits: { maxInFlight: 32, maxInFlightPerTenant: 16, ratePerSecond: 1000, burst: 4000 },
      defaults: {
        vaultAddress: DEFAULT_VAULT_ADDRESS,
        vaultMount: 'kubernetes',
        vaultNamespace: undefined,
        tls: { skipVerify: false },
      },
    });
    assert.equal(DEFAULT_VAULT_ADDRESS, 'https://127.0.0.1:8200');
  });

  describe('Go flag syntax', () => {
    const spellings = [
      ['-endpoint', '/run/x.sock'],
      ['--endpoint', '/run/x.sock'],
      ['-endpoint=/run/x.sock'],
      ['--endpoint=/run/x.sock'],
    ];
    for (const argv of spellings) {
      it(`reads ${argv.join(' ')}`, () => {
        assert.equal(settingsFrom(argv).endpoint, '/run/x.sock');
      });
    }
    it('takes the next argument as the value even when it starts with a dash', () => {
      assert.equal(settingsFrom(['--vault-namespace', '-odd-']).defaults.vaultNamespace, '-odd-');
    });
    it('keeps everything after the first = in the value', () => {
      assert.equal(settingsFrom(['--vault-addr=https://v:8200/a=b']).defaults.vaultAddress, 'https://v:8200/a=b');
    });
    it('lets the last occurrence win', () => {
      assert.equal(settingsFrom(['--cache-size', '5', '--cache-size=7']).cacheSize, 7);
    });

    const bools: ReadonlyArray<readonly [readonly string[], boolean]> = [
      [['--write-files'], true],
      [['-write-files'], true],
      [['--write-files=true'], true],
      [['--write-files=1'], true],
      [['--write-files=T'], true],
      [['--write-files=false'], false],
      [['--write-files=0'], false],
      [['--write-files', '--write-files=false'], false],
    ];
    for (const [argv, expected] of bools) {
      it(`boolean ${argv.join(' ')} → ${expected}`, () => {
        assert.equal(settingsFrom(argv).writeFiles, expected);
      });
    }
    it('does not take a separate value for a boolean', () => {
      usageError(['--write-files', 'false'], /unexpected argument "false"/);
    });
    it('refuses a bad boolean value', () => {
      usageError(['--vault-tls-skip-verify=yes'], /invalid boolean value "yes" for -vault-tls-skip-verify/);
    });
    it('refuses an unknown flag with the usage text', () => {
      const err = usageError(['--no-such-flag'], /flag provided but not defined: -no-such-flag/);
      assert.match(err.message, /-vault-addr/);
    });
    it('refuses bad syntax, a missing value and stray arguments', () => {
      usageError(['---endpoint=x'], /bad flag syntax/);
      usageError(['-=x'], /bad flag syntax/);
      usageError(['--endpoint'], /flag needs an argument: -endpoint/);
      usageError(['serve'], /unexpected argument "serve"/);
      usageError(['-'], /unexpected argument "-"/);
      usageError(['--', 'x'], /unexpected argument "x"/);
    });
    it('stops at --', () => {
      assert.equal(settingsFrom(['--endpoint=/a', '--']).endpoint, '/a');
    });
    for (const h of ['-h', '--h', '-help', '--help', '--help=false']) {
      it(`${h} asks for help`, () => {
        const r = parseFlags([h], {});
        assert.equal(r.kind, 'help');
        assert.equal(r.kind === 'help' ? r.usage : '', usageText());
      });
    }
    it('answers help before a later error, like Go', () => {
      assert.equal(parseFlags(['-h', '--bogus'], {}).kind, 'help');
    });
  });

  describe('version', () => {
    const formats: ReadonlyArray<readonly [readonly string[], string]> = [
      [['--version'], 'json'],
      [['--version', '--output', 'yaml'], 'yaml'],
      [['--version', '--output=json-pretty'], 'json-pretty'],
      [['--version', '--output='], 'json'],
    ];
    for (const [argv, format] of formats) {
      it(`${argv.join(' ')} → ${format}`, () => {
        assert.deepEqual(parseFlags(argv, {}), { kind: 'version', format });
      });
    }
    it('refuses an unknown format', () => {
      usageError(['--version', '--output=xml'], /-output should be one of: yaml, json, json-pretty/);
    });
    it('does not depend on the rest of the configuration', () => {
      assert.equal(parseFlags(['--version', '--cache-size=0'], { VAULT_SKIP_VERIFY: 'maybe' }).kind, 'version');
    });
  });

  describe('log level', () => {
    const table: ReadonlyArray<readonly [readonly string[], string]> = [
      [[], 'info'],
      [['--debug'], 'debug'],
      [['--debug=false'], 'info'],
      [['--log-level=trace'], 'trace'],
      [['--log-level', 'WARN'], 'warn'],
      [['--log-level=off'], 'off'],
      [['--log-level=error', '--debug'], 'error'],
      [['--debug', '--log-level='], 'debug'],
    ];
    for (const [argv, level] of table) {
      it(`${argv.join(' ') || '(none)'} → ${level}`, () => {
        assert.equal(settingsFrom(argv).logLevel, level);
      });
    }
    it('refuses an unknown level (the reference silently used info)', () => {
      usageError(['--log-level=verbose'], /invalid value "verbose" for -log-level/);
    });
  });

  describe('values', () => {
    it('reads the cache size in Go integer syntax and requires it positive', () => {
      assert.equal(settingsFrom(['--cache-size=0x10']).cacheSize, 16);
      assert.equal(settingsFrom(['--cache-size', '1']).cacheSize, 1);
      for (const bad of ['0', '-5', 'ten', '1.5', '']) {
        usageError([`--cache-size=${bad}`], /-cache-size/);
      }
    });
    const durations: ReadonlyArray<readonly [string, number]> = [
      ['30s', 30_000],
      ['1m', 60_000],
      ['1m30s', 90_000],
      ['1.5s', 1_500],
      ['250ms', 250],
      ['2h', 7_200_000],
      ['1500us', 2],
    ];
    for (const [raw, ms] of durations) {
      it(`--vault-request-timeout=${raw} → ${ms} ms`, () => {
        assert.equal(settingsFrom([`--vault-request-timeout=${raw}`]).requestTimeoutMs, ms);
      });
    }
    for (const bad of ['30', '0', '-1s', '1d', 's', '', '1 s', '10ns']) {
      it(`refuses --vault-request-timeout=${JSON.stringify(bad)}`, () => {
        usageError([`--vault-request-timeout=${bad}`], /-vault-request-timeout/);
      });
    }
    for (const addr of [':8080', '0.0.0.0:9090', 'localhost:1', '[::]:8080', ':0']) {
      it(`accepts --health-addr=${addr}`, () => {
        assert.equal(settingsFrom([`--health-addr=${addr}`]).healthAddr, addr);
      });
    }
    for (const addr of ['8080', '', ':', ':70000', 'host', ':http']) {
      it(`refuses --health-addr=${JSON.stringify(addr)}`, () => {
        usageError([`--health-addr=${addr}`], /-health-addr/);
      });
    }
    it('checks the HMAC Secret name unless a key file replaces it', () => {
      assert.equal(settingsFrom(['--hmac-secret-name=my-key.v1']).hmacSecretName, 'my-key.v1');
      usageError(['--hmac-secret-name=Bad_Name'], /-hmac-secret-name/);
      usageError(['--hmac-secret-name='], /-hmac-secret-name/);
      const s = settingsFrom(['--hmac-secret-name=', '--hmac-key-file=/keys/hmac']);
      assert.equal(s.hmacKeyFile, '/keys/hmac');
    });
    it('refuses an empty endpoint and an empty auth mount', () => {
      usageError(['--endpoint='], /-endpoint/);
      usageError(['--vault-mount=/'], /-vault-mount/);
    });
    it('strips slashes from the auth mount', () => {
      assert.equal(settingsFrom(['--vault-mount=/team/jwt/']).defaults.vaultMount, 'team/jwt');
    });
    it('validates and normalises the Vault address', () => {
      assert.equal(settingsFrom(['--vault-addr=https://Vault:8200/']).defaults.vaultAddress, 'https://vault:8200');
      usageError(['--vault-addr=vault:8200'], /-vault-addr/);
      usageError([], /VAULT_ADDR/, { VAULT_ADDR: 'not a url' });
    });
  });

  describe('environment < flags', () => {
    const pairs: ReadonlyArray<readonly [string, string, (s: ProviderSettings) => unknown]> = [
      ['VAULT_ADDR', 'vault-addr', (s) => s.defaults.vaultAddress],
      ['VAULT_NAMESPACE', 'vault-namespace', (s) => s.defaults.vaultNamespace],
      ['VAULT_CACERT', 'vault-tls-ca-cert', (s) => s.defaults.tls.caCertPath],
      ['VAULT_CAPATH', 'vault-tls-ca-directory', (s) => s.defaults.tls.caDirectory],
      ['VAULT_TLS_SERVER_NAME', 'vault-tls-server-name', (s) => s.defaults.tls.serverName],
    ];
    for (const [envName, flag, get] of pairs) {
      const value = (v: string): string => (envName === 'VAULT_ADDR' ? `https://${v}:8200` : v);
      it(`${envName} applies alone, and -${flag} overrides it`, () => {
        assert.equal(get(settingsFrom([], { [envName]: value('fromenv') })), value('fromenv'));
        assert.equal(get(settingsFrom([`--${flag}=${value('fromflag')}`], { [envName]: value('fromenv') })), value('fromflag'));
        // An empty flag or variable is unset (as in Vault's client), so the other source still applies.
        assert.equal(get(settingsFrom([`--${flag}=`], { [envName]: value('fromenv') })), value('fromenv'));
        assert.equal(get(settingsFrom([], { [envName]: '' })), envName === 'VAULT_ADDR' ? DEFAULT_VAULT_ADDRESS : undefined);
      });
    }
    it('client certificate and key from either source, but always as a pair', () => {
      const env = { VAULT_CLIENT_CERT: '/e/c', VAULT_CLIENT_KEY: '/e/k' };
      assert.deepEqual(settingsFrom([], env).defaults.tls, { skipVerify: false, clientCertPath: '/e/c', clientKeyPath: '/e/k' });
      const mixed = settingsFrom(['--vault-tls-client-cert=/f/c'], env).defaults.tls;
      assert.equal(mixed.clientCertPath, '/f/c');
      assert.equal(mixed.clientKeyPath, '/e/k');
      usageError(['--vault-tls-client-cert=/f/c'], /-vault-tls-client-key/);
      usageError([], /client certificate needs its key/, { VAULT_CLIENT_KEY: '/e/k' });
    });

    const skip: ReadonlyArray<readonly [readonly string[], string | undefined, boolean]> = [
      [[], undefined, false],
      [[], '', false],
      [[], 'false', false],
      [[], '0', false],
      [[], 'true', true],
      [[], '1', true],
      [[], 'T', true],
      [['--vault-tls-skip-verify'], undefined, true],
      [['--vault-tls-skip-verify'], 'false', true],
      [['--vault-tls-skip-verify=false'], 'true', false],
    ];
    for (const [argv, envValue, expected] of skip) {
      it(`skip verify: ${argv.join(' ') || '(no flag)'} with VAULT_SKIP_VERIFY=${String(envValue)} → ${expected}`, () => {
        assert.equal(settingsFrom(argv, { VAULT_SKIP_VERIFY: envValue }).defaults.tls.skipVerify, expected);
      });
    }
    it('refuses a VAULT_SKIP_VERIFY it cannot parse, naming it', () => {
      usageError([], /VAULT_SKIP_VERIFY/, { VAULT_SKIP_VERIFY: 'yes' });
    });
    it('a given flag always beats its environment variable', () => {
      const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
      fc.assert(
        fc.property(name, name, (fromEnv, fromFlag) => {
          const s = settingsFrom([`--vault-namespace=${fromFlag}`, '--vault-tls-server-name', fromFlag], {
            VAULT_NAMESPACE: fromEnv,
            VAULT_TLS_SERVER_NAME: fromEnv,
          });
          assert.equal(s.defaults.vaultNamespace, fromFlag);
          assert.equal(s.defaults.tls.serverName, fromFlag);
        }),
      );
    });
  });

  it('reads every flag of the reference', () => {
    const s = settingsFrom([
      '-endpoint', '/etc/kubernetes/secrets-store-csi-providers/vault.sock',
      '-debug',
      '-health-addr', ':9999',
      '-hmac-secret-name', 'hmac',
      '-cache-size', '50',
      '-vault-addr', 'https://vault.vault:8200',
      '-vault-mount', 'k8s',
      '-vault-namespace', 'ns',
      '-vault-tls-ca-cert', '/ca.pem',
      '-vault-tls-ca-directory', '/cas',
      '-vault-tls-server-name', 'vault.internal',
      '-vault-tls-client-cert', '/c.pem',
      '-vault-tls-client-key', '/k.pem',
      '-vault-tls-skip-verify',
      '-hmac-key-file', '/hmac.key',
      '-write-files',
      '-vault-request-timeout', '10s',
    ]);
    // Each flag given sets its field; every other field keeps the default the test above pins.
    assert.deepEqual(s, {
      ...settingsFrom([]),
      endpoint: '/etc/kubernetes/secrets-store-csi-providers/vault.sock',
      healthAddr: ':9999',
      logLevel: 'debug',
      hmacSecretName: 'hmac',
      hmacKeyFile: '/hmac.key',
      cacheSize: 50,
      writeFiles: true,
      requestTimeoutMs: 10_000,
      defaults: {
        vaultAddress: 'https://vault.vault:8200',
        vaultMount: 'k8s',
        vaultNamespace: 'ns',
        tls: {
          caCertPath: '/ca.pem',
          caDirectory: '/cas',
          serverName: 'vault.internal',
          clientCertPath: '/c.pem',
          clientKeyPath: '/k.pem',
          skipVerify: true,
        },
      },
    });
  });

  it('reads a list of Vault addresses in -vault-addr and VAULT_ADDR, normalised, duplicates dropped', () => {
    assert.equal(settingsFrom(['-vault-addr', 'https://A.vault:8200/, https://b.vault:8200,https://a.vault:8200']).defaults.vaultAddress, 'https://a.vault:8200,https://b.vault:8200');
    assert.equal(settingsFrom([], { VAULT_ADDR: 'http://x:1,http://y:2' }).defaults.vaultAddress, 'http://x:1,http://y:2');
    assert.throws(() => settingsFrom(['-vault-addr', 'https://a:8200,,https://b:8200']), /empty entry/);
    assert.throws(() => settingsFrom(['-vault-addr', 'https://a:8200,ftp://b']), /http/);
  });

  it('reads the per-address Vault limits, refusing what is not a positive integer', () => {
    assert.deepEqual(settingsFrom(['-vault-max-in-flight', '4', '-vault-max-in-flight-per-tenant', '2', '-vault-rate-limit', '20', '-vault-rate-burst', '5']).vaultLimits, {
      maxInFlight: 4,
      maxInFlightPerTenant: 2,
      ratePerSecond: 20,
      burst: 5,
    });
    for (const flag of ['-vault-max-in-flight', '-vault-max-in-flight-per-tenant', '-vault-rate-limit', '-vault-rate-burst']) {
      assert.throws(() => settingsFrom([flag, '0']), new RegExp(`${flag}: use a positive integer`));
    }
  });

  it('lists every flag in the usage text', () => {
    const text = usageText();
    for (const name of [
      'endpoint', 'debug', 'log-level', 'version', 'output', 'health-addr', 'hmac-secret-name', 'hmac-key-file', 'cache-size',
      'write-files', 'vault-request-timeout', 'vault-addr', 'vault-mount', 'vault-namespace', 'vault-tls-ca-cert',
      'vault-tls-ca-directory', 'vault-tls-server-name', 'vault-tls-client-cert', 'vault-tls-client-key', 'vault-tls-skip-verify',
      'vault-max-in-flight', 'vault-max-in-flight-per-tenant', 'vault-rate-limit', 'vault-rate-burst',
    ]) {
      assert.match(text, new RegExp(`^  -${name}\\b`, 'm'), name);
    }
  });

  it('throws only UsageError on arbitrary command lines', () => {
    const arg = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('--endpoint', '-cache-size', '--write-files', '--log-level', '--', '-', '--version', '--output', '-h'),
    );
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), fc.dictionary(fc.constantFrom('VAULT_ADDR', 'VAULT_SKIP_VERIFY', 'VAULT_CLIENT_KEY'), fc.string({ maxLength: 8 })), (argv, env) => {
        try {
          parseFlags(argv, env);
        } catch (err: unknown) {
          assert.ok(err instanceof UsageError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('cli/flags: --audience', () => {
  it('sets the default audience list and refuses empty entries', () => {
    const parsed = parseFlags(['--audience=vault-prod,vault'], {});
    assert.equal(parsed.kind === 'run' ? parsed.settings.defaults.audience : undefined, 'vault-prod,vault');
    const plain = parseFlags([], {});
    assert.equal(plain.kind === 'run' ? plain.settings.defaults.audience : 'x', undefined);
    assert.throws(() => parseFlags(['--audience=a,,b'], {}), /-audience must be an audience or a comma-separated list/);
  });
});
