/**
 * fast-check arbitraries for hostile mount input, shared by the fuzz suites: object names that attack paths
 * (unicode, NUL, very long, traversal, `..data`), objects lists as YAML (well-formed, mutated, truncated), attribute
 * maps with every parameter the provider reads, and tokens that must never be echoed.
 *
 * `FUZZ_RUNS` scales every suite: the default keeps `npm run test:slow` short, `npm run fuzz` raises it.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';

/**
 * Runs per property: the suite's default, or FUZZ_RUNS (npm run fuzz) times `perFuzzRun` — a property whose cases are
 * cheap runs more of them than FUZZ_RUNS says (the hostile-SecretProviderClass property: 10,000 at npm run fuzz's 3000).
 */
export function fuzzRuns(suiteDefault: number, perFuzzRun = 1): number {
  const raw = process.env['FUZZ_RUNS'];
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(n) && n > 0 ? Math.ceil(n * perFuzzRun) : suiteDefault;
}

/** A JWT-shaped token and a secret-looking value: neither may appear in any error message or log line. */
/** An unbound ServiceAccount token of fuzz/fuzz (the fuzzed pods' identity), so that it gets as far as the login. */
export const PLANTED_JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZnV6ejpmdXp6In0.c2lnbmF0dXJlLWZ1enotcGxhbnRlZA';
export const PLANTED_SECRET = 'planted-secret-value-7c31';

const hostileName = fc.constantFrom(
  '..data',
  '..data/x',
  '..2026_01_01_00_00_00.000000001',
  '..',
  '.',
  '../escape',
  'a/../../escape',
  '/etc/passwd',
  'a//b',
  './a',
  'a/',
  '',
  'a\0b',
  '\u202e\u0000evil',
  'x'.repeat(256),
  `${'d/'.repeat(2100)}f`,
  'ünï/cødé/🔑',
  'a\\..\\b',
  'CON',
  ' ',
  '\n',
  '..data_tmp',
  'tls/..data',
);

const safeName = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9._-]{0,20}$/),
  fc.stringMatching(/^\.[a-z][a-z0-9]{0,8}$/),
  fc.stringMatching(/^[a-z]{1,6}\/[a-z]{1,6}(\/[a-z.]{1,6})?$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
);

/** objectName: mostly plausible (so mounts get as far as Vault), often hostile. */
export const objectNameArb = fc.oneof({ weight: 12, arbitrary: safeName }, { weight: 2, arbitrary: hostileName }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) });

/** Mostly one of `valid`, now and then one of `invalid`. */
function mostly<T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: invalid });
}

export const secretKeyArb = fc.oneof(
  fc.constantFrom('', 'k', 'password', 'data', 'nested', 'missing', 'b64', 'hex', 'num', 'list'),
  fc.string({ maxLength: 12 }),
);

export interface FuzzObject {
  readonly objectName: string;
  readonly secretPath: string;
  readonly secretKey?: string;
  readonly encoding?: string;
  readonly method?: string;
  readonly filePermission?: number | string;
  readonly secretArgs?: unknown;
}

/** One object; `pathIndex` picks one of a few Vault paths so some objects share a request. */
export const objectArb: fc.Arbitrary<FuzzObject> = fc.record(
  {
    objectName: objectNameArb,
    secretPath: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }).map((i) => `secret/data/o${i}`) },
      { weight: 1, arbitrary: fc.constantFrom('/v1/secret/data/o0', 'v1/secret/data/o1?version=2', '', '/', '../../sys/seal', 'secret/data/%00', 'secret/data/o0#frag') },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    ),
    secretKey: secretKeyArb,
    encoding: mostly(fc.constantFrom('utf-8', 'base64', 'hex', 'HEX'), fc.constantFrom('rot13', '', 'utf8 ')),
    method: mostly(fc.constantFrom('GET', 'get', 'LIST', 'POST', 'PUT'), fc.constantFrom('DELETE', 'TRACE', '', 'G\nET')),
    filePermission: mostly<number | string>(fc.integer({ min: 0, max: 0o777 }), fc.oneof(fc.integer({ min: -1, max: 0o1777 }), fc.constantFrom('0600', '0o644', 'rw', '1e3'))),
    secretArgs: mostly<unknown>(
      fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })),
      fc.constantFrom<unknown>(PLANTED_SECRET, [PLANTED_SECRET], 7),
    ),
  },
  { requiredKeys: ['objectName', 'secretPath'] },
);

/** The objects parameter: YAML of generated objects, sometimes mutated, truncated or not YAML at all. */
export const objectsYamlArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 16, arbitrary: fc.array(objectArb, { minLength: 1, maxLength: 4 }).map((objs) => stringify(objs)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.array(objectArb, { minLength: 1, maxLength: 3 }), fc.nat(), fc.string({ maxLength: 6 }))
      .map(([objs, at, insert]) => {
        const text = stringify(objs);
        const i = at % (text.length + 1);
        return `${text.slice(0, i)}${insert}${text.slice(i)}`;
      }),
  },
  { weight: 1, arbitrary: fc.tuple(fc.array(objectArb, { minLength: 1, maxLength: 3 }), fc.nat()).map(([objs, at]) => stringify(objs).slice(0, at % 200)) },
  { weight: 1, arbitrary: fc.constantFrom('', '[]', '{}', 'null', '- 1\n- 2', '*alias', '!!binary x', '- objectName: a\n  secretPath: b\n  unknownField: 1\n', 'a: &a [*a]') },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
);

const parameterValue = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('true', 'false', '1', 'maybe', 'https://vault:8200', 'http://[::1', '/etc/ssl/ca.pem', '../x', PLANTED_SECRET));

/** Parameters a SecretProviderClass or pod may set, with random values. */
export const parametersArb: fc.Arbitrary<Record<string, string>> = mostly(fc.constant({}), fc.dictionary(
  fc.constantFrom(
    'vaultAddress',
    'vaultNamespace',
    'vaultKubernetesMountPath',
    'vaultAuthMountPath',
    'vaultCACertPath',
    'vaultCADirectory',
    'vaultTLSServerName',
    'vaultTLSClientCertPath',
    'vaultTLSClientKeyPath',
    'vaultSkipTLSVerify',
    'audience',
    'unknownParameter',
    'csi.storage.k8s.io/pod.name',
    'csi.storage.k8s.io/serviceAccount.name',
  ),
  parameterValue,
  { maxKeys: 4 },
));

/** The tokens attribute: the real shape carrying the planted JWT, or something broken. */
export const tokensArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(JSON.stringify({ vault: { token: PLANTED_JWT, expirationTimestamp: '2099-01-01T00:00:00Z' } })) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      `{"vault": {"token": "${PLANTED_JWT}"`,
      `{"vault": "${PLANTED_JWT}"}`,
      `{"other": {"token": "${PLANTED_JWT}"}}`,
      `["${PLANTED_JWT}"]`,
      `{"vault": {"token": ${JSON.stringify(PLANTED_JWT)}, "expirationTimestamp": 5}}`,
    ),
  },
);
