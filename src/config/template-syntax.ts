/**
 * The `template` object key (ours; vault-csi-provider#91), syntax in docs/secretproviderclass.md: logic-less, parsed
 * at the config stage so a mistake fails before anything is read. It can only copy values it names into one file;
 * values are never read as template text. A run of three or more `{` opens at its last two (`{"a":{{ json .a }}}`).
 */

import { capText, DEFAULT_INPUT_LIMITS, type InputLimits } from './input-limits.js';

export const TemplateHelpers = ['json', 'base64', 'urlencode'] as const;
export type TemplateHelper = (typeof TemplateHelpers)[number];

export interface TemplateRef {
  readonly kind: 'own' | 'object';
  /** The objectName for `@` references; '' for the object's own secret. */
  readonly objectName: string;
  /** Keys (or list indexes) below the object's value. */
  readonly path: readonly string[];
  /** The reference as written, for messages (names and keys only: never a value). */
  readonly text: string;
}

export type TemplateArg = { readonly kind: 'literal'; readonly value: string } | TemplateRef;

export interface TemplateAction {
  readonly kind: 'action';
  readonly helper: TemplateHelper | undefined;
  readonly args: readonly TemplateArg[];
  /** 1-based position of the `{{`, for messages. */
  readonly line: number;
  readonly column: number;
}

export type TemplatePart = { readonly kind: 'text'; readonly text: string } | TemplateAction;

export interface ParsedTemplate {
  /** As written in the SecretProviderClass (part of the object's canonical config, so of its version). */
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  /** Distinct objectNames referenced with `@`, in order of first use. */
  readonly objectRefs: readonly string[];
  /** True when the template refers to the object's own secret (`.`). */
  readonly usesOwn: boolean;
}

/** A syntax problem; the config stage turns it into INVALID_CONFIG naming the object. */
export class TemplateSyntaxError extends Error {
  override readonly name = 'TemplateSyntaxError';
}

const IDENT = /[A-Za-z0-9_-]/;
const SPACE = /[ \t\r\n]/;
const HELPER_SET: ReadonlySet<string> = new Set(TemplateHelpers);

/** Each position found from the last one, so the template is read once however many actions it has. */
class Positions {
  #offset = 0;
  #line = 1;
  #lineStart = 0;

  constructor(readonly source: string) {}

