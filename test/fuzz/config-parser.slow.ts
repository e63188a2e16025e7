/**
 * Fuzzing the config stage: random MountRequests (attributes with every parameter, objects YAML well-formed,
 * mutated and truncated, hostile object names, broken token maps, random secrets/permission/target path) through
 * parseMountRequest and then the trust boundary's pure checks. Whatever comes in: the result is a valid config or an
 * INVALID_CONFIG / PARAMETER_NOT_ALLOWED error that names what is wrong, nothing else is ever thrown, and no message
 * quotes the planted JWT or secret. `npm run fuzz` runs many more cases.
 */
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import { parseMountRequest, TOKENS_KEY } from '../../src/config/mount-request.js';
import { resolveConnection } from '../../src/config/connection.js';
import { buildTrustPolicy, checkMountParameters } from '../../src/config/connection.js';
import type { MountConfig, ProviderDefaults } from '../../src/config/types.js';
import { fuzzRuns, objectsYamlArb, parametersArb, PLANTED_JWT, PLANTED_SECRET, tokensArb } from './arbitraries.js';

/** The driver's file path rules, written independently of src/config/file-paths.ts (Go's path.Clean as the oracle). */
function driverAccepts(path: string): boolean {
  if (path === '' || path.includes('\0') || path.startsWith('/') || path.endsWith('/')) return false;
  if (Buffer.byteLength(path) > 4096) return false;
  const parts = path.split('/');
  if (parts.some((p) => p === '..' || Buffer.byteLength(p) > 255)) return false;
  if (parts[0]!.startsWith('..')) return false;
  return posix.normalize(path) === path && path !== '.';
}

const DEFAULTS: ProviderDefaults = { vaultAddress: 'https://vault:8200', vaultMount: 'kubernetes', vaultNamespace: undefined, tls: { skipVerify: false } };
const POLICY = buildTrustPolicy({ vaultAddresses: [], tlsDirectories: ['/etc/vault-tls'], allowSkipTlsVerify: false }, DEFAULTS, ['/var/run/secrets/kubernetes.io/serviceaccount']);

const requestArb = fc.record({
  pod: fc.oneof(
    { weight: 5, arbitrary: fc.constant({ name: 'web-0', namespace: 'prod', uid: 'uid-1', sa: 'web' }) },
    { weight: 1, arbitrary: fc.record({ name: fc.string({ maxLength: 10 }), namespace: fc.string({ maxLength: 10 }), uid: fc.string({ maxLength: 10 }), sa: fc.string({ maxLength: 10 }) }) },
  ),
  roleName: fc.oneof({ weight: 8, arbitrary: fc.constant('web') }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }),
  objects: fc.oneof({ weight: 9, arbitrary: objectsYamlArb }, { weight: 1, arbitrary: fc.constant(undefined) }),
  params: parametersArb,
  tokens: tokensArb,
  tokensIn: fc.constantFrom('attributes', 'secrets'),
  secrets: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('null', '{}') }, { weight: 1, arbitrary: fc.constantFrom('', '[]', '{"a": 1}') }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
  permission: fc.oneof({ weight: 20, arbitrary: fc.constantFrom('420', '0', '511', '256') }, { weight: 1, arbitrary: fc.constantFrom('512', '-1', '1e3', '', '0644', ' 420', '4.2e2') }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }),
  targetPath: fc.oneof({ weight: 10, arbitrary: fc.constant('/var/lib/kubelet/pods/u/volumes/x/mount') }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
  attributesText: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }),
});

type Generated = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function build(r: Generated): { attributes: string; secrets: string; targetPath: string; permission: string } {
  const attributes: Record<string, string> = {
    'csi.storage.k8s.io/pod.name': r.pod.name,
    'csi.storage.k8s.io/pod.namespace': r.pod.namespace,
    'csi.storage.k8s.io/pod.uid': r.pod.uid,
    'csi.storage.k8s.io/serviceAccount.name': r.pod.sa,
    roleName: r.roleName,
    ...(r.objects === undefined ? {} : { objects: r.objects }),
    ...r.params,
  };
  let secrets = r.secrets;
  if (r.tokens !== undefined) {
    if (r.tokensIn === 'attributes') attributes[TOKENS_KEY] = r.tokens;
    else secrets = JSON.stringify({ [TOKENS_KEY]: r.tokens });
  }
  return { attributes: r.attributesText ?? JSON.stringify(attributes), secrets, targetPath: r.targetPath, permission: r.permission };
}

function assertClear(err: unknown, allowed: readonly string[]): asserts err is ProviderError {
  assert.ok(err instanceof ProviderError, `not a ProviderError: ${String(err)}`);
  assert.ok(allowed.includes(err.code), `unexpected code ${err.code}: ${err.message}`);
  assert.ok(err.message.length > 10, 'a message that says something');
  assert.ok(err.context.parameter !== undefined || err.context.objectName !== undefined, `names nothing: ${err.message}`);
  for (const planted of [PLANTED_JWT, PLANTED_SECRET]) assert.ok(!err.message.includes(planted), `quotes a planted value: ${err.message}`);
}

function checkConfig(config: MountConfig): void {
  const names = config.objects.map((o) => o.objectName);
  assert.equal(new Set(names).size, names.length, 'object names are unique');
  for (const o of config.objects) {
    assert.ok(driverAccepts(o.objectName), `accepted an objectName the driver refuses: ${JSON.stringify(o.objectName.slice(0, 60))}`);
    assert.ok(o.requestPath.startsWith('/v1/'), o.requestPath);
    assert.ok(o.filePermission === undefined || (Number.isInteger(o.filePermission) && o.filePermission >= 0 && o.filePermission <= 0o777));
  }
  assert.ok(Number.isInteger(config.permission) && config.permission >= 0 && config.permission <= 0o777);
  assert.ok(config.objects.length > 0);
}

describe('fuzz: config parser', function () {
  this.timeout(120_000);

  it('turns any MountRequest into a valid config or one clear INVALID_CONFIG / PARAMETER_NOT_ALLOWED error', () => {
    let accepted = 0;
    let refused = 0;
    const reasons = new Map<string, number>();
    fc.assert(
      fc.property(requestArb, (r) => {
        const input = build(r);
        let config: MountConfig;
        try {
          config = parseMountRequest(input);
        } catch (err: unknown) {
          assertClear(err, ['INVALID_CONFIG']);
          refused++;
          if (process.env['FUZZ_RUNS'] !== undefined) reasons.set(err.context.parameter ?? 'object', (reasons.get(err.context.parameter ?? 'object') ?? 0) + 1);
          return;
        }
        checkConfig(config);
        // Parsing is a function of its input.
        assert.deepEqual(parseMountRequest(input), config);
        // The connection and trust stage on top: still only clear refusals.
        try {
          checkMountParameters(config, resolveConnection(config, DEFAULTS), POLICY, { tlsDirectories: [], operatorTlsFiles: [], protectedPaths: [] });
        } catch (err: unknown) {
          assertClear(err, ['INVALID_CONFIG', 'PARAMETER_NOT_ALLOWED']);
        }
        accepted++;
      }),
      { numRuns: fuzzRuns(300) },
    );
    // The generator must reach both outcomes, or the property says little.
    assert.ok(accepted > 0 && refused > 0, `accepted ${accepted}, refused ${refused}`);
    if (process.env['FUZZ_RUNS'] !== undefined) console.log(`accepted ${accepted}, refused ${refused}`, reasons);
  });
});
