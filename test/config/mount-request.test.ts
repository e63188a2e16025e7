import assert from 'node:assert/strict';
import { thrown } from '../helpers/rejection.js';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import { parseMountRequest, TOKENS_KEY, type MountRequestInput } from '../../src/config/mount-request.js';
import type { MountConfig } from '../../src/config/types.js';
import { TLS_CRT_OBJECT } from '../helpers/objects.js';

const OBJECTS = '- objectName: a\n  secretPath: secret/data/a';
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXNlY3JldA';

function input(params: Record<string, string>, over: Partial<MountRequestInput> = {}): MountRequestInput {
  return {
    attributes: JSON.stringify({ roleName: 'web', objects: OBJECTS, ...params }),
    secrets: 'null',
    targetPath: '/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/v/mount',
    permission: '420',
    ...over,
  };
}

const parse = (params: Record<string, string>, over: Partial<MountRequestInput> = {}): MountConfig =>
  parseMountRequest(input(params, over));

function tokens(entries: Record<string, unknown>): string {
  return JSON.stringify(entries);
}

function assertInvalid(req: MountRequestInput, parameter: string, mention: RegExp): ProviderError {
  const caught = thrown(() => parseMountRequest(req));
  assert.equal(caught.code, 'INVALID_CONFIG');
  assert.equal(caught.context.parameter, parameter);
  assert.match(caught.message, mention);
  return caught;
}

