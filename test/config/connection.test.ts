import assert from 'node:assert/strict';
import { thrown } from '../helpers/rejection.js';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import { isAuthMountPath, normaliseAuthMount, normaliseVaultAddress, resolveConnection } from '../../src/config/connection.js';
import { parseFlags, UsageError } from '../../src/cli/flags.js';
import { mountConfigWith } from '../helpers/mount-config.js';

/** The defaults as the flags make them: validated and normalised once, where they are parsed. */
function flagDefaults(argv: readonly string[], env: Readonly<Record<string, string>> = {}): ProviderDefaults {
  const parsed = parseFlags(argv, env);
  assert.ok(parsed.kind === 'run');
  return parsed.settings.defaults;
}

/** A usage error naming `flag`: the provider does not start with the flag's value. */
function assertRefusedFlag(argv: readonly string[], flag: RegExp, env: Readonly<Record<string, string>> = {}): void {
  assert.throws(() => parseFlags(argv, env), (err: unknown) => err instanceof UsageError && flag.test(err.message));
}
import type { MountConfig, ProviderDefaults, TlsParameters } from '../../src/config/types.js';

function mount(over: Partial<MountConfig> = {}): MountConfig {
  return {
    roleName: 'web',
    auth: { method: 'kubernetes' },
    vaultAddress: undefined,
    vaultNamespace: undefined,
    authMountPath: undefined,
    tls: {},
    audience: 'vault',
    objects: [],
    pod: { name: 'p', namespace: 'ns', uid: 'u', serviceAccountName: 'sa' },
    secretProviderClass: 'spc',
    driverToken: undefined,
    targetPath: '/t',
    permission: 0o644,
    ignoredParameters: [],
    ...over,
  };
}

const DEFAULTS: ProviderDefaults = {
  vaultAddress: 'https://127.0.0.1:8200',
  vaultMount: 'kubernetes',
  vaultNamespace: undefined,
  tls: { skipVerify: false },
};

function defaults(over: Partial<ProviderDefaults> = {}): ProviderDefaults {
  return { ...DEFAULTS, ...over };
}

function assertInvalid(fn: () => unknown, parameter: string, mention: RegExp): void {
  const caught = thrown(() => fn());
  assert.equal(caught.code, 'INVALID_CONFIG');
  assert.equal(caught.context.parameter, parameter);
  assert.match(caught.message, mention);
}

