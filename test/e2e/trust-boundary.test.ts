/**
 * The trust boundary end to end (docs/security.md): what a SecretProviderClass author or a pod author (whose
 * volumeAttributes the driver lays over the SecretProviderClass's parameters) can make the provider do with its own
 * files and network. The provider is configured from real flags:
 *
 *   --vault-addr=<Vault A> --allowed-tls-directories=<allowed>
 *
 * Vault A serves TLS and demands a client certificate, so a mount only succeeds when the provider really read a CA
 * and a client certificate and key. Every file a mount must not reach holds material that WOULD make the mount
 * succeed if read — the provider's own "ServiceAccount token" file holds the CA, the outside directory holds the CA
 * and a client pair — so a refusal with zero requests at Vault shows the file was not used, and a spy on the TLS file
 * reader shows it was not even opened. Vault B stands for an attacker's endpoint: it must receive no request at all.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { parseFlags } from '../../src/cli/flags.js';
import { nodeTlsFileReader, type TlsFileReader } from '../../src/vault/tls-files.js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import { createTlsMaterial, startTestVault, type TestVault, type TlsMaterial } from '../vault-server/index.js';

const SECRET = 'trust-boundary-secret-93ad';
const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];

describe('e2e: trust boundary', function () {
  this.timeout(30_000);
  let h: Harness;
  let attacker: TestVault;
  let material: TlsMaterial;
  let root: string;
  let allowed: string;
  let outside: string;
  let saDir: string;
  /** Every path the provider opened through its TLS file reader. */
  const opened: string[] = [];
  const errors: ServiceError[] = [];

  const spy: TlsFileReader = {
    readFile: (p) => {
      opened.push(p);
      return nodeTlsFileReader.readFile(p);
    },
    readdir: (p) => {
      opened.push(p);
      return nodeTlsFileReader.readdir(p);
    },
    isFile: (p) => nodeTlsFileReader.isFile(p),
  };

  /** A working client pair from the allowed directory, so each case changes exactly one thing. */
  function clientPair(): Record<string, string> {
    return { vaultTLSClientCertPath: join(allowed, 'client.pem'), vaultTLSClientKeyPath: join(allowed, 'client-key.pem') };
  }

  /** The attributes the driver sends: SecretProviderClass parameters, then the pod's volumeAttributes on top. */
  function mountRequest(spcParameters: Record<string, string>, podVolumeAttributes: Record<string, string> = {}) {
    return h.request({ objects: OBJECTS, params: { ...spcParameters, ...podVolumeAttributes } });
  }

  /** (Re)starts the provider from a real command line. */
  async function startWith(argv: readonly string[]): Promise<void> {
    if (h.provider !== undefined) await h.stopProvider();
    const parsed = parseFlags(argv, {});
    if (parsed.kind !== 'run') throw new Error('not a run command line');
    await h.startProvider({ trust: parsed.settings.trust, defaults: parsed.settings.defaults }, { tlsFiles: spy, serviceAccountDir: saDir });
  }

  function standardFlags(): string[] {
    return [`--vault-addr=${h.vault.address}`, `--allowed-tls-directories=${allowed}`];
  }

  async function refusedBeforeAnyIo(request: ReturnType<typeof mountRequest>, parameter: string): Promise<ServiceError> {
    h.vault.clearRequests();
    attacker.clearRequests();
    opened.length = 0;
    const err = await h.client.mountError(request);
    errors.push(err);
    assert.equal(err.code, status.PERMISSION_DENIED, err.details);
    assert.match(err.details, /^PARAMETER_NOT_ALLOWED: /);
    assert.ok(err.details.includes(parameter), `"${err.details}" names ${parameter}`);
    // No login (so no JWT sent anywhere), no read, no TLS file opened.
    assert.equal(h.vault.requests.length, 0);
    assert.equal(attacker.requests.length, 0);
    assert.deepEqual(opened, []);
    return err;
  }

  before(async () => {
    material = await createTlsMaterial({});
    root = await realpath(await mkdtemp(join(tmpdir(), 'vcp-boundary-')));
    allowed = join(root, 'allowed');
    outside = join(root, 'outside');
    saDir = join(root, 'provider-sa');
    for (const dir of [allowed, outside, saDir, join(allowed, 'cas'), join(allowed, 'leaky-cas')]) await mkdir(dir, { recursive: true });
    for (const dir of [allowed, outside]) {
      await writeFile(join(dir, 'ca.pem'), material.caCertPem);
      await writeFile(join(dir, 'client.pem'), material.clientCertPem);
      await writeFile(join(dir, 'client-key.pem'), material.clientKeyPem, { mode: 0o600 });
    }
    await writeFile(join(allowed, 'cas', 'ca.pem'), material.caCertPem);
    // The provider's own ServiceAccount token: here it holds the CA, so reading it as one would "work".
    await writeFile(join(saDir, 'token'), material.caCertPem);
    await symlink(join(outside, 'ca.pem'), join(allowed, 'escape.pem'));
    await symlink(join(saDir, 'token'), join(allowed, 'token.pem'));
    await symlink(join(outside, 'client-key.pem'), join(allowed, 'escape-key.pem'));
    await symlink(join(outside, 'ca.pem'), join(allowed, 'leaky-cas', 'ca.pem'));
    await symlink(outside, join(allowed, 'outside-dir'));

    h = await startHarness({ tls: { key: material.serverKeyPem, cert: material.serverCertPem, clientCa: material.caCertPem, requireClientCert: true } });
    h.vault.putKv('secret', 'app', { password: SECRET });
    attacker = await startTestVault();
    attacker.enableKubernetesAuth('kubernetes', { publicKeysPem: [h.issuer.publicKeyPem] });
    attacker.addKubernetesRole('kubernetes', 'web', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], policies: ['default'] });
  });

  beforeEach(() => startWith(standardFlags()));

  after(async () => {
    await h.close();
    await attacker.close();
    await rm(root, { recursive: true, force: true });
  });

  it('control: a CA and client pair from the allowed directory work (so every refusal below is the policy)', async () => {
    opened.length = 0;
    const res = await h.client.mount(mountRequest({ vaultCACertPath: join(allowed, 'ca.pem'), ...clientPair() }));
    assert.equal(Buffer.from(res.files[0]!.contents).toString(), SECRET);
    assert.ok(opened.includes(join(allowed, 'ca.pem')));
    const viaDir = await h.client.mount(mountRequest({ vaultCADirectory: join(allowed, 'cas'), ...clientPair() }));
    assert.equal(viaDir.files.length, 1);
  });

  describe("the provider's own ServiceAccount token", () => {
    it('cannot be named directly, through `..`, or through a symlink in an allowed directory', async () => {
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(saDir, 'token'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(allowed, '..', 'provider-sa', 'token'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(allowed, 'token.pem'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCADirectory: saDir, ...clientPair() }), 'vaultCADirectory');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(allowed, 'ca.pem'), vaultTLSClientCertPath: join(saDir, 'token'), vaultTLSClientKeyPath: join(allowed, 'client-key.pem') }), 'vaultTLSClientCertPath');
    });

    it('cannot be named even when the operator allowed its parent directory', async () => {
      await startWith([`--vault-addr=${h.vault.address}`, `--allowed-tls-directories=${root}`]);
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(saDir, 'token'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(allowed, 'token.pem'), ...clientPair() }), 'vaultCACertPath');
      // …while the rest of that directory is now usable, as the operator asked.
      const res = await h.client.mount(mountRequest({ vaultCACertPath: join(outside, 'ca.pem'), ...clientPair() }));
      assert.equal(res.files.length, 1);
    });
  });

  describe('files outside the allowed directories', () => {
    it('cannot be named as a CA file, CA directory, client certificate or key — directly, through `..` or a symlink', async () => {
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(outside, 'ca.pem'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: `${allowed}/../outside/ca.pem`, ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(allowed, 'escape.pem'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(allowed, 'outside-dir', 'ca.pem'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCADirectory: outside, ...clientPair() }), 'vaultCADirectory');
      await refusedBeforeAnyIo(mountRequest({ vaultCADirectory: join(allowed, 'leaky-cas'), ...clientPair() }), 'vaultCADirectory');
      await refusedBeforeAnyIo(
        mountRequest({ vaultCACertPath: join(allowed, 'ca.pem'), vaultTLSClientCertPath: join(outside, 'client.pem'), vaultTLSClientKeyPath: join(outside, 'client-key.pem') }),
        'vaultTLSClientCertPath',
      );
      await refusedBeforeAnyIo(
        mountRequest({ vaultCACertPath: join(allowed, 'ca.pem'), vaultTLSClientCertPath: join(allowed, 'client.pem'), vaultTLSClientKeyPath: join(allowed, 'escape-key.pem') }),
        'vaultTLSClientKeyPath',
      );
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: '/proc/self/root/etc/hostname', ...clientPair() }), 'vaultCACertPath');
    });

    it('cannot be named by a pod overriding an allowed SecretProviderClass parameter', async () => {
      const spc = { vaultCACertPath: join(allowed, 'ca.pem'), ...clientPair() };
      await refusedBeforeAnyIo(mountRequest(spc, { vaultCACertPath: join(outside, 'ca.pem') }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest(spc, { vaultTLSClientKeyPath: join(saDir, 'token') }), 'vaultTLSClientKeyPath');
    });
  });

  describe('Vault addresses', () => {
    it('a JWT is never sent to an address outside the allow-list, however it is spelt', async () => {
      const port = attacker.port;
      for (const address of [attacker.address, `http://localhost:${port}`, `HTTP://127.0.0.1:${port}/`, `http://127.0.0.1:${port}/v1`, `http://[::ffff:127.0.0.1]:${port}`]) {
        await refusedBeforeAnyIo(mountRequest({ vaultAddress: address }), 'vaultAddress');
      }
      // A pod overriding the SecretProviderClass's (allowed) address.
      await refusedBeforeAnyIo(mountRequest({ vaultAddress: h.vault.address }, { vaultAddress: attacker.address }), 'vaultAddress');
      assert.equal(attacker.countRequests(), 0);
    });

    it('control: once the operator lists the address, the JWT does go there', async () => {
      await startWith([`--vault-addr=${h.vault.address}`, `--allowed-vault-addresses=${attacker.address}`]);
      attacker.clearRequests();
      await h.client.mountError(mountRequest({ vaultAddress: attacker.address }));
      assert.equal(attacker.countRequests({ kind: 'login' }), 1);
    });
  });

  describe('vaultSkipTLSVerify', () => {
    it('is refused without --allow-skip-tls-verify, from the SecretProviderClass or the pod', async () => {
      await refusedBeforeAnyIo(mountRequest({ vaultSkipTLSVerify: 'true', ...clientPair() }), 'vaultSkipTLSVerify');
      await refusedBeforeAnyIo(mountRequest({ vaultSkipTLSVerify: 'false', ...clientPair() }, { vaultSkipTLSVerify: 'true' }), 'vaultSkipTLSVerify');
    });

    it('is honoured with --allow-skip-tls-verify', async () => {
      await startWith([...standardFlags(), '--allow-skip-tls-verify']);
      const res = await h.client.mount(mountRequest({ vaultSkipTLSVerify: 'true', ...clientPair() }));
      assert.equal(res.files.length, 1);
    });
  });

  describe('--trust-policy=reference', () => {
    it('accepts what the reference accepts — any address, TLS files anywhere, skip-verify — and still never the own credentials', async () => {
      await startWith([`--vault-addr=${h.vault.address}`, '--trust-policy=reference']);
      // TLS files outside every directory the strict policy would allow, and skip-verify.
      const outsideFiles = { vaultCACertPath: join(outside, 'ca.pem'), vaultTLSClientCertPath: join(outside, 'client.pem'), vaultTLSClientKeyPath: join(outside, 'client-key.pem') };
      assert.equal((await h.client.mount(mountRequest(outsideFiles))).files.length, 1);
      assert.equal((await h.client.mount(mountRequest({ vaultSkipTLSVerify: 'true', ...clientPair() }))).files.length, 1);
      // Another Vault: the JWT goes there, as the reference would send it.
      attacker.clearRequests();
      await h.client.mountError(mountRequest({ vaultAddress: attacker.address }));
      assert.equal(attacker.countRequests({ kind: 'login' }), 1);
      // The provider's own ServiceAccount token stays out of reach, directly or through a symlink.
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(saDir, 'token'), ...clientPair() }), 'vaultCACertPath');
      await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: join(allowed, 'token.pem'), ...clientPair() }), 'vaultCACertPath');
    });

    it('keeps an --hmac-key-file given as a relative path (read from the working directory) out of reach too', async () => {
      // The key file holds the CA here, so reading it as one would "work".
      const keyFile = join(root, 'hmac.key');
      await writeFile(keyFile, material.caCertPem, { mode: 0o600 });
      const parsed = parseFlags([`--vault-addr=${h.vault.address}`, '--trust-policy=reference', `--hmac-key-file=${relative(process.cwd(), keyFile)}`], {});
      if (parsed.kind !== 'run') throw new Error('not a run command line');
      await h.stopProvider();
      await h.startProvider({ trust: parsed.settings.trust, defaults: parsed.settings.defaults, hmacKeyFile: parsed.settings.hmacKeyFile }, { tlsFiles: spy, serviceAccountDir: saDir });
      const err = await refusedBeforeAnyIo(mountRequest({ vaultCACertPath: keyFile, ...clientPair() }), 'vaultCACertPath');
      assert.match(err.details, /own credentials/);
    });
  });

  describe('no leaks', () => {
    it('puts no secret value, key, token or JWT into a log line or error message', () => {
      assert.ok(errors.length >= 20);
      const key = material.clientKeyPem.split('\n')[1]!;
      assertNoLeaks('error message', errors.map((e) => e.details), [SECRET, key]);
      assertNoLeaks('log line', h.logs, [SECRET, key]);
    });
  });
});
