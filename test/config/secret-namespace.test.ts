/** secretNamespace: its rule, the header it makes with the mount's namespace, and its place in every key. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import { parseObjects } from '../../src/config/objects.js';
import { parseSecretNamespace, SecretNamespaceError } from '../../src/config/secret-namespace.js';
import { requestNamespace } from '../../src/vault/client.js';
import { groupByRequest, requestKey } from '../../src/mount/assemble.js';
import { canonicalObjectConfig, objectVersion } from '../../src/mount/assemble.js';

const A = '- objectName: a\n  secretPath: secret/data/app\n';

function objects(yaml: string) {
  return parseObjects(yaml).objects;
}

function refused(yaml: string, mention: RegExp): void {
  assert.throws(() => parseObjects(yaml), (err: unknown) => {
    assert.ok(err instanceof ProviderError, String(err));
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.equal(err.context.parameter, 'objects');
    assert.equal(err.context.objectName, 'a');
    assert.match(err.message, mention);
    return true;
  });
}

describe('config/secret-namespace', () => {
  it('drops leading and trailing slashes and keeps nested names', () => {
    for (const [raw, want] of [['sub', 'sub'], ['/sub', 'sub'], ['sub/', 'sub'], ['//a/b//', 'a/b'], ['team-b/prod.eu_1', 'team-b/prod.eu_1']]) {
      assert.equal(parseSecretNamespace(raw!), want, raw);
    }
  });

  it('refuses empty names, dot names, whitespace, control and non-Latin-1 characters', () => {
    for (const [raw, mention] of [
      ['', /is empty/],
      ['///', /is empty/],
      ['a//b', /empty name between two slashes/],
      ['a/./b', /has a "\." name/],
      ['../team-b', /has a "\.\." name/],
      ['team a', /whitespace/],
      ['team\ta', /whitespace/],
      [' team', /whitespace/],
      ['team\n', /whitespace/],
      ['team\u0000', /control/],
      ['团队', /HTTP header/],
    ] as const) {
      assert.throws(() => parseSecretNamespace(raw), (err: unknown) => err instanceof SecretNamespaceError && mention.test(err.message), JSON.stringify(raw));
    }
  });

  it('keeps Latin-1 names: a header carries them', () => {
    assert.equal(parseSecretNamespace('tëam'), 'tëam');
  });

  it('joins the mount\'s namespace and the object\'s into one header value', () => {
    assert.equal(requestNamespace(undefined, undefined), undefined);
    assert.equal(requestNamespace('team-a', undefined), 'team-a', 'an object without one reads where the mount does');
    assert.equal(requestNamespace('/team-a/', undefined), '/team-a/', 'the mount\'s own namespace is sent as it always was');
    assert.equal(requestNamespace(undefined, 'sub'), 'sub');
    assert.equal(requestNamespace('', 'sub'), 'sub');
    assert.equal(requestNamespace('/', 'sub'), 'sub');
    assert.equal(requestNamespace('team-a', 'sub'), 'team-a/sub');
    assert.equal(requestNamespace('/team-a/', 'sub/x'), 'team-a/sub/x');
  });

  it('gives header values with single slashes only, never empty, for any valid pair', () => {
    const name = fc.stringMatching(/^[a-z0-9-]{1,6}$/);
    const path = fc.array(name, { minLength: 1, maxLength: 3 }).map((n) => n.join('/'));
    const slashes = fc.stringMatching(/^\/{0,2}$/);
    fc.assert(
      fc.property(fc.option(fc.tuple(slashes, path, slashes).map(([a, p, b]) => `${a}${p}${b}`), { nil: undefined }), path, slashes, (mount, rel, pad) => {
        const header = requestNamespace(mount, parseSecretNamespace(`${pad}${rel}${pad}`))!;
        assert.doesNotMatch(header, /^\/|\/\/|\/$/);
        assert.ok(header.endsWith(rel));
      }),
    );
  });

  it('is an object key of its own, kept only when set', () => {
    assert.equal(objects(`${A}  secretNamespace: /team-b/\n`)[0]!.secretNamespace, 'team-b');
    assert.ok(!('secretNamespace' in objects(A)[0]!));
    assert.ok(!('secretNamespace' in objects(`${A}  secretNamespace:\n`)[0]!), 'null means not set, as for every key');
  });

  it('refuses bad values naming the object', () => {
    refused(`${A}  secretNamespace: ""\n`, /objects\[0\] \("a"\): secretNamespace is empty/);
    refused(`${A}  secretNamespace: a//b\n`, /secretNamespace "a\/\/b" has an empty name/);
    refused(`${A}  secretNamespace: ../x\n`, /secretNamespace "\.\.\/x" has a "\.\." name/);
    refused(`${A}  secretNamespace: "team b"\n`, /secretNamespace holds whitespace/);
    refused(`${A}  secretNamespace: [a]\n`, /secretNamespace must be a string, not a YAML list/);
    refused(`${A}  secretNamespace: true\n`, /secretNamespace must be a string, not a boolean/);
    assert.throws(
      () => parseObjects('- objectName: a\n  secretPath: secret/data/app\n- objectName: t\n  template: "{{ @a.k }}"\n  secretNamespace: sub\n'),
      /objects\[1\] \("t"\): secretNamespace says where the object's own secret is read; the object has no secretPath/,
    );
  });

  it('is part of the request key: one path in two namespaces is two requests, one namespace one request', () => {
    const list = objects(`${A}- objectName: b\n  secretPath: secret/data/app\n  secretNamespace: team-b\n- objectName: c\n  secretPath: /secret/data/app\n  secretNamespace: /team-b\n- objectName: d\n  secretPath: secret/data/app\n  secretNamespace: team-c\n`);
    const [a, b, c, d] = list;
    assert.notEqual(requestKey(a!), requestKey(b!));
    assert.equal(requestKey(b!), requestKey(c!));
    assert.notEqual(requestKey(b!), requestKey(d!));
    const groups = groupByRequest(list);
    assert.deepEqual(groups.map((g) => g.objects.map((o) => o.objectName)), [['a'], ['b', 'c'], ['d']]);
    assert.deepEqual(groups.map((g) => g.request.namespace), [undefined, 'team-b', 'team-c']);
    assert.ok(!('namespace' in groups[0]!.request));
  });

  it('is part of the object version, which stays as it was for objects without one', () => {
    const [plain] = objects(A);
    const [nsB] = objects(`${A}  secretNamespace: team-b\n`);
    const [nsC] = objects(`${A}  secretNamespace: team-c\n`);
    assert.doesNotMatch(canonicalObjectConfig(plain!), /secretNamespace/);
    assert.match(canonicalObjectConfig(nsB!), /"secretNamespace":"team-b"/);
    const key = Buffer.alloc(32, 7);
    const content = Buffer.from('same bytes');
    const versions = new Set([plain, nsB, nsC].map((o) => objectVersion(key, o!, content)));
    assert.equal(versions.size, 3, 'equal contents in different namespaces do not get equal versions');
  });
});