describe('config/connection resolveConnection', () => {
  it('uses the defaults when the SecretProviderClass sets nothing', () => {
    const c = resolveConnection(mount(), defaults());
    assert.deepEqual(c, {
      address: 'https://127.0.0.1:8200',
      addresses: ['https://127.0.0.1:8200'],
      namespace: undefined,
      authMount: 'kubernetes',
      tls: {
        caCertPath: undefined,
        caDirectory: undefined,
        serverName: undefined,
        clientCertPath: undefined,
        clientKeyPath: undefined,
        skipVerify: false,
      },
      key: c.key,
    });
  });

  it('lets every SecretProviderClass field win over the defaults', () => {
    const d = defaults({
      vaultAddress: 'https://default:8200',
      vaultMount: 'k8s',
      vaultNamespace: 'root-ns',
      tls: { caCertPath: '/d/ca.pem', serverName: 'd', clientCertPath: '/d/c', clientKeyPath: '/d/k', skipVerify: true },
    });
    const c = resolveConnection(
      mount({
        vaultAddress: 'http://spc:8200/',
        vaultNamespace: 'team',
        authMountPath: 'jwt',
        tls: { caCertPath: '/s/ca.pem', serverName: 's', clientCertPath: '/s/c', clientKeyPath: '/s/k', skipVerify: false },
      }),
      d,
    );
    assert.equal(c.address, 'http://spc:8200');
    assert.equal(c.namespace, 'team');
    assert.equal(c.authMount, 'jwt');
    assert.deepEqual(c.tls, {
      caCertPath: '/s/ca.pem',
      caDirectory: undefined,
      serverName: 's',
      clientCertPath: '/s/c',
      clientKeyPath: '/s/k',
      skipVerify: false,
    });
  });

  it('overlays field by field', () => {
    const c = resolveConnection(
      mount({ vaultNamespace: 'team', tls: { serverName: 's' } }),
      defaults({ vaultNamespace: 'root-ns', tls: { caCertPath: '/d/ca.pem', serverName: 'd', skipVerify: true } }),
    );
    assert.equal(c.namespace, 'team');
    assert.equal(c.tls.serverName, 's');
    assert.equal(c.tls.caCertPath, '/d/ca.pem');
    assert.equal(c.tls.skipVerify, true);
  });

  it('keeps the CA file and directory together: a SecretProviderClass CA replaces the default trust roots', () => {
    const c = resolveConnection(mount({ tls: { caDirectory: '/s/cas' } }), defaults({ tls: { caCertPath: '/d/ca.pem' } }));
    assert.equal(c.tls.caCertPath, undefined);
    assert.equal(c.tls.caDirectory, '/s/cas');
  });

  describe('client certificate and key', () => {
    const cases: ReadonlyArray<readonly [TlsParameters, TlsParameters, string]> = [
      [{ clientCertPath: '/s/c' }, {}, 'vaultTLSClientKeyPath'],
      [{ clientKeyPath: '/s/k' }, {}, 'vaultTLSClientCertPath'],
      // Not completed from the defaults: the pair comes from one place.
      [{ clientCertPath: '/s/c' }, { clientCertPath: '/d/c', clientKeyPath: '/d/k' }, 'vaultTLSClientKeyPath'],
      [{}, { clientCertPath: '/d/c' }, 'vault-tls-client-key'],
      [{}, { clientKeyPath: '/d/k' }, 'vault-tls-client-cert'],
    ];
    for (const [spc, dflt, parameter] of cases) {
      it(`refuses ${JSON.stringify(spc)} over ${JSON.stringify(dflt)}, naming ${parameter}`, () => {
        assertInvalid(() => resolveConnection(mount({ tls: spc }), defaults({ tls: dflt })), parameter, /together/);
      });
    }
    it('takes the default pair when the SecretProviderClass names none', () => {
      const c = resolveConnection(mount(), defaults({ tls: { clientCertPath: '/d/c', clientKeyPath: '/d/k' } }));
      assert.equal(c.tls.clientCertPath, '/d/c');
      assert.equal(c.tls.clientKeyPath, '/d/k');
    });
  });

  describe('address', () => {
    const ok: ReadonlyArray<readonly [string, string]> = [
      ['https://vault.vault.svc:8200', 'https://vault.vault.svc:8200'],
      ['https://vault.vault.svc:8200/', 'https://vault.vault.svc:8200'],
      ['https://VAULT.example.com:443', 'https://vault.example.com'],
      ['http://10.0.0.1:8200', 'http://10.0.0.1:8200'],
      ['http://[::1]:8200', 'http://[::1]:8200'],
      ['https://proxy.example.com/vault/', 'https://proxy.example.com/vault'],
    ];
    for (const [raw, expected] of ok) {
      it(`${raw} → ${expected}`, () => {
        assert.equal(resolveConnection(mount({ vaultAddress: raw }), defaults()).address, expected);
      });
    }
    for (const raw of ['vault:8200', 'my-vault-address', 'ftp://vault', 'unix:///var/run/vault.sock', 'https://user:pw@vault', 'https://vault?x=1', 'https://vault#f', 'http://']) {
      it(`refuses ${JSON.stringify(raw)}, naming vaultAddress`, () => {
        assertInvalid(() => resolveConnection(mount({ vaultAddress: raw }), defaults()), 'vaultAddress', /vaultAddress/);
      });
    }
    it('reads a comma-separated list: every entry normalised, order kept, duplicates dropped, the first as `address`', () => {
      const c = resolveConnection(mount({ vaultAddress: ' https://Node-1:8200/ ,https://node-2:8200, https://node-1:8200' }), defaults());
      assert.deepEqual(c.addresses, ['https://node-1:8200', 'https://node-2:8200']);
      assert.equal(c.address, 'https://node-1:8200');
      assert.deepEqual(resolveConnection(mount(), defaults({ vaultAddress: 'http://a:1,http://b:2' })).addresses, ['http://a:1', 'http://b:2']);
    });
    it('refuses an empty entry, a bad entry and more than eight addresses, naming vaultAddress', () => {
      assertInvalid(() => resolveConnection(mount({ vaultAddress: 'https://a,' }), defaults()), 'vaultAddress', /empty entry/);
      assertInvalid(() => resolveConnection(mount({ vaultAddress: 'https://a,vault:8200' }), defaults()), 'vaultAddress', /http/);
      const nine = Array.from({ length: 9 }, (_, i) => `https://n${i}:8200`).join(',');
      assertInvalid(() => resolveConnection(mount({ vaultAddress: nine }), defaults()), 'vaultAddress', /at most 8/);
    });
    it('names the flag when the default address is bad', () => {
      assertRefusedFlag(['-vault-addr=nope'], /vault-addr/);
    });
    it('never quotes a password from the address', () => {
      try {
        normaliseVaultAddress('https://user:hunter2@vault', 'vaultAddress');
        assert.fail('expected an error');
      } catch (err: unknown) {
        assert.ok(err instanceof ProviderError);
        assert.doesNotMatch(err.message, /hunter2/);
      }
    });
  });

  describe('auth mount', () => {
    const ok: ReadonlyArray<readonly [string | undefined, string, string]> = [
      [undefined, 'kubernetes', 'kubernetes'],
      [undefined, '/kubernetes/', 'kubernetes'],
      ['jwt', 'kubernetes', 'jwt'],
      ['/team-a/jwt/', 'kubernetes', 'team-a/jwt'],
    ];
    for (const [spc, dflt, expected] of ok) {
      it(`${String(spc)} over ${dflt} → ${expected}`, () => {
        const m = spc === undefined ? mount() : mountConfigWith({ vaultAuthMountPath: spc });
        assert.equal(resolveConnection(m, flagDefaults([`-vault-mount=${dflt}`])).authMount, expected);
      });
    }
    it('refuses a mount path that cannot be one', () => {
      assertInvalid(() => mountConfigWith({ vaultAuthMountPath: 'a/../b' }), 'vaultAuthMountPath', /mount path/);
      assertInvalid(() => mountConfigWith({ vaultAuthMountPath: '/' }), 'vaultAuthMountPath', /mount path/);
      assertRefusedFlag(['-vault-mount=a/../b'], /vault-mount/);
      assertRefusedFlag(['-vault-mount='], /vault-mount/);
    });
  });

  describe('namespace', () => {
    it('passes any value an HTTP header can carry, from the SecretProviderClass or the default', () => {
      assert.equal(resolveConnection(mount({ vaultNamespace: 'team-a/sub é' }), defaults()).namespace, 'team-a/sub é');
      assert.equal(resolveConnection(mount(), defaults({ vaultNamespace: 'admin' })).namespace, 'admin');
      assert.equal(resolveConnection(mount(), defaults()).namespace, undefined);
    });
    it('refuses control characters and characters beyond Latin-1, naming the parameter or flag', () => {
      for (const bad of ['a\nb', 'a\rb', 'x\u0000', 'ns\u2028', '名前']) {
        assertInvalid(() => resolveConnection(mount({ vaultNamespace: bad }), defaults()), 'vaultNamespace', /header/);
      }
      assertRefusedFlag(['-vault-namespace=a\u007fb'], /vault-namespace.*header/);
      assertRefusedFlag([], /VAULT_NAMESPACE.*header/, { VAULT_NAMESPACE: 'x\ny' });
    });
  });

  describe('key', () => {
    const variants: ReadonlyArray<readonly [string, Partial<MountConfig>]> = [
      ['address', { vaultAddress: 'https://other:8200' }],
      ['namespace', { vaultNamespace: 'ns' }],
      ['empty namespace', { vaultNamespace: '' }],
      ['auth mount', { authMountPath: 'jwt' }],
      ['CA file', { tls: { caCertPath: '/ca' } }],
      ['CA directory', { tls: { caDirectory: '/ca' } }],
      ['server name', { tls: { serverName: 'x' } }],
      ['client pair', { tls: { clientCertPath: '/c', clientKeyPath: '/k' } }],
      ['skip verify', { tls: { skipVerify: true } }],
    ];
    const base = resolveConnection(mount(), defaults()).key;
    for (const [what, over] of variants) {
      it(`changes with the ${what}`, () => {
        assert.notEqual(resolveConnection(mount(over), defaults()).key, base);
      });
    }
    it('ignores fields that are not about the connection', () => {
      const other = mount({ roleName: 'other', audience: 'x', targetPath: '/elsewhere', permission: 0o600, secretProviderClass: 'b' });
      assert.equal(resolveConnection(other, defaults()).key, base);
    });
    it('is equal for equal settings however the address is spelled', () => {
      const a = resolveConnection(mount({ vaultAddress: 'https://Vault:443/' }), defaults()).key;
      const b = resolveConnection(mount({ vaultAddress: 'https://vault' }), defaults()).key;
      assert.equal(a, b);
    });
    it('is one identity per list, in its order: the same list shares, another list or order does not', () => {
      const key = (a: string): string => resolveConnection(mount({ vaultAddress: a }), defaults()).key;
      assert.equal(key('https://a:8200,https://b:8200'), key('https://A:8200/, https://b:8200'));
      assert.notEqual(key('https://a:8200,https://b:8200'), key('https://b:8200,https://a:8200'));
      assert.notEqual(key('https://a:8200,https://b:8200'), key('https://a:8200'));
    });
    it('is injective over the fields (no two settings collide)', () => {
      const field = fc.option(fc.constantFrom('', 'a', 'b', 'a"b', 'a,b', '/x'), { nil: undefined });
      const settings = fc.record({
        ns: field,
        mount: fc.constantFrom('kubernetes', 'jwt', 'a/b'),
        ca: field,
        dir: field,
        sni: field,
        skip: fc.option(fc.boolean(), { nil: undefined }),
      });
      fc.assert(
        fc.property(settings, settings, (x, y) => {
          const mk = (s: typeof x): MountConfig =>
            mount({
              vaultNamespace: s.ns,
              authMountPath: s.mount,
              tls: { caCertPath: s.ca, caDirectory: s.dir, serverName: s.sni, skipVerify: s.skip },
            });
          const cx = resolveConnection(mk(x), defaults());
          const cy = resolveConnection(mk(y), defaults());
          const { key: kx, ...rx } = cx;
          const { key: ky, ...ry } = cy;
          assert.equal(kx === ky, JSON.stringify(rx) === JSON.stringify(ry) && rx.namespace === ry.namespace);
        }),
      );
    });
  });
});

describe('config/connection auth mount paths', () => {
  it('trims slashes and keeps nested mounts', () => {
    assert.equal(normaliseAuthMount('/kubernetes/', 'vaultAuthMountPath'), 'kubernetes');
    assert.equal(normaliseAuthMount('team-a/jwt', 'vaultAuthMountPath'), 'team-a/jwt');
    assert.equal(isAuthMountPath('team_a/k8s.v2'), true);
  });

  it('refuses an empty path, a . or .. segment, an empty segment and characters Vault paths do not use, naming the parameter', () => {
    for (const raw of ['', '/', 'a/../b', '.', 'a//b', 'a b', 'a?x', 'ä']) {
      const err = thrown(() => normaliseAuthMount(raw, 'vault-mount'));
      assert.ok(err instanceof ProviderError, raw);
      assert.equal(err.code, 'INVALID_CONFIG');
      assert.equal(err.context.parameter, 'vault-mount');
      assert.match(err.message, /^vault-mount must be a Vault auth mount path/);
      assert.equal(isAuthMountPath(raw.replace(/^\/+|\/+$/g, '')), false, raw);
    }
  });
});