describe('config/mount-request parseMountRequest', () => {
  it('parses the driver v1.6 fixture end to end', () => {
    const fixture = JSON.parse(readFileSync(new URL('../fixtures/mount-request.json', import.meta.url), 'utf8')) as {
      attributes: string;
      secrets: string;
      target_path: string;
      permission: string;
    };
    const cfg = parseMountRequest({
      attributes: fixture.attributes,
      secrets: fixture.secrets,
      targetPath: fixture.target_path,
      permission: fixture.permission,
    });
    assert.equal(cfg.roleName, 'web');
    assert.equal(cfg.vaultAddress, 'https://vault.vault.svc:8200');
    assert.equal(cfg.vaultNamespace, undefined);
    assert.equal(cfg.authMountPath, undefined);
    assert.deepEqual(cfg.tls, { caCertPath: '/vault/tls/ca.crt' });
    assert.equal(cfg.audience, 'vault');
    assert.deepEqual(cfg.pod, {
      name: 'web-7d9c8b6f5-x2x4k',
      namespace: 'prod',
      uid: '5c1f3a9e-2b7d-4e0a-9f61-3d2c8a7b6e51',
      serviceAccountName: 'web',
    });
    assert.equal(cfg.secretProviderClass, 'web-secrets');
    assert.deepEqual(cfg.driverToken, {
      token: '<a JWT signed by the API server, audience vault>',
      expirationTimestamp: '2026-11-28T21:00:00Z',
    });
    assert.equal(cfg.targetPath, fixture.target_path);
    assert.equal(cfg.permission, 0o644);
    // The fixture's PKI object carries `?ttl=24h` on a PUT, which Vault does not read: noted, not sent as if it were.
    assert.deepEqual(cfg.ignoredParameters, ['objects[2] ("tls/tls.crt").secretPath query (Vault reads no query string on PUT: use secretArgs)']);
    assert.deepEqual(cfg.objects, [
      {
        objectName: 'db-password',
        secretPath: 'secret/data/db-pass',
        requestPath: '/v1/secret/data/db-pass',
        query: '',
        secretKey: 'password',
        method: 'GET',
        secretArgs: undefined,
        encoding: 'utf-8',
        filePermission: undefined,
      },
      {
        objectName: '.secret-file',
        secretPath: 'secret/data/dotfiles',
        requestPath: '/v1/secret/data/dotfiles',
        query: '',
        secretKey: 'value',
        method: 'GET',
        secretArgs: undefined,
        encoding: 'utf-8',
        filePermission: 384,
      },
      TLS_CRT_OBJECT,
    ]);
  });

  describe('attributes', () => {
    const bad: ReadonlyArray<readonly [string, RegExp]> = [
      ['', /not valid JSON/],
      ['{', /not valid JSON/],
      ['null', /JSON object of strings/],
      ['[]', /JSON object of strings/],
      ['"x"', /JSON object of strings/],
      ['{"roleName": 1}', /value of "roleName" must be a string/],
      ['{"roleName": "r", "objects": ["a"]}', /value of "objects" must be a string/],
      ['{"roleName": null}', /value of "roleName" must be a string/],
    ];
    for (const [attributes, why] of bad) {
      it(`refuses ${JSON.stringify(attributes)}`, () => {
        assertInvalid({ ...input({}), attributes }, 'attributes', why);
      });
    }
    it('does not echo malformed JSON (a JWT may be inside)', () => {
      const attributes = `{"${TOKENS_KEY}": "{\\"vault\\": {\\"token\\": \\"${JWT}\\"}}", oops}`;
      const err = assertInvalid({ ...input({}), attributes }, 'attributes', /^attributes is not valid JSON$/);
      assert.ok(!err.message.includes(JWT));
    });
  });

  describe('secrets', () => {
    for (const secrets of ['', '  ', 'null', '{}', '{"username": "u", "password": "p"}', '{"other": 5}']) {
      it(`accepts ${JSON.stringify(secrets)}`, () => {
        assert.equal(parse({}, { secrets }).driverToken, undefined);
      });
    }
    for (const secrets of ['[]', '"x"', '5', '{']) {
      it(`refuses ${JSON.stringify(secrets)}`, () => {
        assertInvalid(input({}, { secrets }), 'secrets', /secrets (must be a JSON object|is not valid JSON)/);
      });
    }
  });

  describe('permission', () => {
    const ok: ReadonlyArray<readonly [string, number]> = [
      ['420', 0o644],
      ['384', 0o600],
      ['0', 0],
      ['511', 0o777],
      [' 420\n', 0o644],
    ];
    for (const [permission, expected] of ok) {
      it(`${JSON.stringify(permission)} → ${expected.toString(8)}`, () => {
        assert.equal(parse({}, { permission }).permission, expected);
      });
    }
    for (const permission of ['', '0644', '-1', '420.0', '4.2e2', '512', '4294967296', 'abc', 'null', '"420"', '0x1a4']) {
      it(`refuses ${JSON.stringify(permission)}`, () => {
        assertInvalid(input({}, { permission }), 'permission', /permission must be/);
      });
    }
  });

  it('requires a target path', () => {
    assertInvalid(input({}, { targetPath: '' }), 'targetPath', /target path/);
  });

  it('requires roleName, and treats an empty one as missing', () => {
    assertInvalid({ ...input({}), attributes: JSON.stringify({ objects: OBJECTS }) }, 'roleName', /roleName is required/);
    assertInvalid(input({ roleName: '' }), 'roleName', /roleName is required/);
  });

  it('requires objects', () => {
    assertInvalid({ ...input({}), attributes: JSON.stringify({ roleName: 'r' }) }, 'objects', /objects is missing/);
    assertInvalid(input({ objects: '' }), 'objects', /objects is missing/);
  });

  it('passes the object name of an objects error through', () => {
    const err = assertInvalid(input({ objects: '- {objectName: ../x, secretPath: y}' }), 'objects', /not a valid file path/);
    assert.equal(err.context.objectName, '../x');
  });

  describe('Vault settings', () => {
    it('reads address and namespace; empty means unset', () => {
      const cfg = parse({ vaultAddress: 'http://vault:8200', vaultNamespace: 'team-a' });
      assert.equal(cfg.vaultAddress, 'http://vault:8200');
      assert.equal(cfg.vaultNamespace, 'team-a');
      const empty = parse({ vaultAddress: '', vaultNamespace: '' });
      assert.equal(empty.vaultAddress, undefined);
      assert.equal(empty.vaultNamespace, undefined);
    });

    const mounts: ReadonlyArray<readonly [Record<string, string>, string | undefined]> = [
      [{}, undefined],
      [{ vaultKubernetesMountPath: 'k8s-prod' }, 'k8s-prod'],
      [{ vaultAuthMountPath: 'jwt' }, 'jwt'],
      [{ vaultAuthMountPath: '/team-a/jwt/' }, 'team-a/jwt'],
      [{ vaultAuthMountPath: '' }, undefined],
      [{ vaultKubernetesMountPath: '' }, undefined],
    ];
    for (const [params, expected] of mounts) {
      it(`auth mount ${JSON.stringify(params)} → ${String(expected)}`, () => {
        assert.equal(parse(params).authMountPath, expected);
      });
    }
    it('refuses both auth mount keys, even empty ones (the reference tests presence)', () => {
      for (const params of [
        { vaultKubernetesMountPath: 'a', vaultAuthMountPath: 'b' },
        { vaultKubernetesMountPath: '', vaultAuthMountPath: '' },
      ]) {
        const err = assertInvalid(input(params), 'vaultAuthMountPath', /vaultKubernetesMountPath/);
        assert.match(err.message, /vaultAuthMountPath/);
      }
    });
    for (const bad of ['/', 'a/../b', 'a//b', 'a b', 'a?x', '..']) {
      it(`refuses the auth mount ${JSON.stringify(bad)}`, () => {
        assertInvalid(input({ vaultKubernetesMountPath: bad }), 'vaultKubernetesMountPath', /vaultKubernetesMountPath must be/);
        assertInvalid(input({ vaultAuthMountPath: bad }), 'vaultAuthMountPath', /vaultAuthMountPath must be/);
      });
    }

    it('reads the TLS parameters; empty means unset', () => {
      const cfg = parse({
        vaultCACertPath: '/ca.pem',
        vaultCADirectory: '/cas',
        vaultTLSServerName: 'vault.internal',
        vaultTLSClientCertPath: '/c.pem',
        vaultTLSClientKeyPath: '/k.pem',
        vaultSkipTLSVerify: 'false',
      });
      assert.deepEqual(cfg.tls, {
        caCertPath: '/ca.pem',
        caDirectory: '/cas',
        serverName: 'vault.internal',
        clientCertPath: '/c.pem',
        clientKeyPath: '/k.pem',
        skipVerify: false,
      });
      assert.deepEqual(parse({ vaultCACertPath: '', vaultTLSServerName: '' }).tls, {});
    });

    const bools: ReadonlyArray<readonly [string, boolean]> = [
      ['1', true], ['t', true], ['T', true], ['TRUE', true], ['true', true], ['True', true],
      ['0', false], ['f', false], ['F', false], ['FALSE', false], ['false', false], ['False', false],
    ];
    for (const [value, expected] of bools) {
      it(`vaultSkipTLSVerify ${JSON.stringify(value)} → ${expected}`, () => {
        assert.equal(parse({ vaultSkipTLSVerify: value }).tls.skipVerify, expected);
      });
    }
    for (const value of ['', 'yes', 'no', 'tRUE', ' true', 'true ', '2', 'on']) {
      it(`refuses vaultSkipTLSVerify ${JSON.stringify(value)}`, () => {
        assertInvalid(input({ vaultSkipTLSVerify: value }), 'vaultSkipTLSVerify', /vaultSkipTLSVerify must be true or false/);
      });
    }
  });

  describe('ServiceAccount tokens', () => {
    const entry = { token: JWT, expirationTimestamp: '2030-01-01T00:00:00Z' };

    it('takes the token for the default audience "vault" from attributes', () => {
      const cfg = parse({ [TOKENS_KEY]: tokens({ vault: entry, other: { token: 'x' } }) });
      assert.equal(cfg.audience, 'vault');
      assert.deepEqual(cfg.driverToken, { token: JWT, expirationTimestamp: '2030-01-01T00:00:00Z' });
    });
    it('takes the token for a configured audience', () => {
      const cfg = parse({ audience: 'sts.example', [TOKENS_KEY]: tokens({ vault: { token: 'no' }, 'sts.example': entry }) });
      assert.equal(cfg.audience, 'sts.example');
      assert.equal(cfg.driverToken?.token, JWT);
    });
    it('treats an empty audience as the default', () => {
      assert.equal(parse({ audience: '' }).audience, 'vault');
    });
    it('is undefined without tokens, without the audience, or with an empty token', () => {
      assert.equal(parse({}).driverToken, undefined);
      assert.equal(parse({ [TOKENS_KEY]: '' }).driverToken, undefined);
      assert.equal(parse({ [TOKENS_KEY]: tokens({ other: entry }) }).driverToken, undefined);
      assert.equal(parse({ [TOKENS_KEY]: tokens({ vault: { token: '' } }) }).driverToken, undefined);
      assert.equal(parse({ [TOKENS_KEY]: tokens({ vault: null }) }).driverToken, undefined);
      assert.equal(parse({ [TOKENS_KEY]: 'null' }).driverToken, undefined);
    });
    it('leaves the expiration undefined when absent or empty', () => {
      assert.deepEqual(parse({ [TOKENS_KEY]: tokens({ vault: { token: JWT } }) }).driverToken, { token: JWT, expirationTimestamp: undefined });
      assert.deepEqual(parse({ [TOKENS_KEY]: tokens({ vault: { token: JWT, expirationTimestamp: '' } }) }).driverToken, {
        token: JWT,
        expirationTimestamp: undefined,
      });
    });
    it('reads them from secrets (Kubernetes 1.35+)', () => {
      const cfg = parse({}, { secrets: JSON.stringify({ [TOKENS_KEY]: tokens({ vault: entry }) }) });
      assert.equal(cfg.driverToken?.token, JWT);
    });
    it("takes the attributes' token over one in secrets (on most clusters secrets is the pod author's nodePublishSecretRef)", () => {
      const cfg = parse(
        { [TOKENS_KEY]: tokens({ vault: { token: 'from-attributes' } }) },
        { secrets: JSON.stringify({ [TOKENS_KEY]: tokens({ vault: { token: 'from-secrets' } }) }) },
      );
      assert.equal(cfg.driverToken?.token, 'from-attributes');
      // The attributes carry tokens, just not for this audience: secrets are still not consulted.
      const other = parse(
        { [TOKENS_KEY]: tokens({ other: { token: 'from-attributes' } }) },
        { secrets: JSON.stringify({ [TOKENS_KEY]: tokens({ vault: { token: 'from-secrets' } }) }) },
      );
      assert.equal(other.driverToken, undefined);
    });
    it('reads secrets only when the attributes carry no tokens (absent, empty or null)', () => {
      for (const attrs of [{}, { [TOKENS_KEY]: '' }, { [TOKENS_KEY]: 'null' }] as Array<Record<string, string>>) {
        const cfg = parse(attrs, { secrets: JSON.stringify({ [TOKENS_KEY]: tokens({ vault: { token: 'from-secrets' } }) }) });
        assert.equal(cfg.driverToken?.token, 'from-secrets');
      }
    });
    it('ignores a malformed tokens key in secrets when the attributes carry the tokens', () => {
      const cfg = parse({ [TOKENS_KEY]: tokens({ vault: { token: 'from-attributes' } }) }, { secrets: JSON.stringify({ [TOKENS_KEY]: 5 }) });
      assert.equal(cfg.driverToken?.token, 'from-attributes');
    });

    const malformed: ReadonlyArray<readonly [string, RegExp]> = [
      [`{"vault": {"token": "${JWT}"`, /is not valid JSON/],
      [`${JWT}`, /is not valid JSON/],
      [`["${JWT}"]`, /must be a JSON object keyed by audience/],
      [`"${JWT}"`, /must be a JSON object keyed by audience/],
      [`{"vault": "${JWT}"}`, /entry for audience "vault" must be an object/],
      [`{"other": {"token": 5}, "vault": {"token": "${JWT}"}}`, /entry for another audience/],
      [`{"${JWT}": {"token": 5}}`, /entry for another audience/],
      [`{"vault": {"token": "${JWT}", "expirationTimestamp": 5}}`, /entry for audience "vault"/],
    ];
    for (const [value, why] of malformed) {
      it(`refuses malformed tokens without quoting them: ${why.source}`, () => {
        for (const req of [input({ [TOKENS_KEY]: value }), input({}, { secrets: JSON.stringify({ [TOKENS_KEY]: value }) })]) {
          const err = assertInvalid(req, TOKENS_KEY, why);
          assert.match(err.message, new RegExp(TOKENS_KEY.replace(/\./g, '\\.')));
          assert.ok(!err.message.includes(JWT), err.message);
          assert.ok(!err.message.includes('eyJ'), err.message);
        }
      });
    }
    it('refuses a tokens value in secrets that is not a string', () => {
      const err = assertInvalid(input({}, { secrets: JSON.stringify({ [TOKENS_KEY]: { vault: { token: JWT } } }) }), TOKENS_KEY, /in secrets\) must be a JSON string/);
      assert.ok(!err.message.includes(JWT));
    });
  });

  it('reads pod info and the SecretProviderClass name, "" when absent', () => {
    const cfg = parse({
      'csi.storage.k8s.io/pod.name': 'p',
      'csi.storage.k8s.io/pod.namespace': 'ns',
      'csi.storage.k8s.io/pod.uid': 'u',
      'csi.storage.k8s.io/serviceAccount.name': 'sa',
      secretProviderClass: 'spc',
    });
    assert.deepEqual(cfg.pod, { name: 'p', namespace: 'ns', uid: 'u', serviceAccountName: 'sa' });
    assert.equal(cfg.secretProviderClass, 'spc');
    const bare = parse({});
    assert.deepEqual(bare.pod, { name: '', namespace: '', uid: '', serviceAccountName: '' });
    assert.equal(bare.secretProviderClass, '');
  });

  it('lists unknown parameters and unknown object keys by name only', () => {
    const cfg = parse({
      vaultRole: 'typo',
      'csi.storage.k8s.io/ephemeral': 'false',
      'csi.storage.k8s.io/something.new': 'x',
      objects: '- {objectName: a, secretPath: x, secretkey: k}',
      extra: 'secret-looking-value',
    });
    assert.deepEqual(cfg.ignoredParameters, ['vaultRole', 'extra', 'objects[0].secretkey']);
  });

  describe('properties', () => {
    const tokenArb = fc.stringMatching(/^[A-Za-z0-9_-]{20,40}$/).map((s) => `eyJtok.${s}`);
    const paramNames = fc.constantFrom(
      'roleName', 'vaultAddress', 'vaultNamespace', 'vaultKubernetesMountPath', 'vaultAuthMountPath', 'vaultCACertPath',
      'vaultSkipTLSVerify', 'audience', 'objects', 'secretProviderClass', 'csi.storage.k8s.io/pod.name', 'whatever',
    );
    const paramValue = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('', 'true', 'vault', 'x', '- {objectName: a, secretPath: b}', '- objectName: a', 'http://v:8200', '/'),
    );
    /** A tokens JSON holding `token`, possibly broken in a way the parser must reject without quoting it. */
    const tokensJson = (token: string): fc.Arbitrary<string> =>
      fc.tuple(
        fc.constantFrom('vault', 'other', 'sts'),
        fc.nat(),
        fc.constantFrom('ok', 'truncate', 'bare', 'entry-string', 'token-number', 'array', 'token-as-key'),
      ).map(([aud, cut, mode]) => {
        const good = JSON.stringify({ [aud]: { token, expirationTimestamp: 'soon' } });
        switch (mode) {
          case 'truncate':
            return good.slice(0, cut % good.length);
          case 'bare':
            return token;
          case 'entry-string':
            return JSON.stringify({ [aud]: token });
          case 'token-number':
            return `{"${aud}": {"token": 1, "note": "${token}"}}`;
          case 'array':
            return JSON.stringify([token]);
          case 'token-as-key':
            return JSON.stringify({ [token]: 5 });
          default:
            return good;
        }
      });

    const requestArb = tokenArb.chain((token) =>
      fc.record({
        token: fc.constant(token),
        params: fc.dictionary(paramNames, paramValue, { maxKeys: 4 }),
        tokens: tokensJson(token),
        inSecrets: fc.boolean(),
        cutAttributes: fc.option(fc.nat(), { nil: undefined, freq: 2 }),
        permission: fc.oneof(
          { weight: 5, arbitrary: fc.constant('420') },
          { weight: 1, arbitrary: fc.constantFrom('', '0644', '999') },
          { weight: 1, arbitrary: fc.string({ maxLength: 5 }) },
        ),
        targetPath: fc.oneof({ weight: 5, arbitrary: fc.constant('/t') }, { weight: 1, arbitrary: fc.constant('') }),
      }),
    );

    it('throws only INVALID_CONFIG ProviderErrors, and never quotes a token', () => {
      let tokenErrors = 0;
      let parsed = 0;
      fc.assert(
        fc.property(requestArb, ({ token, params, tokens: tokensValue, inSecrets, cutAttributes, permission, targetPath }) => {
          const attrs: Record<string, string> = { roleName: 'r', objects: OBJECTS, ...params };
          let secrets = 'null';
          if (inSecrets) secrets = JSON.stringify({ [TOKENS_KEY]: tokensValue });
          else attrs[TOKENS_KEY] = tokensValue;
          let attributes = JSON.stringify(attrs);
          if (cutAttributes !== undefined) attributes = attributes.slice(0, cutAttributes % (attributes.length + 1));
          try {
            const cfg = parseMountRequest({ attributes, secrets, targetPath, permission });
            assert.ok(!cfg.ignoredParameters.some((p) => p.includes(token)));
            parsed += 1;
          } catch (err: unknown) {
            assert.ok(err instanceof ProviderError, `not a ProviderError: ${String(err)}`);
            if (err.context.parameter === TOKENS_KEY) tokenErrors += 1;
            assert.equal(err.code, 'INVALID_CONFIG');
            assert.ok(!err.message.includes(token), err.message);
            assert.ok(!err.message.includes(token.slice(7, 20)), err.message);
          }
        }),
        { numRuns: 3000 },
      );
      // The generator must reach both the token parser's failures and full successes.
      assert.ok(tokenErrors > 100, `only ${tokenErrors} token errors`);
      assert.ok(parsed > 50, `only ${parsed} successes`);
    });

    it('throws only ProviderErrors on arbitrary strings', () => {
      fc.assert(
        fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (attributes, secrets, targetPath, permission) => {
          try {
            parseMountRequest({ attributes, secrets, targetPath, permission });
          } catch (err: unknown) {
            assert.ok(err instanceof ProviderError, String(err));
          }
        }),
        { numRuns: 2000 },
      );
    });
  });
});
