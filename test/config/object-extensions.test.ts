/** Our own per-object keys (optional, jsonPointer, template, expand, inputOnly, credentialScope): parsing and every refusal. */
import assert from 'node:assert/strict';
import { ProviderError } from '../../src/errors.js';
import { parseObjects } from '../../src/config/objects.js';
import { parseMountRequest } from '../../src/config/mount-request.js';
import { DEFAULT_INPUT_LIMITS } from '../../src/config/input-limits.js';

function parse(yaml: string) {
  return parseObjects(yaml).objects;
}

function refused(yaml: string, mention: RegExp, objectName?: string): void {
  assert.throws(() => parseObjects(yaml), (err: unknown) => {
    assert.ok(err instanceof ProviderError, String(err));
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.equal(err.context.parameter, 'objects');
    if (objectName !== undefined) assert.equal(err.context.objectName, objectName);
    assert.match(err.message, mention);
    return true;
  });
}

const A = '- objectName: a\n  secretPath: secret/data/a\n';

describe('config/object-extensions', () => {
  it('leaves objects that use none of our keys exactly as before (no extra fields)', () => {
    const [obj] = parse(`${A}  secretKey: k\n`);
    for (const key of ['optional', 'jsonPointer', 'template', 'expand', 'inputOnly', 'credentialScope', 'secretNamespace']) assert.ok(!(key in obj!), key);
  });

  describe('optional', () => {
    it('takes an unquoted boolean', () => {
      assert.equal(parse(`${A}  optional: true\n`)[0]!.optional, true);
      assert.ok(!('optional' in parse(`${A}  optional: false\n`)[0]!));
      assert.ok(!('optional' in parse(`${A}  optional:\n`)[0]!));
    });
    it('refuses a quoted or other value', () => {
      refused(`${A}  optional: "true"\n`, /optional must be true or false \(unquoted\), not a string/, 'a');
      refused(`${A}  optional: yes\n`, /optional must be true or false/, 'a');
      refused(`${A}  optional: [true]\n`, /optional must be true or false .*YAML list/, 'a');
    });
  });

  describe('credentialScope', () => {
    it('takes workload, and pod (the default) as no key at all', () => {
      assert.equal(parse(`${A}  credentialScope: workload\n`)[0]!.credentialScope, 'workload');
      assert.ok(!('credentialScope' in parse(`${A}  credentialScope: pod\n`)[0]!));
      assert.ok(!('credentialScope' in parse(`${A}  credentialScope:\n`)[0]!));
    });
    it('refuses another value, a non-string, and an object without a secret of its own', () => {
      refused(`${A}  credentialScope: replica\n`, /credentialScope "replica" is not one of pod, workload/, 'a');
      refused(`${A}  credentialScope: Workload\n`, /credentialScope "Workload" is not one of/, 'a');
      refused(`${A}  credentialScope: true\n`, /credentialScope must be a string, not a boolean/, 'a');
      refused(`${A}  credentialScope: [workload]\n`, /credentialScope must be a string/, 'a');
      refused(`${A}- objectName: t\n  template: "{{ @a.k }}"\n  credentialScope: workload\n`, /no secretPath/, 't');
    });
  });

  describe('jsonPointer', () => {
    it('keeps the pointer as written, "" (the whole key map) included', () => {
      assert.equal(parse(`${A}  jsonPointer: /nested/a~1b/0\n`)[0]!.jsonPointer, '/nested/a~1b/0');
      assert.equal(parse(`${A}  jsonPointer: ""\n`)[0]!.jsonPointer, '');
      assert.ok(!('jsonPointer' in parse(`${A}  jsonPointer:\n`)[0]!));
    });
    it('refuses bad syntax and secretKey alongside', () => {
      refused(`${A}  jsonPointer: nested/a\n`, /jsonPointer "nested\/a" must be empty or start with "\/"/, 'a');
      refused(`${A}  jsonPointer: /a~2\n`, /"~" that is not followed by 0 or 1/, 'a');
      refused(`${A}  jsonPointer: /a\n  secretKey: a\n`, /set secretKey or jsonPointer, not both/, 'a');
      refused(`${A}  jsonPointer: {a: 1}\n`, /jsonPointer must be a string, not a YAML map/, 'a');
    });
  });

  describe('expand', () => {
    it('takes keys or pki', () => {
      assert.equal(parse(`${A}  expand: keys\n`)[0]!.expand, 'keys');
      assert.equal(parse(`${A}  expand: pki\n  method: PUT\n`)[0]!.expand, 'pki');
      assert.equal(parse(`${A}  expand: keys\n  encoding: base64\n`)[0]!.encoding, 'base64');
    });
    it('refuses other modes and combinations without a meaning', () => {
      refused(`${A}  expand: all\n`, /expand "all" is not one of keys, pki/, 'a');
      refused(`${A}  expand: keys\n  secretKey: k\n`, /cannot be combined with secretKey/, 'a');
      refused(`${A}  expand: keys\n  jsonPointer: /k\n`, /cannot be combined with jsonPointer/, 'a');
      refused(`${A}  expand: pki\n  encoding: hex\n`, /expand "pki" reads PEM text/, 'a');
      refused(`${A}  expand: true\n`, /expand must be a string, not a boolean/, 'a');
    });
    it('lets an expanded object be the directory of another object, but not a plain file', () => {
      assert.equal(parse(`- objectName: tls\n  secretPath: pki/issue/web\n  expand: pki\n- objectName: tls/extra.pem\n  secretPath: secret/data/x\n`).length, 2);
      refused(`- objectName: tls\n  secretPath: s\n- objectName: tls/extra.pem\n  secretPath: s\n`, /also a directory/);
    });
  });

  describe('template', () => {
    it('parses the template and may have no secretPath when it only reads other objects', () => {
      const objs = parse(`${A}  inputOnly: true\n- objectName: .env\n  template: |\n    A={{ @a.k }}\n`);
      const env = objs[1]!;
      assert.equal(env.secretPath, '');
      assert.equal(env.requestPath, '');
      assert.equal(env.template?.source, 'A={{ @a.k }}\n');
      assert.deepEqual(env.template?.objectRefs, ['a']);
      assert.equal(objs[0]!.inputOnly, true);
    });
    it('refuses syntax errors with a line and column, naming the object', () => {
      refused(`- objectName: t\n  secretPath: s\n  template: "x\\n{{ nope }}"\n`, /objects\[0\] \("t"\): template line 2, column 4: unknown helper "nope"/, 't');
      refused(`- objectName: t\n  secretPath: s\n  template: ""\n`, /template is empty/, 't');
    });
    it('refuses combinations without a meaning', () => {
      const t = '- objectName: t\n  secretPath: s\n  template: "{{ .k }}"\n';
      refused(`${t}  secretKey: k\n`, /cannot be combined with secretKey/, 't');
      refused(`${t}  jsonPointer: /k\n`, /cannot be combined with jsonPointer/, 't');
      refused(`${t}  expand: keys\n`, /cannot be combined with expand/, 't');
      refused(`${t}  encoding: base64\n`, /cannot be combined with encoding/, 't');
      refused(`${t}  inputOnly: true\n`, /cannot be combined with inputOnly/, 't');
      refused(`- objectName: t\n  template: "{{ .k }}"\n`, /own secret \("\.key"\) but the object has no secretPath/, 't');
      refused(`${A}- objectName: t\n  template: "{{ @a.k }}"\n  method: PUT\n`, /method and secretArgs need a secretPath/, 't');
    });
    it('refuses references to unknown objects, to itself and to other templates', () => {
      refused(`- objectName: t\n  template: "{{ @nope.k }}"\n`, /template reference @"nope" names no object/, 't');
      refused(`- objectName: t\n  secretPath: s\n  template: "{{ @t.k }}"\n`, /is the object itself/, 't');
      refused(`${A}- objectName: t1\n  template: "{{ @a.k }}"\n- objectName: t2\n  template: "{{ @t1.k }}"\n`, /is another template/, 't2');
    });
  });

  describe('inputOnly', () => {
    it('must be used by a template and writes no file, so no filePermission', () => {
      refused(`${A}  inputOnly: true\n`, /object "a" is inputOnly but no template refers to it/, 'a');
      refused(`${A}  inputOnly: true\n  filePermission: 0600\n- objectName: t\n  template: "{{ @a }}"\n`, /filePermission does not apply/, 'a');
    });
    it('is no file, so it does not clash with a file below its name', () => {
      const objs = parse(`${A}  inputOnly: true\n- objectName: a/t\n  template: "{{ @a.k }}"\n`);
      assert.equal(objs.length, 2);
    });
  });

  it('no longer reports our keys as ignored; keys with another case still are', () => {
    const attributes = JSON.stringify({
      roleName: 'r',
      objects: `${A}  optional: true\n  Optional: true\n`,
    });
    const config = parseMountRequest({ attributes, secrets: 'null', targetPath: '/t', permission: '420' });
    assert.deepEqual(config.ignoredParameters, ['objects[0].Optional']);
  });

  it('refuses a template over --max-template-bytes before parsing it, naming the object', () => {
    const limits = { ...DEFAULT_INPUT_LIMITS, templateBytes: 64 };
    const text = (template: string): string => `- objectName: t\n  template: ${JSON.stringify(template)}\n  secretPath: s\n`;
    assert.equal(parseObjects(text(`${'x'.repeat(54)}{{ .a }}`), limits).objects.length, 1);
    // An unclosed action past the cap is never reached: the size is checked first (UTF-8 bytes, not characters).
    for (const template of [`${'x'.repeat(60)}{{ .a }}{{`, `${'é'.repeat(30)}{{ .a }}`]) {
      assert.throws(() => parseObjects(text(template), limits), (err: unknown) => {
        assert.ok(err instanceof ProviderError && err.code === 'INVALID_CONFIG', String(err));
        assert.equal(err.context.objectName, 't');
        assert.equal(err.message, 'objects[0] ("t"): template is longer than 64 bytes (--max-template-bytes=64)');
        return true;
      });
    }
  });

  it('refuses a template of thousands of arguments, naming the object and --max-template-arguments (issue 19, classes 1 and 2)', () => {
    refused(`${A}  template: "{{ urlencode ${'@b '.repeat(3000)}}}"\n- objectName: b\n  secretPath: s\n  secretKey: k\n  inputOnly: true\n`, /^objects\[0\] \("a"\): template line 1, column 1: the action has more than 32 arguments \(--max-template-arguments=32\)$/, 'a');
  });
});
