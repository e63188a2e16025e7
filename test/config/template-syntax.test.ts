import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTemplate, TemplateSyntaxError, type TemplateAction } from '../../src/config/template-syntax.js';
import { DEFAULT_INPUT_LIMITS } from '../../src/config/input-limits.js';

function actions(source: string): TemplateAction[] {
  return parseTemplate(source).parts.filter((p): p is TemplateAction => p.kind === 'action');
}

function syntaxError(source: string, mention: RegExp): void {
  assert.throws(() => parseTemplate(source), (err: unknown) => {
    assert.ok(err instanceof TemplateSyntaxError, String(err));
    assert.match(err.message, mention);
    return true;
  });
}

describe('config/template-syntax', () => {
  it('splits text and actions, with own and object references and their paths', () => {
    const t = parseTemplate('USER={{ .username }}\nPASS={{ @db.password }}\n');
    assert.deepEqual(
      t.parts.map((p) => (p.kind === 'text' ? p.text : p.args.map((a) => (a.kind === 'literal' ? a.value : a.text)).join(' '))),
      ['USER=', '.username', '\nPASS=', '@db.password', '\n'],
    );
    assert.deepEqual(t.objectRefs, ['db']);
    assert.equal(t.usesOwn, true);
    const [own, other] = actions('{{ .a.b.0 }}{{ @"tls/tls.crt" }}');
    assert.deepEqual(own!.args[0], { kind: 'own', objectName: '', path: ['a', 'b', '0'], text: '.a.b.0' });
    assert.deepEqual(other!.args[0], { kind: 'object', objectName: 'tls/tls.crt', path: [], text: '@"tls/tls.crt"' });
  });

  it('quotes names and keys with dots, slashes or spaces as JSON strings', () => {
    const [a] = actions('{{ @"db.creds"."user.name"."a/b c" }}');
    assert.deepEqual(a!.args[0], { kind: 'object', objectName: 'db.creds', path: ['user.name', 'a/b c'], text: '@"db.creds"."user.name"."a/b c"' });
    const [own] = actions('{{ ."key.with.dots" }}');
    assert.deepEqual(own!.args[0], { kind: 'own', objectName: '', path: ['key.with.dots'], text: '."key.with.dots"' });
  });

  it('reads "." alone as the whole own secret, with or without spaces', () => {
    for (const source of ['{{ . }}', '{{.}}', '{{ json . }}']) {
      const [a] = actions(source);
      assert.deepEqual(a!.args[0], { kind: 'own', objectName: '', path: [], text: '.' }, source);
    }
  });

  it('takes a helper first and any number of arguments, literals included', () => {
    const [a] = actions('{{ base64 @reg.username ":" @reg.password }}');
    assert.equal(a!.helper, 'base64');
    assert.deepEqual(a!.args.map((x) => x.kind), ['object', 'literal', 'object']);
    assert.deepEqual(actions('{{json .a}}')[0]!.helper, 'json');
    assert.deepEqual(actions('{{ urlencode .a }}')[0]!.helper, 'urlencode');
    assert.equal(actions('{{ .a ":" .b }}')[0]!.helper, undefined);
  });

  it('opens an action at the last two of three or more braces, and closes at the first "}}"', () => {
    const t = parseTemplate('{"a":{{{ json .a }}}}');
    assert.deepEqual(t.parts[0], { kind: 'text', text: '{"a":{' });
    assert.equal(t.parts[1]!.kind, 'action');
    assert.deepEqual(t.parts[2], { kind: 'text', text: '}}' });
  });

  it('keeps "}}" inside a quoted literal, and writes "{{" through a literal', () => {
    const [a] = actions('{{ "}}" }}');
    assert.deepEqual(a!.args[0], { kind: 'literal', value: '}}' });
    const [b] = actions('{{ "{{" }}');
    assert.deepEqual(b!.args[0], { kind: 'literal', value: '{{' });
  });

  it('leaves text without actions alone, stray "}}" included', () => {
    assert.deepEqual(parseTemplate('a }} b').parts, [{ kind: 'text', text: 'a }} b' }]);
    assert.deepEqual(parseTemplate('plain').objectRefs, []);
    assert.equal(parseTemplate('plain').usesOwn, false);
  });

  it('records the line and column of each action', () => {
    const [, second] = actions('{{ .a }}\n  x {{ .b }}');
    assert.equal(second!.line, 2);
    assert.equal(second!.column, 5);
  });

  const bad: ReadonlyArray<readonly [string, string, RegExp]> = [
    ['an unclosed action', 'a {{ .b', /line 1, column 3: .*not closed/],
    ['an empty action', 'x {{ }}', /empty action/],
    ['a helper without arguments', '{{ json }}', /helper json needs an argument/],
    ['an unknown helper', '{{ upper .a }}', /unknown helper "upper"/],
    ['a bare word', '{{ .a b }}', /unexpected word "b"/],
    ['a missing key after a dot', '{{ .a. }}', /expected a key after "\."/],
    ['a missing name after @', '{{ @ }}', /expected an objectName after "@"/],
    ['an unclosed literal', '{{ "abc }}', /quoted string is not closed/],
    ['a bad escape in a literal', '{{ "\\q" }}', /not a valid JSON string/],
    ['arguments without a space', '{{ .a"b" }}', /expected a space or "}}"/],
    ['a pipe (no logic)', '{{ .a | json }}', /expected a reference/],
    ['a function call (no logic)', '{{ (json .a) }}', /expected a reference/],
    ['a position on a later line, at the word', 'ok\nok {{ nope }}', /line 2, column 7/],
  ];
  for (const [name, source, mention] of bad) {
    it(`refuses ${name}`, () => syntaxError(source, mention));
  }

  it('never throws anything but TemplateSyntaxError, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('{', '}', '.', '@', '"', ' ', 'a', '\\', 'json', '\n', '/') , maxLength: 40 }), (source) => {
        try {
          parseTemplate(source);
        } catch (err: unknown) {
          assert.ok(err instanceof TemplateSyntaxError, `${JSON.stringify(source)}: ${String(err)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips text without "{{" as a single text part', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }).filter((s) => !s.includes('{{')), (text) => {
        const parts = parseTemplate(text).parts;
        assert.deepEqual(parts, text === '' ? [] : [{ kind: 'text', text }]);
      }),
    );
  });

  describe('caps and linear time (issue 19, classes 1-3)', () => {
    const limits = { ...DEFAULT_INPUT_LIMITS, templateActions: 5, templateArguments: 3 };

    it('refuses more actions than --max-template-actions at the first one too many', () => {
      assert.equal(parseTemplate('{{ .a }}'.repeat(5), limits).parts.length, 5);
      assert.throws(() => parseTemplate('{{ .a }}\n'.repeat(6), limits), /^TemplateSyntaxError: template line 6, column 1: more than 5 actions \(--max-template-actions=5\)$/);
    });

    it('refuses more arguments than --max-template-arguments in one action, helper not counted', () => {
      assert.equal(actions('{{ base64 @a ":" @b }}')[0]!.args.length, 3);
      assert.equal(parseTemplate('{{ base64 @a ":" @b }}', limits).parts.length, 1);
      // Thousands of arguments over one readable value: the reproduction of classes 1 and 2.
      for (const source of [`{{ urlencode ${'@a '.repeat(3000)}}}`, `x\n  {{ ${'@a '.repeat(3000)}}}`]) {
        assert.throws(() => parseTemplate(source), /column \d+: the action has more than 32 arguments \(--max-template-arguments=32\)$/);
      }
      assert.throws(() => parseTemplate('{{ @a @b @c @d }}', limits), /line 1, column 1: the action has more than 3 arguments/);
    });

    it('keeps each referenced object once, in order of first use', () => {
      assert.deepEqual(parseTemplate('{{ @b }}{{ @a @b }}{{ @a.x @c }}').objectRefs, ['b', 'a', 'c']);
    });

    it('gives every action its line and column in one pass, and still places an error before the last action read', () => {
      const lines = Array.from({ length: 300 }, (_, i) => `${' '.repeat(i % 7)}k${i}={{ .k${i} }}`);
      const found = actions(lines.join('\n'));
      assert.equal(found.length, 300);
      found.forEach((a, i) => assert.deepEqual([a.line, a.column], [i + 1, (i % 7) + `k${i}=`.length + 1]));
      // The unclosed action is reported where it opened, after the scanner read to the end.
      syntaxError(`${lines.join('\n')}\nlast {{ .x`, /template line 301, column 6: an action opened here is not closed/);
    });

    it('parses 50,000 actions over 8,000 lines in time linear in the text', function () {
      // Recounting lines from the start for each action took minutes here (issue 19, class 3: 128 KiB took 3.5 s);
      // the guard is the test's timeout, far above the linear parse.
      this.timeout(10_000);
      const source = Array.from({ length: 8_000 }, (_, i) => `line ${i}: ${'{{ @a.b }}'.repeat(6)}`).join('\n') + '{{ .x }}'.repeat(2000);
      const big = { ...DEFAULT_INPUT_LIMITS, templateActions: 100_000 };
      const parsed = parseTemplate(source, big);
      const last = parsed.parts.filter((p): p is TemplateAction => p.kind === 'action').at(-1)!;
      assert.deepEqual([last.line, last.column], [8_000, source.length - 8 - source.lastIndexOf('\n')]);
      assert.deepEqual(parsed.objectRefs, ['a']);
    });
  });
});
