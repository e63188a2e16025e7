/**
 * Fuzzing the whole Mount path: the real provider (gRPC over its Unix socket, config, trust boundary, login, reads,
 * extraction, versions, file set, the --write-files writer) against a Vault that answers at random — wrong shapes,
 * huge values, text that is not JSON, invalid UTF-8, bodies cut off midway, any status — with random objects lists
 * and hostile object names. Every case must end in a response or a catalog error that is not INTERNAL (a bug), with
 * no unhandled rejection; a failed mount leaves its target directory empty and a successful one holds exactly the
 * objects asked for; nothing is written outside the targets; no log line or error message quotes a secret value, a
 * Vault token or the JWT. `npm run fuzz` runs many more cases.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { ServiceError } from '@grpc/grpc-js';
import { ErrorCodes } from '../../src/errors.js';
import { startProvider, type RunningProvider } from '../../src/cli/daemon.js';
import { RecordingGateClock } from '../helpers/clocks.js';
import { createLogger } from '../../src/observability/logger.js';
import { TOKENS_KEY } from '../../src/config/mount-request.js';
import { DriverClient } from '../helpers/grpc-client.js';
import { fixedHmacKey } from '../helpers/provider-harness.js';
import { HostileVault, type HostileBody, type HostileResponse } from '../helpers/hostile-vault.js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import { fuzzRuns, objectArb, PLANTED_JWT, PLANTED_SECRET, type FuzzObject } from './arbitraries.js';

const MiB = 1024 * 1024;

const jsonLeaf = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constant(PLANTED_SECRET), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const secretValue = fc.oneof(jsonLeaf, fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('aGVsbG8=', 'not base64!', 'deadbeef', 'xyz', PLANTED_SECRET));
// The keys objects usually ask for are usually there; others come and go.
const secretData = fc
  .tuple(
    fc.record({ k: secretValue, password: fc.oneof(jsonLeaf, fc.constant(PLANTED_SECRET)), nested: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }),
    fc.dictionary(fc.string({ maxLength: 8 }), secretValue, { maxKeys: 4 }),
  )
  .map(([known, extra]) => ({ ...extra, ...known }));

const wrongShape = fc.oneof(
  fc.constantFrom<unknown>({ data: 'string' }, { data: [1, 2] }, { data: null }, [], 'x', 5, null, { errors: 'x' }, { data: { data: 'x' } }, { lease_duration: 'soon', data: {} }, { warnings: 'w', data: {} }),
  fc.jsonValue({ maxDepth: 3 }),
);

const readBody: fc.Arbitrary<HostileBody> = fc.oneof(
  { weight: 10, arbitrary: secretData.map((d) => ({ kind: 'json', value: { data: { data: d, metadata: { version: 1 } }, lease_duration: 0 } }) as const) },
  { weight: 4, arbitrary: secretData.map((d) => ({ kind: 'json', value: { data: d, lease_id: '', renewable: false } }) as const) },
  { weight: 3, arbitrary: wrongShape.map((v) => ({ kind: 'json', value: v }) as const) },
  { weight: 2, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('<html>bad gateway</html>', '{"data":', 'null', '')).map((t) => ({ kind: 'text', text: t }) as const) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => ({ kind: 'bytes', bytes: Uint8Array.from([0xff, 0xfe, ...b]) }) as const) },
  { weight: 2, arbitrary: fc.tuple(secretData, fc.nat({ max: 60 })).map(([d, keep]) => ({ kind: 'truncated', value: { data: { data: d } }, keep }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' } as const) },
  { weight: 1, arbitrary: fc.constantFrom(10, 600, 5_000, 200_000).map((depth): HostileBody => ({ kind: 'nested', depth })) },
  // Just over the driver's 4 MiB message limit (two keys), and over the transport's 16 MiB response cap.
  { weight: 1, arbitrary: fc.constantFrom(4 * MiB + 1024, 16 * MiB + 1024).map((bytes): HostileBody => ({ kind: 'huge', bytes })) },
);

const status = fc.oneof({ weight: 16, arbitrary: fc.constant(200) }, { weight: 1, arbitrary: fc.constantFrom(204, 301, 400, 403, 404, 412, 429, 500, 502, 503) });

const readResponse: fc.Arbitrary<HostileResponse> = fc.record({
  status,
  body: readBody,
  headers: fc.oneof({ weight: 8, arbitrary: fc.constant<Record<string, string>>({}) }, { weight: 1, arbitrary: fc.constantFrom<Record<string, string>>({ 'retry-after': '0' }, { 'retry-after': '999999' }, { 'content-type': 'text/html' }) }),
});

const goodLogin = fc.record({ token: fc.stringMatching(/^[A-Za-z0-9]{24}$/), lease: fc.constantFrom(0, 1, 3600) }).map(
  ({ token, lease }): HostileResponse => ({ status: 200, body: { kind: 'json', value: { auth: { client_token: `hvs.${token}`, accessor: 'acc', lease_duration: lease, renewable: true, policies: ['p'] } } } }),
);
const loginResponse: fc.Arbitrary<HostileResponse> = fc.oneof(
  { weight: 12, arbitrary: goodLogin },
  {
    weight: 1,
    arbitrary: fc.constantFrom<HostileResponse>(
      { status: 200, body: { kind: 'json', value: { auth: null } } },
      { status: 200, body: { kind: 'json', value: { auth: { client_token: 5 } } } },
      { status: 200, body: { kind: 'json', value: { auth: { client_token: '', lease_duration: 1 } } } },
      { status: 200, body: { kind: 'json', value: { auth: { client_token: 'hvs.x', lease_duration: -5 } } } },
      { status: 200, body: { kind: 'text', text: 'welcome' } },
      { status: 200, body: { kind: 'empty' } },
      { status: 400, body: { kind: 'json', value: { errors: [`invalid jwt ${PLANTED_JWT}`] } } },
      { status: 403, body: { kind: 'json', value: { errors: ['permission denied'] } } },
      { status: 500, body: { kind: 'text', text: 'oops' } },
    ),
  },
  { weight: 1, arbitrary: fc.record({ status, body: readBody }) },
);

/** An object a SecretProviderClass author would plausibly write; the fuzzer's hostile ones come from objectArb. */
const plausibleObject: fc.Arbitrary<FuzzObject> = fc.record(
  {
    objectName: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9._-]{0,10}$/), fc.stringMatching(/^\.[a-z]{1,6}$/), fc.stringMatching(/^[a-z]{1,5}\/[a-z.]{1,8}$/)),
    secretPath: fc.integer({ min: 0, max: 3 }).map((i) => `secret/data/o${i}`),
    secretKey: fc.constantFrom('', 'k', 'password', 'nested', 'missing'),
    encoding: fc.constantFrom('utf-8', 'utf-8', 'utf-8', 'base64', 'hex'),
    filePermission: fc.integer({ min: 0, max: 0o777 }),
  },
  { requiredKeys: ['objectName', 'secretPath'] },
);