  at(offset: number): { line: number; column: number } {
    if (offset < this.#offset) {
      this.#offset = 0;
      this.#line = 1;
      this.#lineStart = 0;
    }
    for (let nl = this.source.indexOf('\n', this.#offset); nl !== -1 && nl < offset; nl = this.source.indexOf('\n', nl + 1)) {
      this.#line += 1;
      this.#lineStart = nl + 1;
    }
    this.#offset = offset;
    return { line: this.#line, column: offset - this.#lineStart + 1 };
  }
}

class ActionScanner {
  pos: number;

  constructor(
    readonly source: string,
    start: number,
    readonly positions: Positions,
    readonly limits: InputLimits,
  ) {
    this.pos = start;
  }

  fail(message: string, at = this.pos): never {
    const { line, column } = this.positions.at(at);
    throw new TemplateSyntaxError(`template line ${line}, column ${column}: ${message}`);
  }

  peek(offset = 0): string | undefined {
    return this.source[this.pos + offset];
  }

  skipSpace(): void {
    while (this.pos < this.source.length && SPACE.test(this.source[this.pos]!)) this.pos += 1;
  }

  atClose(): boolean {
    return this.peek() === '}' && this.peek(1) === '}';
  }

  /** A JSON string literal starting at the current `"`. */
  string(): string {
    const start = this.pos;
    this.pos += 1;
    while (this.pos < this.source.length) {
      const ch = this.source[this.pos]!;
      if (ch === '\\') {
        this.pos += 2;
        continue;
      }
      this.pos += 1;
      if (ch === '"') {
        try {
          return JSON.parse(this.source.slice(start, this.pos)) as string;
        } catch {
          this.fail('not a valid JSON string (escapes are JSON\'s: \\" \\\\ \\n \\u0041 …)', start);
        }
      }
    }
    return this.fail('a quoted string is not closed', start);
  }

  ident(): string {
    const start = this.pos;
    while (this.pos < this.source.length && IDENT.test(this.source[this.pos]!)) this.pos += 1;
    return this.source.slice(start, this.pos);
  }

  /** A name or key after `@` or `.`: letters, digits, `_`, `-`, or a JSON string. */
  segment(what: string): string {
    if (this.peek() === '"') return this.string();
    const name = this.ident();
    if (name === '') this.fail(`expected ${what} (letters, digits, _ and -, or a "quoted" name)`);
    return name;
  }

  /** `.key.key` after the reference's head, until whitespace or the end of the action. */
  path(): string[] {
    const path: string[] = [];
    while (this.peek() === '.') {
      this.pos += 1;
      path.push(this.segment('a key after "."'));
    }
    return path;
  }

  endOfArgument(): void {
    const ch = this.peek();
    if (ch === undefined || SPACE.test(ch) || this.atClose()) return;
    this.fail('expected a space or "}}" after an argument');
  }

  argument(): TemplateArg {
    const start = this.pos;
    const ch = this.peek();
    let arg: TemplateArg;
    if (ch === '"') {
      arg = { kind: 'literal', value: this.string() };
    } else if (ch === '@') {
      this.pos += 1;
      const objectName = this.segment('an objectName after "@"');
      const path = this.path();
      arg = { kind: 'object', objectName, path, text: this.source.slice(start, this.pos) };
    } else if (ch === '.') {
      // `.` alone is the whole own secret; `.key` starts a path.
      const next = this.peek(1);
      const path = next === '"' || (next !== undefined && IDENT.test(next)) ? this.path() : ((this.pos += 1), []);
      arg = { kind: 'own', objectName: '', path, text: this.source.slice(start, this.pos) };
    } else {
      const word = this.ident();
      if (word === '') this.fail('expected a reference (.key or @object.key) or a "quoted" string');
      this.fail(`unexpected word ${JSON.stringify(word)}: a reference starts with "." or "@", a literal is "quoted", and a helper (${TemplateHelpers.join(', ')}) comes first`, start);
    }
    this.endOfArgument();
    return arg;
  }

  /** The inside of one action opened at `open`; the scanner stands after its `{{` and ends after its `}}`. */
  action(open: number): TemplateAction {
    const { line, column } = this.positions.at(open);
    this.skipSpace();
    let helper: TemplateHelper | undefined;
    const ch = this.peek();
    if (ch !== undefined && ch !== '"' && ch !== '@' && ch !== '.' && IDENT.test(ch)) {
      const start = this.pos;
      const word = this.ident();
      if (!HELPER_SET.has(word)) {
        this.fail(`unknown helper ${JSON.stringify(word)} (helpers: ${TemplateHelpers.join(', ')}; references start with "." or "@")`, start);
      }
      helper = word as TemplateHelper;
      this.endOfArgument();
    }
    const args: TemplateArg[] = [];
    for (;;) {
      this.skipSpace();
      if (this.pos >= this.source.length) this.fail('an action opened here is not closed with "}}"', open);
      if (this.atClose()) break;
      if (args.length === this.limits.templateArguments) {
        this.fail(`the action has more than ${this.limits.templateArguments} arguments (${capText(this.limits, 'templateArguments')})`, open);
      }
      args.push(this.argument());
    }
    this.pos += 2;
    if (args.length === 0) this.fail(helper === undefined ? 'empty action' : `helper ${helper} needs an argument`, open);
    return { kind: 'action', helper, args, line, column };
  }
}

/** Linear in the template's length; counts of actions and arguments are refused as soon as they pass their caps. */
export function parseTemplate(source: string, limits: InputLimits = DEFAULT_INPUT_LIMITS): ParsedTemplate {
  const parts: TemplatePart[] = [];
  const refs = new Set<string>();
  const positions = new Positions(source);
  let actions = 0;
  let usesOwn = false;
  let text = '';
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open === -1) {
      text += source.slice(i);
      break;
    }
    // `{{{`: the extra braces before the last two are text (JSON objects opening right before an action).
    let start = open;
    while (source[start + 2] === '{') start += 1;
    text += source.slice(i, start);
    if (text !== '') parts.push({ kind: 'text', text });
    text = '';
    const scanner = new ActionScanner(source, start + 2, positions, limits);
    actions += 1;
    if (actions > limits.templateActions) scanner.fail(`more than ${limits.templateActions} actions (${capText(limits, 'templateActions')})`, start);
    const action = scanner.action(start);
    for (const arg of action.args) {
      if (arg.kind === 'own') usesOwn = true;
      if (arg.kind === 'object') refs.add(arg.objectName);
    }
    parts.push(action);
    i = scanner.pos;
  }
  if (text !== '') parts.push({ kind: 'text', text });
  // A Set keeps the order of first insertion: the names in order of first use.
  return { source, parts, objectRefs: [...refs], usesOwn };
}
