/**
 * No regular expression in src/ can backtrack super-linearly (issue 19): every regex literal, and every
 * `new RegExp(…)` / `RegExp(…)` whose source is a literal, is found by parsing src/**\/*.ts with the TypeScript
 * compiler and checked with recheck (npm `recheck`, which decides by automata theory where it can and by fuzzing
 * where it cannot). A pattern it calls vulnerable, or one it cannot decide, fails the test with its file and line.
 *
 * A `RegExp` built from a non-literal source cannot be checked here, so it fails too: build the text another way.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { check, type Diagnostics } from 'recheck';
import ts from 'typescript';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

export interface FoundRegex {
  /** Path relative to the repository root. */
  readonly file: string;
  readonly line: number;
  /** The pattern's source, or undefined when it is not a literal. */
  readonly source: string | undefined;
  readonly flags: string;
}

const literalText = (node: ts.Expression | undefined): string | undefined =>
  node !== undefined && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;

/** Every regex in one file's text: literals, and RegExp constructions with their source when it is a literal. */
export function regexesIn(file: string, text: string): FoundRegex[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: FoundRegex[] = [];
  const lineOf = (node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const literal = (node as ts.RegularExpressionLiteral).text;
      const close = literal.lastIndexOf('/');
      found.push({ file, line: lineOf(node), source: literal.slice(1, close), flags: literal.slice(close + 1) });
    } else if ((ts.isNewExpression(node) || ts.isCallExpression(node)) && ts.isIdentifier(node.expression) && node.expression.text === 'RegExp') {
      const args = node.arguments ?? [];
      found.push({ file, line: lineOf(node), source: literalText(args[0]), flags: literalText(args[1]) ?? '' });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function sourceRegexes(): FoundRegex[] {
  const dir = join(ROOT, 'src');
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .flatMap((entry) => {
      const full = join(entry.parentPath, entry.name);
      return regexesIn(relative(ROOT, full).split(sep).join('/'), readFileSync(full, 'utf8'));
    });
}

/** What is wrong with one regex, or undefined when recheck calls it safe. */
async function verdict(regex: FoundRegex): Promise<string | undefined> {
  if (regex.source === undefined) return 'a RegExp built from a non-literal source cannot be checked';
  const result: Diagnostics = await check(regex.source, regex.flags, { timeout: 10_000 });
  switch (result.status) {
    case 'safe':
      return undefined;
    case 'vulnerable':
      return `can backtrack ${result.complexity.type === 'exponential' ? 'exponentially' : `polynomially (degree ${result.complexity.degree})`}; attack: ${JSON.stringify(result.attack.pattern)}`;
    case 'unknown':
      return `recheck could not decide (${result.error.kind})`;
  }
}

describe('architecture: no regex in src/ can backtrack super-linearly', function () {
  // recheck's native agent answers most patterns in milliseconds; the first call starts it.
  this.timeout(120_000);

  it('finds every regex literal and RegExp construction, with its line', () => {
    const text = [
      "const A = /a+b/g;",
      "const B = new RegExp('^x$', 'i');",
      "const C = RegExp(`y`);",
      "const D = new RegExp(name);",
      "const s = '/not a regex/'; // /nor this/",
    ].join('\n');
    assert.deepEqual(regexesIn('src/x.ts', text), [
      { file: 'src/x.ts', line: 1, source: 'a+b', flags: 'g' },
      { file: 'src/x.ts', line: 2, source: '^x$', flags: 'i' },
      { file: 'src/x.ts', line: 3, source: 'y', flags: '' },
      { file: 'src/x.ts', line: 4, source: undefined, flags: '' },
    ]);
  });

  it('names a vulnerable pattern', async () => {
    const problem = await verdict({ file: 'src/x.ts', line: 1, source: '^(a|a)*$', flags: '' });
    assert.match(problem ?? '', /exponentially/);
    assert.match((await verdict({ file: 'src/x.ts', line: 1, source: '\\/+$', flags: '' })) ?? '', /polynomially/);
    assert.equal(await verdict({ file: 'src/x.ts', line: 1, source: '^[a-z]+$', flags: '' }), undefined);
  });

  it('finds none in src/', async () => {
    const regexes = sourceRegexes();
    assert.ok(regexes.length > 30, `found only ${regexes.length} regexes under src/`);
    const problems: string[] = [];
    for (const regex of regexes) {
      const problem = await verdict(regex);
      if (problem !== undefined) problems.push(`${regex.file}:${regex.line} /${regex.source ?? '?'}/${regex.flags}: ${problem}`);
    }
    assert.deepEqual(problems, [], `regexes that can backtrack super-linearly:\n${problems.join('\n')}`);
  });
});