const caseArb = fc.record({
  objects: fc.uniqueArray(fc.oneof({ weight: 6, arbitrary: plausibleObject }, { weight: 1, arbitrary: objectArb }), { minLength: 1, maxLength: 3, selector: (o) => o.objectName }),
  login: loginResponse,
  reads: fc.array(readResponse, { minLength: 4, maxLength: 4 }),
});

describe('fuzz: the whole Mount path against a Vault answering at random', function () {
  this.timeout(300_000);
  let dir: string;
  let vault: HostileVault;
  let provider: RunningProvider;
  let client: DriverClient;
  const logs: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    dir = await mkdtemp(join(tmpdir(), 'vcp-fuzz-'));
    await mkdir(join(dir, 'targets'));
    vault = await HostileVault.start();
    const logger = createLogger('trace', { write: (line: string) => void logs.push(line) });
    provider = await startProvider(
      {
        endpoint: join(dir, 'sock', 'vault.sock'),
        healthAddr: '',
        logLevel: 'trace',
        hmacSecretName: 'x',
        hmacKeyFile: undefined,
        cacheSize: 100,
        writeFiles: true,
        requestTimeoutMs: 2_000,
        defaults: { vaultAddress: vault.address, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: {} },
      },
      logger,
      // Backoff without waiting: the retry logic still runs, the fuzzer just does not sleep through it (nor through
      // the per-address gate's Retry-After pauses and shared backoff, on a virtual clock).
      { hmacKey: fixedHmacKey(), env: {}, vaultClient: { sleep: () => Promise.resolve() }, gateClock: new RecordingGateClock() },
    );
    client = new DriverClient(join(dir, 'sock', 'vault.sock'));
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    client?.close();
    await provider?.stop(1_000);
    await vault?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every case with files or a clear error, writes nothing on failure and nothing outside the target', async () => {
    let n = 0;
    const outcomes = new Map<string, number>();
    const details: string[] = [];
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ objects, login, reads }) => {
        n += 1;
        const target = join(dir, 'targets', String(n));
        await mkdir(target);
        vault.responder = ({ isLogin, path }) => {
          if (isLogin) return login;
          const i = Number(/\/o(\d)/.exec(path)?.[1] ?? '0');
          return reads[i % reads.length]!;
        };
        const attributes = {
          'csi.storage.k8s.io/pod.name': 'fuzz-pod',
          'csi.storage.k8s.io/pod.namespace': 'fuzz',
          'csi.storage.k8s.io/pod.uid': `uid-${n}`,
          'csi.storage.k8s.io/serviceAccount.name': 'fuzz',
          [TOKENS_KEY]: JSON.stringify({ vault: { token: PLANTED_JWT, expirationTimestamp: '2099-01-01T00:00:00Z' } }),
          // A role per case: every case logs in, so the random login answers are all exercised.
          roleName: `role-${n}`,
          objects: stringify(objects),
        };
        const request = { attributes: JSON.stringify(attributes), secrets: 'null', target_path: target, permission: '420', current_object_version: [] };
        let failure: ServiceError | undefined;
        let versions: string[] = [];
        try {
          const res = await client.mount(request, 20_000);
          versions = res.object_version.map((v) => v.id);
        } catch (err: unknown) {
          failure = err as ServiceError;
        }
        const entries = (await readdir(target)).sort();
        if (failure !== undefined) {
          const code = /^([A-Z_]+): ./.exec(failure.details)?.[1];
          assert.ok(code !== undefined && (ErrorCodes as readonly string[]).includes(code), `not a catalog error: ${failure.code} ${failure.details}`);
          assert.notEqual(code, 'INTERNAL', `a bug: ${failure.details}`);
          // Past the config stage, a failure names the object (with its Vault path) or the Vault address it concerns.
          if (code !== 'INVALID_CONFIG') {
            const named = failure.details.includes(vault.address) || /object "|largest objects: "/.test(failure.details);
            assert.ok(named, `names neither object nor address: ${failure.details}`);
          }
          assert.deepEqual(entries, [], `a failed mount (${failure.details}) left ${entries.join(', ')}`);
          outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
          details.push(failure.details);
        } else {
          outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
          // The versions name exactly the objects; the target holds their top-level names and the ..data link.
          const names = objects.map((o) => o.objectName);
          assert.deepEqual([...versions].sort(), [...new Set(names)].sort());
          const top = new Set(names.map((p) => p.split('/')[0]!));
          for (const name of top) assert.ok(entries.includes(name), `missing ${name} in ${entries.join(', ')}`);
          assert.ok(entries.includes('..data'));
          assert.equal(entries.filter((e) => !e.startsWith('..')).length, top.size);
        }
        // Nothing appears next to the targets.
        assert.equal((await readdir(join(dir, 'targets'))).length, n);
      }),
      { numRuns: fuzzRuns(60) },
    );
    assert.deepEqual(unhandled, []);
    assert.ok((outcomes.get('ok') ?? 0) > 0, `no case succeeded: ${JSON.stringify([...outcomes])}`);
    assert.ok(outcomes.size > 2, `too few outcomes: ${JSON.stringify([...outcomes])}`);
    if (process.env['FUZZ_RUNS'] !== undefined) console.log('mount outcomes', Object.fromEntries(outcomes), { logins: vault.logins, reads: vault.reads });
    assertNoLeaks('error message', details, [PLANTED_SECRET, PLANTED_JWT]);
    assertNoLeaks('log line', logs, [PLANTED_SECRET, PLANTED_JWT]);
    // The provider is still serving after all of it.
    assert.equal((await client.version()).version, 'v1alpha1');
  });
});
