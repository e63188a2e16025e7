/**
 * The trust policy's pure decisions: which vaultAddress, skip-verify and TLS file spellings a mount may use, and
 * how the flags and the operator's own settings combine into the policy. Filesystem resolution is tested in
 * test/config/connection-trust-boundary.test.ts and end to end in test/e2e/trust-boundary.test.ts.
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { mountConfigWith } from '../helpers/mount-config.js';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import { resolveConnection } from '../../src/config/connection.js';
import { buildTrustPolicy, checkMountParameters, checkRealPath, isWithin, loginMounts, NO_TRUST_FLAGS, redirectAllowed, type TrustPolicy, type TrustSettings } from '../../src/config/connection.js';
import { parseFlags } from '../../src/cli/flags.js';
import type { MountConfig, ProviderDefaults } from '../../src/config/types.js';

const DEFAULTS: ProviderDefaults = { vaultAddress: 'https://vault.vault.svc:8200', vaultMount: 'kubernetes', vaultNamespace: undefined, tls: { skipVerify: false } };
const NO_ROOTS = { tlsDirectories: [], operatorTlsFiles: [], protectedPaths: [] };
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const mount = mountConfigWith;

function policy(settings: Partial<TrustSettings> = {}, defaults: ProviderDefaults = DEFAULTS): TrustPolicy {
  return buildTrustPolicy({ vaultAddresses: [], tlsDirectories: ['/etc/vault-tls'], allowSkipTlsVerify: false, ...settings }, defaults, [SA_DIR]);
}

function check(params: Record<string, string>, p: TrustPolicy = policy()): ReturnType<typeof checkMountParameters> {
  const m = mount(params);
  return checkMountParameters(m, resolveConnection(m, DEFAULTS), p, NO_ROOTS);
}

function refused(fn: () => unknown, code: string, parameter: string, mention?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err: unknown) {
    caught = err;
  }
  assert.ok(caught instanceof ProviderError, `expected a refusal, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.context.parameter, parameter);
  if (mention !== undefined) assert.match(caught.message, mention);
}

describe('config/policy', () => {
  describe('vaultAddress', () => {
    it('allows the default address however it is spelt, and refuses any other', () => {
      assert.deepEqual(check({ vaultAddress: 'https://VAULT.vault.svc:8200/' }), []);
      refused(() => check({ vaultAddress: 'https://attacker.example:8200' }), 'PARAMETER_NOT_ALLOWED', 'vaultAddress', /attacker\.example.*--allowed-vault-addresses: https:\/\/vault\.vault\.svc:8200/);
      // Same host, other port or scheme or path: another endpoint.
      for (const other of ['https://vault.vault.svc:8201', 'http://vault.vault.svc:8200', 'https://vault.vault.svc:8200/proxy']) {
        refused(() => check({ vaultAddress: other }), 'PARAMETER_NOT_ALLOWED', 'vaultAddress');
      }
    });

    it('allows listed addresses and, with `any`, every address', () => {
      const listed = policy({ vaultAddresses: ['https://vault.dr:8200'] });
      assert.deepEqual(check({ vaultAddress: 'https://vault.dr:8200' }, listed), []);
      assert.deepEqual(check({ vaultAddress: 'https://vault.vault.svc:8200' }, listed), []);
      assert.deepEqual(check({ vaultAddress: 'https://anything:1' }, policy({ vaultAddresses: 'any' })), []);
    });

    it('checks every address of a list: one outside the policy refuses the mount, naming that address', () => {
      const listed = policy({ vaultAddresses: ['https://vault-1:8200', 'https://vault-2:8200'] });
      assert.deepEqual(check({ vaultAddress: 'https://vault-1:8200,https://vault-2:8200' }, listed), []);
      refused(() => check({ vaultAddress: 'https://vault-1:8200,https://attacker:8200' }, listed), 'PARAMETER_NOT_ALLOWED', 'vaultAddress', /"https:\/\/attacker:8200"/);
    });

    it('allows every address of a --vault-addr list, as the operator chose them all', () => {
      const own = policy({}, { ...DEFAULTS, vaultAddress: 'https://vault-1:8200,https://vault-2:8200' });
      assert.deepEqual(own.vaultAddresses, ['https://vault-1:8200', 'https://vault-2:8200']);
    });

    it('lets a redirect go to the mount\'s own addresses or an allowed one, never elsewhere', () => {
      const p = policy({ vaultAddresses: ['https://active:8200'] });
      const connection = { addresses: ['https://standby:8200'] };
      assert.equal(redirectAllowed(p, connection, 'https://standby:8200'), true);
      assert.equal(redirectAllowed(p, connection, 'https://active:8200'), true);
      assert.equal(redirectAllowed(p, connection, 'https://vault.vault.svc:8200'), true);
      assert.equal(redirectAllowed(p, connection, 'https://attacker:8200'), false);
      assert.equal(redirectAllowed(policy({ vaultAddresses: 'any' }), connection, 'https://attacker:8200'), true);
    });

    it('property: no address outside the list is ever allowed', () => {
      const host = fc.oneof(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,10}(\.[a-zA-Z][a-zA-Z0-9-]{0,7}){0,2}$/), fc.constantFrom('vault.vault.svc', 'VAULT.vault.svc'));
      const port = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constant(8200));
      fc.assert(
        fc.property(fc.constantFrom('http', 'https'), host, port, (scheme, h, port) => {
          const address = `${scheme}://${h}:${port}`;
          const normalised = resolveConnection(mount({ vaultAddress: address }), DEFAULTS).address;
          let allowed = true;
          try {
            check({ vaultAddress: address });
          } catch {
            allowed = false;
          }
          assert.equal(allowed, normalised === DEFAULTS.vaultAddress);
        }),
      );
    });
  });

  describe('vaultSkipTLSVerify', () => {
    it('refuses true without --allow-skip-tls-verify, allows false always and true with it', () => {
      refused(() => check({ vaultSkipTLSVerify: 'true' }), 'PARAMETER_NOT_ALLOWED', 'vaultSkipTLSVerify', /--allow-skip-tls-verify/);
      refused(() => check({ vaultSkipTLSVerify: '1' }), 'PARAMETER_NOT_ALLOWED', 'vaultSkipTLSVerify');
      assert.deepEqual(check({ vaultSkipTLSVerify: 'false' }), []);
      assert.deepEqual(check({ vaultSkipTLSVerify: 'true' }, policy({ allowSkipTlsVerify: true })), []);
    });
  });

  describe('TLS file parameters', () => {
    it('allows paths inside an allowed directory, normalised', () => {
      const ok = check({ vaultCACertPath: '/etc/vault-tls/./sub/../ca.pem' });
      assert.deepEqual(ok, [{ parameter: 'vaultCACertPath', requested: '/etc/vault-tls/./sub/../ca.pem', normalised: '/etc/vault-tls/ca.pem' }]);
      assert.equal(check({ vaultCADirectory: '/etc/vault-tls' }).length, 1);
      assert.equal(check({ vaultTLSClientCertPath: '/etc/vault-tls/c.pem', vaultTLSClientKeyPath: '/etc/vault-tls/k.pem' }).length, 2);
    });

    it('refuses `..` out of an allowed directory, a sibling with the same prefix, and relative paths', () => {
      refused(() => check({ vaultCACertPath: '/etc/vault-tls/../shadow' }), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath', /outside the directories/);
      refused(() => check({ vaultCACertPath: '/etc/vault-tls-evil/ca.pem' }), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath');
      refused(() => check({ vaultCACertPath: 'etc/vault-tls/ca.pem' }), 'INVALID_CONFIG', 'vaultCACertPath', /absolute/);
      refused(() => check({ vaultCACertPath: '/etc/vault-tls/a\0b' }), 'INVALID_CONFIG', 'vaultCACertPath', /NUL/);
      refused(() => check({ vaultTLSClientCertPath: '/root/c.pem', vaultTLSClientKeyPath: '/etc/vault-tls/k.pem' }), 'PARAMETER_NOT_ALLOWED', 'vaultTLSClientCertPath');
      refused(() => check({ vaultTLSClientCertPath: '/etc/vault-tls/c.pem', vaultTLSClientKeyPath: '/etc/ssh/ssh_host_rsa_key' }), 'PARAMETER_NOT_ALLOWED', 'vaultTLSClientKeyPath');
    });

    it("refuses the provider's own ServiceAccount files even when their parent directory is allowed", () => {
      const careless = policy({ tlsDirectories: ['/var/run/secrets'] });
      refused(() => check({ vaultCACertPath: `${SA_DIR}/token` }, careless), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath', /provider's own credentials/);
      refused(() => check({ vaultCADirectory: SA_DIR }, careless), 'PARAMETER_NOT_ALLOWED', 'vaultCADirectory');
      refused(() => check({ vaultCACertPath: `/var/run/secrets/x/../kubernetes.io/serviceaccount/token` }, careless), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath');
    });

    it('--trust-policy=reference (the settings the daemon parses from it) accepts what the reference accepts, but never the own credentials', () => {
      const parsed = parseFlags(['--trust-policy=reference', '--vault-addr=https://vault.vault.svc:8200'], {});
      assert.equal(parsed.kind, 'run');
      const reference = buildTrustPolicy((parsed.kind === 'run' ? parsed.settings.trust : undefined) ?? NO_TRUST_FLAGS, DEFAULTS, [SA_DIR]);
      const [ca] = check({ vaultAddress: 'http://vault.team-a.example:8200', vaultSkipTLSVerify: 'true', vaultCACertPath: '/home/team-a/ca.pem' }, reference);
      checkRealPath(ca!, '/srv/anywhere/ca.pem', reference, NO_ROOTS);
      assert.equal(check({ vaultCADirectory: '/etc/ssl/certs', vaultTLSClientCertPath: '/opt/c.pem', vaultTLSClientKeyPath: '/opt/k.pem' }, reference).length, 3);
      refused(() => check({ vaultCACertPath: `${SA_DIR}/token` }, reference), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath', /provider's own credentials/);
      refused(() => checkRealPath(ca!, `${SA_DIR}/..data/token`, reference, NO_ROOTS), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath', /own credentials/);
    });

    it('allows exactly the operator files of the -vault-tls-* flags, and the operator CA directory', () => {
      const operator = policy({ tlsDirectories: [] }, { ...DEFAULTS, tls: { caCertPath: '/opt/ca.pem', caDirectory: '/opt/cas', skipVerify: false } });
      assert.equal(check({ vaultCACertPath: '/opt/ca.pem' }, operator).length, 1);
      assert.equal(check({ vaultCACertPath: '/opt/cas/x.pem' }, operator).length, 1);
      refused(() => check({ vaultCACertPath: '/opt/other.pem' }, operator), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath');
      // A file is not a directory: naming the operator's CA file as a directory gains nothing.
      refused(() => check({ vaultCADirectory: '/opt/ca.pem' }, operator), 'PARAMETER_NOT_ALLOWED', 'vaultCADirectory');
    });

    it('checks the real path again: a symlink out of the directory or into the credentials is refused', () => {
      const p = policy();
      const [requested] = check({ vaultCACertPath: '/etc/vault-tls/link.pem' }, p);
      checkRealPath(requested!, '/etc/vault-tls/..2026_01_01/ca.pem', p, NO_ROOTS);
      refused(() => checkRealPath(requested!, '/home/user/ca.pem', p, NO_ROOTS), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath', /leads outside/);
      refused(() => checkRealPath(requested!, `${SA_DIR}/..data/token`, p, NO_ROOTS), 'PARAMETER_NOT_ALLOWED', 'vaultCACertPath', /own credentials/);
      // Roots resolved on disk count as well: an allowed directory that is itself a symlink.
      checkRealPath(requested!, '/mnt/volume/ca.pem', p, { ...NO_ROOTS, tlsDirectories: ['/mnt/volume'] });
    });

    it('property: a normalised path that passes is inside an allowed directory and outside the protected ones', () => {
      const segment = fc.constantFrom('etc', 'vault-tls', '..', '.', 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount', 'token', 'ca.pem', '');
      const careless = policy({ tlsDirectories: ['/etc/vault-tls', '/var/run/secrets'] });
      fc.assert(
        fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (parts) => {
          const path = `/${parts.join('/')}`;
          let passed: ReturnType<typeof check> | undefined;
          try {
            passed = check({ vaultCACertPath: path }, careless);
          } catch (err: unknown) {
            assert.ok(err instanceof ProviderError && err.code === 'PARAMETER_NOT_ALLOWED');
          }
          if (passed !== undefined) {
            const n = passed[0]!.normalised;
            assert.ok(isWithin('/etc/vault-tls', n) || isWithin('/var/run/secrets', n), n);
            assert.ok(!isWithin(SA_DIR, n), n);
          }
        }),
      );
    });
  });

  describe('auth mounts while the operator\'s client certificate is presented', () => {
    const CERT: ProviderDefaults = { ...DEFAULTS, tls: { skipVerify: false, clientCertPath: '/etc/vault-client/tls.crt', clientKeyPath: '/etc/vault-client/tls.key' } };
    const certPolicy = (settings: Partial<TrustSettings> = {}): TrustPolicy => policy(settings, CERT);
    const checkCert = (params: Record<string, string>, p: TrustPolicy = certPolicy()): void => {
      const m = mount(params);
      checkMountParameters(m, resolveConnection(m, CERT), p, NO_ROOTS);
    };
    const objects = (secretPath: string): string => `- objectName: a\n  secretPath: ${JSON.stringify(secretPath)}\n  method: POST\n`;

    it('refuses an auth mount the operator did not allow, naming the parameter as spelt and the flag', () => {
      refused(() => checkCert({ vaultAuthMountPath: 'cert' }), 'PARAMETER_NOT_ALLOWED', 'vaultAuthMountPath', /vaultAuthMountPath "cert" .*--vault-tls-client-cert.*allowed: kubernetes; see --allowed-auth-mounts/);
      refused(() => checkCert({ vaultKubernetesMountPath: '/cert/' }), 'PARAMETER_NOT_ALLOWED', 'vaultKubernetesMountPath', /vaultKubernetesMountPath "cert"/);
      refused(() => checkCert({ baoAuthMountPath: 'team/cert' }), 'PARAMETER_NOT_ALLOWED', 'baoAuthMountPath', /baoAuthMountPath "team\/cert"/);
      refused(() => checkCert({ openbaoKubernetesMountPath: 'cert' }), 'PARAMETER_NOT_ALLOWED', 'openbaoKubernetesMountPath');
      // Whatever the method says it is: the body does not matter to a cert auth method.
      for (const method of ['jwt', 'kubernetes']) refused(() => checkCert({ vaultAuthMethod: method, vaultAuthMountPath: 'cert' }), 'PARAMETER_NOT_ALLOWED', 'vaultAuthMountPath');
    });

    it('allows --vault-mount, the listed mounts, any with *, and the default path of the mount\'s own method', () => {
      checkCert({});
      checkCert({ vaultAuthMountPath: 'kubernetes' });
      checkCert({ vaultAuthMountPath: 'cert' }, certPolicy({ authMounts: ['cert'] }));
      checkCert({ vaultAuthMountPath: 'team/cert' }, certPolicy({ authMounts: 'any' }));
      refused(() => checkCert({ vaultAuthMountPath: 'cert' }, certPolicy({ authMounts: ['team/cert'] })), 'PARAMETER_NOT_ALLOWED', 'vaultAuthMountPath', /allowed: kubernetes, team\/cert/);
      // --vault-mount is normalised where the flags are parsed; the policy takes it as it comes from there.
      const flagged = parseFlags(['-vault-mount=/team-a/jwt/'], {});
      assert.ok(flagged.kind === 'run');
      assert.deepEqual(policy({}, { ...CERT, vaultMount: flagged.settings.defaults.vaultMount }).authMounts, ['team-a/jwt']);
      // An AppRole mount naming Vault's own path for AppRole, which it would log in at anyway; but no other.
      const approle = (path: string) => ({ ...mount({ vaultAuthMountPath: path }), auth: { method: 'approle' } }) as unknown as MountConfig;
      checkMountParameters(approle('approle'), resolveConnection(approle('approle'), CERT), certPolicy(), NO_ROOTS);
      refused(() => checkMountParameters(approle('cert'), resolveConnection(approle('cert'), CERT), certPolicy(), NO_ROOTS), 'PARAMETER_NOT_ALLOWED', 'vaultAuthMountPath');
    });

    it('does not limit a cert login, which presents the pod\'s own certificate, nor any mount without a client certificate', () => {
      // The credentials are checked before the policy: a nodePublishSecretRef-less cert mount never gets this far.
      const m = { ...mount({ vaultAuthMountPath: 'cert' }), auth: { method: 'cert' } } as unknown as MountConfig;
      checkMountParameters(m, resolveConnection(m, CERT), certPolicy(), NO_ROOTS);
      check({ vaultAuthMountPath: 'cert' });
      check({ vaultAuthMountPath: 'cert', objects: objects('auth/cert/login') });
    });

    it('counts a client certificate a mount names from an allowed directory as the operator\'s', () => {
      refused(
        () => check({ vaultTLSClientCertPath: '/etc/vault-tls/c.pem', vaultTLSClientKeyPath: '/etc/vault-tls/k.pem', vaultAuthMountPath: 'cert' }),
        'PARAMETER_NOT_ALLOWED', 'vaultAuthMountPath', /vaultTLSClientCertPath "\/etc\/vault-tls\/c\.pem"/,
      );
    });

    it('refuses an object whose path is a login at a mount not allowed, however it is spelt', () => {
      for (const path of ['auth/cert/login', '/v1/auth/cert/login', 'team-b/auth/cert/login', 'auth//cert/./login', 'auth/x/../cert/login', 'AUTH/cert/LOGIN', 'auth/cert/login/extra']) {
        refused(() => checkCert({ objects: objects(path) }), 'PARAMETER_NOT_ALLOWED', 'secretPath', /^object "a" \(Vault path .*\): secretPath is a login at auth mount "cert".*--allowed-auth-mounts/);
      }
      checkCert({ objects: objects('auth/kubernetes/login') });
      checkCert({ objects: objects('auth/token/lookup-self') });
      checkCert({ objects: objects('secret/data/auth/login') });
      checkCert({ objects: objects('auth/cert/login') }, certPolicy({ authMounts: ['cert'] }));
    });

    it('reads a login path as Vault would, every reading counted, and gives up on absurd ones', () => {
      assert.deepEqual(loginMounts('/v1/auth/cert/login'), ['cert']);
      assert.deepEqual(loginMounts('/v1/auth/team%2Fa/login'), ['team/a']);
      assert.deepEqual(loginMounts('/v1/ns/auth/auth/x/login'), ['auth/x', 'x']);
      assert.deepEqual(loginMounts('/v1/auth/login'), []);
      assert.deepEqual(loginMounts('/v1/secret/data/x'), []);
      assert.equal(loginMounts(`/v1/${'auth/login/'.repeat(40)}`), undefined);
      refused(() => checkCert({ objects: objects('auth/login/'.repeat(40)) }), 'PARAMETER_NOT_ALLOWED', 'secretPath', /many auth mounts/);
    });
  });

  describe('buildTrustPolicy', () => {
    it('always allows the default address and protects the given paths', () => {
      const p = buildTrustPolicy({ vaultAddresses: ['https://b:1'], tlsDirectories: ['/x/../y'], allowSkipTlsVerify: false }, DEFAULTS, ['/sa/', 'relative']);
      assert.deepEqual(p.vaultAddresses, ['https://vault.vault.svc:8200', 'https://b:1']);
      assert.deepEqual(p.tlsDirectories, ['/y']);
      // A relative protected path (--hmac-key-file=key) is the file in the working directory: protected there.
      assert.deepEqual(p.protectedPaths, ['/sa', resolve('relative')]);
    });

    it('isWithin compares whole path components', () => {
      assert.equal(isWithin('/a/b', '/a/b'), true);
      assert.equal(isWithin('/a/b', '/a/b/c'), true);
      assert.equal(isWithin('/a/b', '/a/bc'), false);
      assert.equal(isWithin('/', '/anything'), true);
    });
  });
});
