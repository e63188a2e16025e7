import assert from 'node:assert/strict';
import { thrown } from '../helpers/rejection.js';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import { parseObjects } from '../../src/config/objects.js';
import type { ObjectConfig } from '../../src/config/types.js';
import { DEFAULT_INPUT_LIMITS, type InputLimits } from '../../src/config/input-limits.js';
import { countHashedCharacters } from '../helpers/hashed-characters.js';
import { TLS_CRT_OBJECT } from '../helpers/objects.js';

/** One object with the given extra YAML lines (each indented under the list item). */
function one(extra: string, base = 'objectName: a\n  secretPath: secret/data/a'): string {
  return `- ${base}${extra === '' ? '' : `\n  ${extra}`}`;
}

function only(text: string): ObjectConfig {
  const { objects } = parseObjects(text);
  assert.equal(objects.length, 1);
  return objects[0]!;
}

function assertInvalid(text: string, mention: RegExp, objectName?: string): ProviderError {
  const caught = thrown(() => parseObjects(text));
  assert.equal(caught.code, 'INVALID_CONFIG');
  assert.equal(caught.context.parameter, 'objects');
  if (objectName !== undefined) assert.equal(caught.context.objectName, objectName);
  assert.match(caught.message, mention);
  return caught;
}

describe('config/objects parseObjects', () => {
  describe('filePermission follows yaml.v3 into a uint32', () => {
    const table: ReadonlyArray<readonly [string, number | undefined]> = [
      ['0600', 0o600],
      ['0o600', 0o600],
      ['0O600', 0o600],
      ['420', 420],
      ['0x1a4', 420],
      ['0X1A4', 420],
      ['0b110100100', 420],
      ['+420', 420],
      ['0_600', 0o600],
      ['4_2_0', 420],
      ['0644', 0o644],
      ['0777', 0o777],
      ['511', 511],
      ['420.0', 420],
      ['4.2e2', 420],
      ['1', 1],
      // 0 is "not set" in the reference: the request's permission applies.
      ['0', undefined],
      ['0000', undefined],
      ['-0', undefined],
      ['null', undefined],
      ['~', undefined],
      ['', undefined],
      // Not octal (8 is no octal digit): yaml.v3 reads it as the float 648, over 0777.
    ];
    for (const [yamlValue, expected] of table) {
      it(`filePermission: ${yamlValue === '' ? '(empty)' : yamlValue} → ${String(expected)}`, () => {
        assert.equal(only(one(`filePermission: ${yamlValue}`)).filePermission, expected);
      });
    }
    it('is undefined when absent', () => {
      assert.equal(only(one('')).filePermission, undefined);
    });

    const refused: ReadonlyArray<readonly [string, RegExp]> = [
      ['"0600"', /unquoted integer.*not a string/],
      ["'420'", /unquoted integer/],
      ['0648', /out of range/],
      ['01000', /out of range/],
      ['512', /out of range/],
      ['-1', /out of range/],
      ['0x200', /out of range/],
      ['99999999999999999999999', /out of range/],
      ['420.5', /not an integer/],
      ['.inf', /not an integer/],
      ['.nan', /not an integer/],
      ['true', /not a boolean/],
      ['rw-r--r--', /not a string/],
      ['0o', /not a string/],
      ['[1]', /not a YAML list/],
      ['{a: 1}', /not a YAML map/],
    ];
    for (const [yamlValue, why] of refused) {
      it(`refuses filePermission: ${yamlValue}`, () => {
        const err = assertInvalid(one(`filePermission: ${yamlValue}`), why, 'a');
        assert.match(err.message, /objects\[0\] \("a"\): filePermission/);
      });
    }
  });

  describe('secretPath', () => {
    const table: ReadonlyArray<readonly [string, string, string]> = [
      ['secret/data/a', '/v1/secret/data/a', ''],
      ['/secret/data/a', '/v1/secret/data/a', ''],
      ['v1/secret/data/a', '/v1/secret/data/a', ''],
      ['/v1/secret/data/a', '/v1/secret/data/a', ''],
      ['pki/issue/web?ttl=24h', '/v1/pki/issue/web', 'ttl=24h'],
      ['/v1/pki/issue/web?b=2&a=1&b=1', '/v1/pki/issue/web', 'b=2&a=1&b=1'],
      ['kv/x?', '/v1/kv/x', ''],
      ['kv/x?a=%2F', '/v1/kv/x', 'a=%2F'],
      ['kv/x?a=b c', '/v1/kv/x', 'a=b%20c'],
      ['kv/my secret', '/v1/kv/my%20secret', ''],
      ['kv/100%', '/v1/kv/100%25', ''],
      ['kv/naïve', '/v1/kv/na%C3%AFve', ''],
      ['kv/a#b', '/v1/kv/a%23b', ''],
      ['kv/a:b@c', '/v1/kv/a:b@c', ''],
      // As the reference's ensureV1Prefix: 'v1' alone is not the prefix.
      ['v1', '/v1/v1', ''],
    ];
    for (const [secretPath, requestPath, query] of table) {
      it(`${JSON.stringify(secretPath)} → ${requestPath} ? ${JSON.stringify(query)}`, () => {
        const o = only(one('', `objectName: a\n  secretPath: ${JSON.stringify(secretPath)}`));
        assert.equal(o.secretPath, secretPath);
        assert.equal(o.requestPath, requestPath);
        assert.equal(o.query, query);
      });
    }
    it('is required', () => {
      assertInvalid('- objectName: a', /objects\[0\] \("a"\): secretPath is required/, 'a');
      assertInvalid('- objectName: a\n  secretPath: ""', /secretPath is required/, 'a');
      assertInvalid('- objectName: a\n  secretPath:', /secretPath is required/, 'a');
    });
    it('hints at a key spelled with the wrong case', () => {
      assertInvalid('- objectName: a\n  SecretPath: x', /found "SecretPath"; keys are case-sensitive/, 'a');
    });
    it('refuses control characters, a ; separator and a broken escape in the query', () => {
      assertInvalid(one('', 'objectName: a\n  secretPath: "kv/a\\nb"'), /control characters/, 'a');
      assertInvalid(one('', 'objectName: a\n  secretPath: "kv/a?x=1;y=2"'), /';'/, 'a');
      assertInvalid(one('', 'objectName: a\n  secretPath: "kv/a?x=%zz"'), /'%'/, 'a');
      assertInvalid(one('', 'objectName: a\n  secretPath: [x]'), /secretPath must be a string, not a YAML list/, 'a');
    });
  });

  describe('string fields take any scalar text, as yaml.v3 does for Go strings', () => {
    const table: ReadonlyArray<readonly [string, string]> = [
      ['password', 'password'],
      ['"quoted"', 'quoted'],
      ["'single'", 'single'],
      ['123', '123'],
      ['0600', '0600'],
      ['1.50', '1.50'],
      ['True', 'True'],
      ['yes', 'yes'],
      ['1_000', '1_000'],
      ['.env', '.env'],
      ['-x', '-x'],
      ['2024-01-01', '2024-01-01'],
      ['null', ''],
      ['~', ''],
      ['""', ''],
    ];
    for (const [yamlValue, expected] of table) {
      it(`secretKey: ${yamlValue} → ${JSON.stringify(expected)}`, () => {
        assert.equal(only(one(`secretKey: ${yamlValue}`)).secretKey, expected);
      });
    }
    it('defaults secretKey to the empty string (whole response)', () => {
      assert.equal(only(one('')).secretKey, '');
    });
    it('refuses a list or a map for a string field, naming the object', () => {
      assertInvalid(one('secretKey: [a]'), /objects\[0\] \("a"\): secretKey must be a string, not a YAML list/, 'a');
      assertInvalid(one('secretKey: {a: b}'), /secretKey must be a string, not a YAML map/, 'a');
      assertInvalid('- objectName: [1]\n  secretPath: x', /objects\[0\]: objectName must be a string, not a YAML list/);
    });
  });

  describe('objectName', () => {
    it('is required', () => {
      assertInvalid('- secretPath: x', /objects\[0\]: objectName is required/);
      assertInvalid('- objectName: ""\n  secretPath: x', /objects\[0\]: objectName is required/);
      assertInvalid('- objectname: a\n  secretPath: x', /found "objectname"/);
    });
    it('accepts a plain number as its text', () => {
      assert.equal(only('- objectName: 0600\n  secretPath: x').objectName, '0600');
    });
    const badPaths = ['/abs', '../up', 'a/../b', '..data', './x', 'a//b', 'x/', '.'];
    for (const p of badPaths) {
      it(`refuses the file path ${JSON.stringify(p)}`, () => {
        assertInvalid(`- objectName: ${JSON.stringify(p)}\n  secretPath: x`, new RegExp(`objectName ${JSON.stringify(p).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a valid file path`), p);
      });
    }
    it('allows dotfiles and nested paths', () => {
      const { objects } = parseObjects('- {objectName: .env, secretPath: x}\n- {objectName: a/.b, secretPath: y}\n- {objectName: tls/tls.crt, secretPath: z}');
      assert.deepEqual(objects.map((o) => o.objectName), ['.env', 'a/.b', 'tls/tls.crt']);
    });
    it('must be unique, and the error lists every duplicate once', () => {
      const text = ['a', 'b', 'a', 'c', 'b', 'a'].map((n) => `- {objectName: ${n}, secretPath: x}`).join('\n');
      const err = assertInvalid(text, /each objectName must be unique; duplicated: "a", "b"$/, 'a');
      assert.doesNotMatch(err.message, /"c"/);
    });
    it('cannot be both a file and the directory of another object', () => {
      assertInvalid('- {objectName: a/b/c, secretPath: x}\n- {objectName: a/b, secretPath: y}', /"a\/b" is also a directory of "a\/b\/c"/, 'a/b');
    });
    it('cuts very long names short in messages', () => {
      const name = `${'n'.repeat(200)}/${'m'.repeat(100)}`;
      const err = assertInvalid(`- {objectName: ${name}, secretPath: x, method: DELETE}`, /method/);
      assert.ok(err.message.length < 250, err.message);
      assert.equal(err.context.objectName, name);
    });
  });

  describe('method', () => {
    const table: ReadonlyArray<readonly [string, string]> = [
      ['', 'GET'],
      ['method: GET', 'GET'],
      ['method: get', 'GET'],
      ['method: PUT', 'PUT'],
      ['method: post', 'POST'],
      ['method: List', 'LIST'],
      ['method: ""', 'GET'],
    ];
    for (const [line, expected] of table) {
      it(`${line === '' ? '(absent)' : line} → ${expected}`, () => {
        assert.equal(only(one(line)).method, expected);
      });
    }
    for (const m of ['DELETE', 'PATCH', 'HEAD', 'G ET', 'OPTIONS']) {
      it(`refuses ${m}`, () => {
        assertInvalid(one(`method: ${m}`), /objects\[0\] \("a"\): method ".*" is not supported \(use GET, POST, PUT, LIST\)/, 'a');
      });
    }
  });

  describe('encoding', () => {
    const table: ReadonlyArray<readonly [string, string]> = [
      ['', 'utf-8'],
      ['encoding: utf-8', 'utf-8'],
      ['encoding: UTF-8', 'utf-8'],
      ['encoding: Base64', 'base64'],
      ['encoding: HEX', 'hex'],
      ['encoding: ""', 'utf-8'],
    ];
    for (const [line, expected] of table) {
      it(`${line === '' ? '(absent)' : line} → ${expected}`, () => {
        assert.equal(only(one(line)).encoding, expected);
      });
    }
    for (const e of ['utf8', 'base32', 'latin1', '1']) {
      it(`refuses ${e}, naming the object`, () => {
        assertInvalid(one(`encoding: ${e}`), /objects\[0\] \("a"\): encoding ".*" is not one of utf-8, base64, hex/, 'a');
      });
    }
  });

  describe('secretArgs', () => {
    it('becomes a JSON body with yaml.v3 scalar types', () => {
      const o = only(
        one(
          'secretArgs:\n    common_name: "web.prod.svc"\n    ttl: 24h\n    exclude_cn_from_sans: true\n    count: 3\n    mode: 0600\n    ratio: 1.5\n    big: 0x10\n    alt_names: [a, b]\n    nested: {k: v, 1: one}\n    empty: null\n    yes_is_text: yes\n    quoted_num: "0600"',
        ),
      );
      assert.deepEqual(o.secretArgs, {
        common_name: 'web.prod.svc',
        ttl: '24h',
        exclude_cn_from_sans: true,
        count: 3,
        mode: 384,
        ratio: 1.5,
        big: 16,
        alt_names: ['a', 'b'],
        nested: { k: 'v', 1: 'one' },
        empty: null,
        yes_is_text: 'yes',
        quoted_num: '0600',
      });
    });
    it('is undefined when absent or null, and {} when an empty map', () => {
      assert.equal(only(one('')).secretArgs, undefined);
      assert.equal(only(one('secretArgs:')).secretArgs, undefined);
      assert.deepEqual(only(one('secretArgs: {}')).secretArgs, {});
    });
    it('keeps a __proto__ key as data', () => {
      const args = only(one('secretArgs: {__proto__: {polluted: true}}')).secretArgs!;
      assert.equal(Object.getPrototypeOf(args), Object.prototype);
      assert.equal(JSON.stringify(args), '{"__proto__":{"polluted":true}}');
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
    it('refuses a non-map, naming the object', () => {
      assertInvalid(one('secretArgs: [a]'), /secretArgs must be a YAML map, not a YAML list/, 'a');
      assertInvalid(one('secretArgs: text'), /secretArgs must be a YAML map, not a string/, 'a');
    });
    it('refuses values JSON cannot carry and map keys that are collections', () => {
      assertInvalid(one('secretArgs: {x: .inf}'), /not representable in JSON/, 'a');
      assertInvalid(one('secretArgs: {x: .nan}'), /not representable in JSON/, 'a');
      assertInvalid(one('secretArgs: {[1]: x}'), /map keys must be scalars/, 'a');
    });
    it('never quotes a secretArgs value in an error', () => {
      const err = assertInvalid(one('secretArgs: {password: hunter2-SECRET, x: .inf}'), /secretArgs/);
      assert.doesNotMatch(err.message, /hunter2/);
    });
  });

  describe('document shape', () => {
    const refused: ReadonlyArray<readonly [string, RegExp]> = [
      ['', /missing or empty/],
      ['# only a comment', /missing or empty/],
      ['null', /missing or empty/],
      ['[]', /empty list/],
      ['objectName: a', /must be a YAML list of objects, not a YAML map/],
      ['just text', /must be a YAML list of objects, not a string/],
      ['- a', /objects\[0\] must be a YAML map with objectName and secretPath, not a string/],
      ['- {objectName: a, secretPath: x}\n- 12', /objects\[1\] must be a YAML map/],
      ['- {objectName: a, secretPath: x}\n-', /objects\[1\] must be a YAML map.*not null/],
      ['- objectName: a\n  objectName: b\n  secretPath: x', /not valid YAML \(DUPLICATE_KEY at line 2, column 3\)/],
      ['- objectName: "a\n  secretPath: x', /not valid YAML/],
      ['- {objectName: a, secretPath: x}\n---\n- {objectName: b, secretPath: y}', /not valid YAML/],
      ['- *nowhere', /not valid YAML|cannot be expanded/],
    ];
    for (const [text, why] of refused) {
      it(`refuses ${JSON.stringify(text)}`, () => {
        assertInvalid(text, why);
      });
    }

    it('does not echo the YAML text in syntax errors', () => {
      const err = assertInvalid('- objectName: a\n  secretPath: x\n  secretArgs: {password: "hunter2-SECRET}', /not valid YAML/);
      assert.doesNotMatch(err.message, /hunter2/);
    });

    it('refuses alias bombs without expanding them', () => {
      const lines = ['- &a0 {objectName: a, secretPath: x, secretArgs: {v: x}}'];
      let prev = 'a0';
      for (let i = 1; i < 12; i += 1) {
        lines.push(`- &a${i} [*${prev}, *${prev}, *${prev}, *${prev}]`);
        prev = `a${i}`;
      }
      assertInvalid(lines.join('\n'), /aliases|must be a YAML map/);
    });

    it('supports anchors and merge keys as yaml.v3 does', () => {
      const { objects } = parseObjects('- &base\n  objectName: a\n  secretPath: kv/a\n  method: PUT\n- <<: *base\n  objectName: b');
      assert.deepEqual(
        objects.map((o) => [o.objectName, o.requestPath, o.method]),
        [
          ['a', '/v1/kv/a', 'PUT'],
          ['b', '/v1/kv/a', 'PUT'],
        ],
      );
    });

    it('ignores a %YAML 1.1 directive: the Go rules still apply', () => {
      const o = only(`%YAML 1.1\n---\n${one('secretKey: yes\n  filePermission: 0o600')}`);
      assert.equal(o.secretKey, 'yes');
      assert.equal(o.filePermission, 0o600);
    });

    it('accepts flow style and JSON', () => {
      const { objects } = parseObjects('[{"objectName": "a", "secretPath": "x", "filePermission": 420}]');
      assert.equal(objects[0]!.filePermission, 420);
    });

    it('returns unknown per-object keys for a debug log, and otherwise ignores them', () => {
      const { objects, ignoredKeys } = parseObjects(
        '- {objectName: a, secretPath: x, extra: 1, Encoding: hex}\n- {objectName: b, secretPath: y, 7: z}',
      );
      assert.equal(objects[0]!.encoding, 'utf-8');
      assert.deepEqual(ignoredKeys, ['objects[0].extra', 'objects[0].Encoding', 'objects[1].7']);
    });

    it('notes a query string on a write, which Vault does not read, and keeps it in the request as the reference does', () => {
      const { objects, ignoredKeys } = parseObjects(
        '- {objectName: a, secretPath: "pki/issue/web?ttl=2h", method: PUT}\n- {objectName: b, secretPath: "secret/data/x?version=1"}',
      );
      assert.equal(objects[0]!.query, 'ttl=2h');
      assert.equal(objects[1]!.query, 'version=1');
      assert.deepEqual(ignoredKeys, ['objects[0] ("a").secretPath query (Vault reads no query string on PUT: use secretArgs)']);
    });
  });

  it('parses a full object', () => {
    const o = only(
      '- objectName: tls/tls.crt\n  secretPath: pki/issue/web?ttl=24h\n  secretKey: certificate\n  method: put\n  encoding: BASE64\n  filePermission: 0640\n  secretArgs:\n    common_name: web.prod.svc',
    );
    assert.deepEqual(o, { ...TLS_CRT_OBJECT, encoding: 'base64', filePermission: 0o640 });
  });

  it('throws nothing but ProviderError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseObjects(text);
        } catch (err: unknown) {
          assert.ok(err instanceof ProviderError, String(err));
          assert.equal(err.code, 'INVALID_CONFIG');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('throws nothing but ProviderError on YAML-shaped text', () => {
    const token = fc.constantFrom(
      '- ', '  ', '\n', 'objectName: ', 'secretPath: ', 'filePermission: ', 'secretArgs: ', 'method: ', 'encoding: ',
      'a', 'x/y', '0600', '0x1', '.inf', '"q"', "'s'", '[', ']', '{', '}', ',', ':', '&a ', '*a', '<<: ', '!!int ', '!!str ',
      '---', '%YAML 1.1', '#c', '?', '|', '>', 'null', 'true',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), (parts) => {
        try {
          parseObjects(parts.join(''));
        } catch (err: unknown) {
          assert.ok(err instanceof ProviderError, String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('config/objects caps on author input (issue 19)', () => {
  const small: InputLimits = { ...DEFAULT_INPUT_LIMITS, objectsBytes: 2048, objectsTokens: 200, objectsDepth: 6, objectsAliases: 3, objectsPerMount: 4 };

  function capped(text: string, limits: InputLimits, flag: string, mention: RegExp): ProviderError {
    const err = thrown(() => parseObjects(text, limits));
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.equal(err.context.parameter, 'objects');
    assert.match(err.message, mention);
    assert.ok(err.message.includes(`(--${flag}=`), err.message);
    return err;
  }

  it('refuses a text over --max-objects-bytes before it is parsed (a YAML error past the cap is never reached)', () => {
    capped(`${one('')}\n${'#'.repeat(2048)}\n- [unclosed`, small, 'max-objects-bytes', /objects is longer than 2048 bytes/);
    // Counted in UTF-8 bytes, not characters.
    capped(`${one('')}\n# ${'é'.repeat(1100)}`, small, 'max-objects-bytes', /longer than 2048 bytes/);
    assert.equal(parseObjects(`${one('')}\n# ${'é'.repeat(900)}`, small).objects.length, 1);
  });

  it('refuses more YAML tokens than --max-objects-tokens, blank lines and comments included', () => {
    capped(one('secretArgs: {' + Array.from({ length: 60 }, (_, i) => `k${i}: v`).join(', ') + '}'), small, 'max-objects-tokens', /more than 200 YAML tokens/);
    capped(`${one('')}\n${'\n'.repeat(300)}`, small, 'max-objects-tokens', /more than 200 YAML tokens/);
    capped(`${one('')}\n${'# c\n'.repeat(150)}`, small, 'max-objects-tokens', /more than 200 YAML tokens/);
  });

  it('refuses nesting deeper than --max-objects-depth: in flow, in one line of block indicators, and by indentation', () => {
    // The list is level 1, the object 2, secretArgs 3: three more levels are allowed, a fourth is not.
    assert.ok(parseObjects(one('secretArgs: {a: [[{b: 1}]]}'), small));
    capped(one('secretArgs: {a: [[[{b: 1}]]]}'), small, 'max-objects-depth', /nests lists and maps more than 6 levels deep at line 3/);
    capped(one(`secretArgs: {a: ${'['.repeat(1000)}`), small, 'max-objects-depth', /more than 6 levels deep/);
    capped(`- ${'- '.repeat(10)}x`, small, 'max-objects-depth', /more than 6 levels deep at line 1/);
    assert.ok(parseObjects(one('secretArgs:\n    a:\n     b:\n      c:\n       d: 1'), small));
    capped(one('secretArgs:\n    a:\n     b:\n      c:\n       d:\n        e: 1'), small, 'max-objects-depth', /more than 6 levels deep at line 8, column 9/);
  });

  it('refuses more aliases than --max-objects-aliases, and an alias inside its own anchor (yaml.v3 does too)', () => {
    assert.equal(parseObjects('- &b {objectName: a, secretPath: x}\n- {<<: *b, objectName: b}\n- {<<: *b, objectName: c}', small).objects.length, 3);
    capped(one('secretArgs: {a: &x 1, b: *x, c: *x, d: *x, e: *x}'), small, 'max-objects-aliases', /more than 3 YAML aliases/);
    // Before, these recursed until the stack overflowed (an INTERNAL error after all that work).
    assertInvalid(one('secretArgs: &a {x: *a}'), /the YAML alias at line 3, column 22 is inside the node its anchor names/);
    assertInvalid('- &a {objectName: a, secretPath: s, secretArgs: {x: *a}}', /is inside the node its anchor names/);
    assertInvalid('- *nowhere', /has no anchor before it/);
  });

  it('counts what aliases expand to against --max-objects-tokens ("billion laughs"), without expanding them', () => {
    const lines = ['- objectName: a', '  secretPath: x', '  secretArgs:', '    l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 30; i += 1) lines.push(`    l${i}: &l${i} [*l${i - 1}, *l${i - 1}, *l${i - 1}, *l${i - 1}, *l${i - 1}, *l${i - 1}, *l${i - 1}, *l${i - 1}, *l${i - 1}, *l${i - 1}]`);
    const limits = { ...DEFAULT_INPUT_LIMITS, objectsAliases: 1000 };
    capped(lines.join('\n'), limits, 'max-objects-tokens', new RegExp(`expands, through its YAML aliases, to more than ${limits.objectsTokens} YAML nodes`));
    // A few levels stay under the cap and expand as written.
    const args = parseObjects(lines.slice(0, 6).join('\n'), limits).objects[0]!.secretArgs as Record<string, unknown[]>;
    assert.equal((args['l2']![0] as unknown[]).length, 10);
  });

  it('refuses more objects than --max-objects-per-mount, naming the count', () => {
    const list = (n: number): string => Array.from({ length: n }, (_, i) => `- {objectName: o${i}, secretPath: s}`).join('\n');
    assert.equal(parseObjects(list(4), small).objects.length, 4);
    capped(list(5), small, 'max-objects-per-mount', /lists 5 objects, more than 4 per mount/);
  });

  it('finds a repeated key in a large map by its text, as the composer did, in one pass', () => {
    const keys = Array.from({ length: 1500 }, (_, i) => `k${i}: v`);
    assertInvalid(one(`secretArgs: {${keys.join(', ')}, k750: w}`), /not valid YAML \(DUPLICATE_KEY at line 3, column \d+\)/);
    assertInvalid(one(`secretArgs: {"a": 1, a: 2}`), /DUPLICATE_KEY at line 3, column 24/);
    assert.equal(Object.keys(only(one(`secretArgs: {${keys.join(', ')}}`)).secretArgs ?? {}).length, 1500);
  });

  it('accepts every SecretProviderClass in examples/ and the docs under the default caps', () => {
    // The largest realistic list: 256 objects of five fields each, with a template.
    const big = Array.from({ length: 256 }, (_, i) => `- objectName: "dir/obj-${i}"\n  secretPath: "secret/data/team/app-${i}"\n  secretKey: "password"\n  encoding: "utf-8"\n  filePermission: 0440\n`).join('');
    assert.equal(parseObjects(big).objects.length, 256);
  });

  it('checks file/directory clashes by path components: long names of many components cost their length once', () => {
    // 32 names of ~4 KiB and ~2,000 components each: comparing every directory of every name as a string hashed
    // about 130 million characters; by components it is the length of the names.
    const deep = Array(1900).fill('d').join('/');
    const text = Array.from({ length: 30 }, (_, i) => `- {objectName: "${deep}/f${i}", secretPath: s}`).join('\n') + `\n- {objectName: "${deep}", secretPath: s}`;
    const hashed = countHashedCharacters(() => thrown(() => parseObjects(text)));
    assert.match(hashed.result.message, /objectName ".*" is also a directory of/);
    assert.ok(hashed.characters < 4 * text.length, `${hashed.characters} characters hashed for a ${text.length}-character text`);
  });
});
