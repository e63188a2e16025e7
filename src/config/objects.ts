/**
 * The SecretProviderClass `objects` parameter: a YAML list in a string, one entry per file. Existing manifests rely
 * on the reference's decoder (Go's yaml.v3 into typed fields), not on YAML 1.2: `filePermission: 0600` is octal, a
 * plain `123` is a string field's source text. Non-string plain scalars resolve to a `GoYamlScalar` keeping both.
 */
import { CST, Composer, Lexer, Parser, Schema, isAlias, isMap, isPair, isScalar, isSeq, type Document, type ScalarTag } from 'yaml';
import { ProviderError } from '../errors.js';
import { filePathProblem, PathTrie } from './file-paths.js';
import { capText, DEFAULT_INPUT_LIMITS, type InputLimits } from './input-limits.js';
import { Encodings, type Encoding, type ObjectConfig } from './types.js';
import { parseGoInt } from './go-syntax.js';
import { EXTENSION_KEYS, checkObjectReferences, parseObjectExtensions, type ExtensionKey, type ExtensionValue } from './object-extensions.js';
import { quoted } from '../shared/message-text.js';
import { Lru } from '../shared/lru.js';

/** A plain YAML scalar that yaml.v3 would not resolve to a string (or would, but only for string targets). */
class GoYamlScalar {
  constructor(
    readonly kind: 'int' | 'float' | 'bool' | 'str',
    readonly source: string,
    readonly int: bigint | undefined,
    readonly float: number | undefined,
    readonly bool: boolean | undefined,
  ) {}
}

const INFINITIES: Readonly<Record<string, number>> = {
  '.inf': Infinity,
  '.Inf': Infinity,
  '.INF': Infinity,
  '+.inf': Infinity,
  '+.Inf': Infinity,
  '+.INF': Infinity,
  '-.inf': -Infinity,
  '-.Inf': -Infinity,
  '-.INF': -Infinity,
  '.nan': NaN,
  '.NaN': NaN,
  '.NAN': NaN,
};
// yaml.v3's float syntax, checked after it strips every underscore.
const YAML_V3_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
// What Go's ParseFloat accepts for a scalar starting with '.', which yaml.v3 tries without stripping underscores.
const DOT_FLOAT = /^\.[0-9]+(?:[eE][-+]?[0-9]+)?$/;

/** yaml.v3's resolution of a plain scalar that starts with a digit, a sign or a dot. */
function resolveGoPlain(source: string): GoYamlScalar {
  const special = INFINITIES[source];
  if (special !== undefined) return new GoYamlScalar('float', source, undefined, special, undefined);
  if (source.startsWith('.')) {
    return DOT_FLOAT.test(source)
      ? new GoYamlScalar('float', source, undefined, Number(source), undefined)
      : new GoYamlScalar('str', source, undefined, undefined, undefined);
  }
  const plain = source.replaceAll('_', '');
  const int = parseGoInt(plain);
  if (int !== undefined) return new GoYamlScalar('int', source, int, undefined, undefined);
  if (YAML_V3_FLOAT.test(plain)) {
    const float = Number(plain);
    // Go's ParseFloat reports a range error for overflow, and yaml.v3 then keeps the scalar as a string.
    if (Number.isFinite(float)) return new GoYamlScalar('float', source, undefined, float, undefined);
  }
  return new GoYamlScalar('str', source, undefined, undefined, undefined);
}

const goBoolTag: ScalarTag = {
  tag: 'tag:yaml.org,2002:bool',
  default: true,
  // yaml.v3 knows only these spellings (YAML 1.2); `yes`/`on` stay strings.
  test: /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/,
  identify: (v) => v instanceof GoYamlScalar && v.kind === 'bool',
  resolve: (s) => new GoYamlScalar('bool', s, undefined, undefined, s.startsWith('t') || s.startsWith('T')),
};

const goNumberTag: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  // Every plain scalar yaml.v3 would try as a number; resolveGoPlain decides what it really is.
  test: /^[-+.0-9]/,
  identify: (v) => v instanceof GoYamlScalar && v.kind !== 'bool',
  resolve: resolveGoPlain,
};

/** Failsafe (map, seq, str) plus null, and our Go-flavoured bool and numbers; `%YAML 1.1` cannot switch it. */
function goYamlSchema(): Schema {
  return new Schema({ schema: 'failsafe', customTags: ['null', goBoolTag, goNumberTag], merge: true, resolveKnownTags: false });
}

// Keys the reference's struct declares, and ours; yaml.v3 matches them case-sensitively and ignores the rest.
const KNOWN_KEYS = ['objectName', 'secretPath', 'secretKey', 'method', 'secretArgs', 'encoding', 'filePermission'] as const;
type KnownKey = (typeof KNOWN_KEYS)[number];
const KNOWN_KEY_SET: ReadonlySet<string> = new Set([...KNOWN_KEYS, ...EXTENSION_KEYS]);

/** The reference passes any method through; DELETE or PATCH on every rotation poll would change Vault data. */
export const ObjectMethods = ['GET', 'POST', 'PUT', 'LIST'] as const;
const METHOD_SET: ReadonlySet<string> = new Set(ObjectMethods);

export interface ParsedObjects {
  readonly objects: readonly ObjectConfig[];
  readonly ignoredKeys: readonly string[];
}

const PARAM = 'objects';

function invalid(message: string, objectName?: string): ProviderError {
  return new ProviderError('INVALID_CONFIG', message, objectName === undefined ? { parameter: PARAM } : { parameter: PARAM, objectName });
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a YAML list';
  if (value instanceof Map) return 'a YAML map';
  if (value instanceof GoYamlScalar) return value.kind === 'bool' ? 'a boolean' : value.kind === 'str' ? 'a string' : 'a number';
  if (typeof value === 'string') return 'a string';
  return 'an unsupported YAML value';
}

function lineAndColumn(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i += 1) {
    if (text[i] === '\n') {
      line += 1;
      lineStart = i + 1;
    }
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

function capped(limits: InputLimits, cap: keyof InputLimits, what: string): ProviderError {
  return invalid(`objects ${what} (${capText(limits, cap)})`);
}

function tooDeep(limits: InputLimits, text: string, offset: number): ProviderError {
  return capped(limits, 'objectsDepth', `nests lists and maps more than ${limits.objectsDepth} levels deep at ${lineAndColumn(text, offset)}`);
}

/**
 * The CST, its tokens counted as the lexer hands them over, so the work stops at the cap. Nesting on one line (flow
 * collections, `- - -`) is bounded here; any other nesting costs a line per level, which checkStructure measures.
 */
function* cappedCst(text: string, limits: InputLimits): Generator<CST.Token> {
  const parser = new Parser();
  let tokens = 0;
  let flow = 0;
  let onLine = 0;
  for (const lexeme of new Lexer().lex(text)) {
    tokens += 1;
    if (tokens > limits.objectsTokens) throw capped(limits, 'objectsTokens', `has more than ${limits.objectsTokens} YAML tokens`);
    switch (CST.tokenType(lexeme)) {
      case 'flow-map-start':
      case 'flow-seq-start':
        flow += 1;
        if (flow > limits.objectsDepth) throw tooDeep(limits, text, parser.offset);
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
        onLine += 1;
        if (onLine > limits.objectsDepth) throw tooDeep(limits, text, parser.offset);
        break;
      case 'newline':
        onLine = 0;
        break;
      default:
        break;
    }
    yield* parser.next(lexeme);
  }
  yield* parser.end();
}

/** Nesting and aliases, bounded on the CST before the composer recurses; walked with a stack of its own. */
function checkStructure(cst: readonly CST.Token[], text: string, limits: InputLimits): void {
  const stack: Array<{ readonly token: CST.Token; readonly depth: number }> = [];
  for (const token of cst) if (token.type === 'document' && token.value !== undefined) stack.push({ token: token.value, depth: 0 });
  let aliases = 0;
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { token, depth } = top;
    if (token.type === 'alias') {
      aliases += 1;
      if (aliases > limits.objectsAliases) throw capped(limits, 'objectsAliases', `has more than ${limits.objectsAliases} YAML aliases`);
      continue;
    }
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth + 1 > limits.objectsDepth) throw tooDeep(limits, text, token.offset);
    for (const item of token.items) {
      if (item.key !== undefined && item.key !== null) stack.push({ token: item.key, depth: depth + 1 });
      if (item.value !== undefined) stack.push({ token: item.value, depth: depth + 1 });
    }
  }
}

/** An anchor while its node is being walked (an alias to it there would make the node contain itself), then its size. */
interface AnchorSize {
  nodes: number | undefined;
}

/**
 * Duplicate keys (the composer's own check is quadratic) and the alias-expanded size, which may be exponential in the
 * text ("billion laughs"). Recursive: checkStructure bounded the nesting.
 */
class DocumentCheck {
  readonly #anchors = new Map<string, AnchorSize>();

  constructor(
    readonly text: string,
    readonly limits: InputLimits,
  ) {}

  nodes(node: unknown): number {
    if (isAlias(node)) return this.#aliased(node.source, node.range?.[0] ?? 0);
    const anchor = (isScalar(node) || isMap(node) || isSeq(node)) && node.anchor !== undefined ? node.anchor : undefined;
    // Registered on entry: an alias refers to the last anchor of its name before it, as toJS resolves it.
    const entry: AnchorSize = { nodes: undefined };
    if (anchor !== undefined) this.#anchors.set(anchor, entry);
    let count = 1;
    if (isMap(node) || isSeq(node)) {
      const keys = isMap(node) ? new Set<string>() : undefined;
      for (const item of node.items) {
        if (isPair(item)) {
          if (keys !== undefined && isScalar(item.key) && item.key.source !== undefined) {
            if (keys.has(item.key.source)) throw invalid(`objects is not valid YAML (DUPLICATE_KEY at ${lineAndColumn(this.text, item.key.range?.[0] ?? 0)})`);
            keys.add(item.key.source);
          }
          count += this.nodes(item.key) + this.nodes(item.value);
        } else {
          count += this.nodes(item);
        }
        if (count > this.limits.objectsTokens) {
          throw capped(this.limits, 'objectsTokens', `expands, through its YAML aliases, to more than ${this.limits.objectsTokens} YAML nodes`);
        }
      }
    }
    entry.nodes = count;
    return count;
  }

  #aliased(name: string, offset: number): number {
    const entry = this.#anchors.get(name);
    const at = lineAndColumn(this.text, offset);
    if (entry === undefined) throw invalid(`objects cannot be expanded (the YAML alias at ${at} has no anchor before it)`);
    if (entry.nodes === undefined) throw invalid(`objects cannot be expanded (the YAML alias at ${at} is inside the node its anchor names)`);
    return entry.nodes;
  }
}

/** The YAML text to native values (maps stay Maps); each step bounded before it runs. Never quotes input. */
function loadYaml(text: string, limits: InputLimits): unknown {
  // A UTF-16 unit is at least one UTF-8 byte: the length alone refuses most oversized texts without a pass over them.
  const bytes = text.length > limits.objectsBytes ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > limits.objectsBytes) throw capped(limits, 'objectsBytes', `is longer than ${limits.objectsBytes} bytes`);
  const cst = [...cappedCst(text, limits)];
  checkStructure(cst, text, limits);
  const composer = new Composer({ schema: goYamlSchema(), uniqueKeys: false, prettyErrors: false, strict: true, version: '1.2' });
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(cst, true, text.length)) {
    if (doc !== undefined) throw invalid(`objects is not valid YAML (MULTIPLE_DOCS at ${lineAndColumn(text, next.range[0])})`);
    doc = next;
  }
  const first = doc?.errors[0];
  if (doc === undefined || first !== undefined) {
    // Messages of the YAML library may echo bits of the input (secretArgs can hold anything): code and place only.
    throw invalid(`objects is not valid YAML (${first?.code ?? 'IMPOSSIBLE'} at ${lineAndColumn(text, first?.pos[0] ?? 0)})`);
  }
  new DocumentCheck(text, limits).nodes(doc.contents);
  if (isSeq(doc.contents) && doc.contents.items.length > limits.objectsPerMount) {
    throw capped(limits, 'objectsPerMount', `lists ${doc.contents.items.length} objects, more than ${limits.objectsPerMount} per mount`);
  }
  try {
    // The library's own alias bound is relative to the document; ours (above) is exact.
    return doc.toJS({ mapAsMap: true, maxAliasCount: -1 });
  } catch (err: unknown) {
    // The library's message may name the alias; ours does not need to.
    const kind = err instanceof Error ? err.name : 'error';
    throw invalid(`objects cannot be expanded (${kind}: unresolved YAML aliases)`);
  }
}

function keyText(key: unknown, where: string, name?: string): string {
  if (typeof key === 'string') return key;
  if (key === null || key === undefined) return '';
  if (key instanceof GoYamlScalar) return key.source;
  throw invalid(`${where}: map keys must be scalars, not ${describe(key)}`, name);
}

/** A string field: yaml.v3 stores any scalar's text into a Go string, and leaves it empty for null. */
function stringField(value: unknown, field: KnownKey, where: string, name?: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (value instanceof GoYamlScalar) return value.source;
  throw invalid(`${where}: ${field} must be a string, not ${describe(value)}`, name);
}

/** A value of secretArgs as JSON will carry it; NaN and infinities are refused, as Go's JSON encoder refuses them. */
function jsonValue(value: unknown, where: string, name: string): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (value instanceof GoYamlScalar) {
    switch (value.kind) {
      case 'bool':
        return value.bool;
      case 'str':
        return value.source;
      case 'int':
        // Beyond 2^53 a JS number rounds; Vault's own JSON decoding would do the same to a float64.
        return Number(value.int);
      case 'float':
        if (value.float === undefined || !Number.isFinite(value.float)) {
          throw invalid(`${where}: secretArgs cannot hold ${value.source} (not representable in JSON)`, name);
        }
        return value.float;
    }
  }
  if (Array.isArray(value)) return value.map((v: unknown) => jsonValue(v, where, name));
  if (value instanceof Map) return jsonObject(value as Map<unknown, unknown>, where, name);
  throw invalid(`${where}: secretArgs holds ${describe(value)}`, name);
}

function jsonObject(map: Map<unknown, unknown>, where: string, name: string): Readonly<Record<string, unknown>> {
  // fromEntries defines own properties, so a `__proto__` key stays data instead of becoming a prototype.
  return Object.fromEntries([...map].map(([k, v]) => [keyText(k, where, name), jsonValue(v, where, name)]));
}

function filePermissionField(value: unknown, where: string, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const hint = 'an unquoted integer such as 0644, 0o644 or 420';
  if (!(value instanceof GoYamlScalar) || (value.kind !== 'int' && value.kind !== 'float')) {
    throw invalid(`${where}: filePermission must be ${hint}, not ${describe(value)}`, name);
  }
  let mode: bigint;
  if (value.kind === 'int' && value.int !== undefined) {
    mode = value.int;
  } else if (value.float !== undefined && Number.isInteger(value.float)) {
    // yaml.v3 also fills an integer from a float with no fraction (`420.0`).
    mode = BigInt(value.float);
  } else {
    throw invalid(`${where}: filePermission ${value.source} is not an integer; use ${hint}`, name);
  }
  if (mode < 0n || mode > 0o777n) {
    throw invalid(`${where}: filePermission ${value.source} is out of range (0 to 0777)`, name);
  }
  // The reference treats 0 as "not set" and falls back to the request's permission; so do we.
  return mode === 0n ? undefined : Number(mode);
}

/** `x`, `/x`, `v1/x` and `/v1/x` all mean `/v1/x` (the reference's ensureV1Prefix, applied before the split). */
function withV1Prefix(path: string): string {
  if (path.startsWith('/v1/')) return path;
  if (path.startsWith('v1/')) return `/${path}`;
  if (path.startsWith('/')) return `/v1${path}`;
  return `/v1/${path}`;
}

// Characters Go's net/url leaves as they are in a path; everything else goes out percent-encoded.
const PATH_SAFE = /[A-Za-z0-9\-_.~$&+,/:;=@]/;
// Characters that may stand in a query as written (RFC 3986 query, plus '%' for escapes already there).
const QUERY_SAFE = /[A-Za-z0-9\-_.~!$&'()*+,;=:@/?%]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /\p{Cs}/u;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

function percentEncode(text: string, safe: RegExp): string {
  let out = '';
  for (const ch of text) {
    if (safe.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Path percent-encoded as Go's net/url would; a query Go's url.ParseQuery rejects is refused here. */
function splitSecretPath(secretPath: string, where: string, name: string): { requestPath: string; query: string } {
  if (CONTROL.test(secretPath) || LONE_SURROGATE.test(secretPath)) {
    throw invalid(`${where}: secretPath contains control characters or invalid Unicode`, name);
  }
  const full = withV1Prefix(secretPath);
  const q = full.indexOf('?');
  const rawPath = q === -1 ? full : full.slice(0, q);
  const rawQuery = q === -1 ? '' : full.slice(q + 1);
  if (rawQuery.includes(';')) {
    throw invalid(`${where}: the query of secretPath must separate parameters with '&', not ';'`, name);
  }
  if (BAD_ESCAPE.test(rawQuery)) {
    throw invalid(`${where}: the query of secretPath has a '%' that is not followed by two hex digits`, name);
  }
  return { requestPath: percentEncode(rawPath, PATH_SAFE), query: percentEncode(rawQuery, QUERY_SAFE) };
}

function extensionValue(value: unknown): ExtensionValue | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return { kind: 'string', text: value };
  if (value instanceof GoYamlScalar) {
    return value.kind === 'bool' ? { kind: 'bool', value: value.bool === true } : { kind: 'string', text: value.source };
  }
  return { kind: 'other', description: describe(value) };
}

function caseHint(present: readonly string[], wanted: KnownKey): string {
  const near = present.find((k) => k !== wanted && k.toLowerCase() === wanted.toLowerCase());
  return near === undefined ? '' : ` (found ${JSON.stringify(near)}; keys are case-sensitive)`;
}

function parseOne(item: unknown, index: number, ignoredKeys: string[], limits: InputLimits): ObjectConfig {
  let where = `objects[${index}]`;
  if (!(item instanceof Map)) {
    throw invalid(`${where} must be a YAML map with objectName and secretPath, not ${describe(item)}`);
  }
  const fields = new Map<KnownKey | ExtensionKey, unknown>();
  const keys: string[] = [];
  for (const [rawKey, value] of item as Map<unknown, unknown>) {
    const key = keyText(rawKey, where);
    keys.push(key);
    if (KNOWN_KEY_SET.has(key)) fields.set(key as KnownKey | ExtensionKey, value);
    else ignoredKeys.push(`${where}.${key}`);
  }

  const objectName = stringField(fields.get('objectName'), 'objectName', where);
  if (objectName === '') throw invalid(`${where}: objectName is required${caseHint(keys, 'objectName')}`);
  const pathProblem = filePathProblem(objectName);
  if (pathProblem !== undefined) {
    throw invalid(`${where}: objectName ${quoted(objectName)} is not a valid file path (${pathProblem})`, objectName);
  }
  where = `${where} (${quoted(objectName)})`;

  const secretPath = stringField(fields.get('secretPath'), 'secretPath', where, objectName);
  // A template may be built from other objects alone; then the object makes no request of its own.
  const templateOnly = secretPath === '' && extensionValue(fields.get('template')) !== undefined;
  if (secretPath === '' && !templateOnly) throw invalid(`${where}: secretPath is required${caseHint(keys, 'secretPath')}`, objectName);
  const { requestPath, query } = templateOnly ? { requestPath: '', query: '' } : splitSecretPath(secretPath, where, objectName);

  const secretKey = stringField(fields.get('secretKey'), 'secretKey', where, objectName);

  const rawMethod = stringField(fields.get('method'), 'method', where, objectName);
  const method = rawMethod === '' ? 'GET' : rawMethod.toUpperCase();
  if (!METHOD_SET.has(method)) {
    throw invalid(`${where}: method ${JSON.stringify(rawMethod)} is not supported (use ${ObjectMethods.join(', ')})`, objectName);
  }
      // Vault builds a write's data from the body alone: say so where `vault-csi-provider mount` shows it.
  if (query !== '' && method !== 'GET' && method !== 'LIST') {
    ignoredKeys.push(`${where}.secretPath query (Vault reads no query string on ${method}: use secretArgs)`);
  }

  const rawArgs = fields.get('secretArgs');
  let secretArgs: Readonly<Record<string, unknown>> | undefined;
  if (rawArgs instanceof Map) secretArgs = jsonObject(rawArgs as Map<unknown, unknown>, where, objectName);
  else if (rawArgs === undefined || rawArgs === null) secretArgs = undefined;
  else throw invalid(`${where}: secretArgs must be a YAML map, not ${describe(rawArgs)}`, objectName);

  const rawEncoding = stringField(fields.get('encoding'), 'encoding', where, objectName);
  const lowered = rawEncoding === '' ? 'utf-8' : rawEncoding.toLowerCase();
  if (!(Encodings as readonly string[]).includes(lowered)) {
    throw invalid(`${where}: encoding ${JSON.stringify(rawEncoding)} is not one of ${Encodings.join(', ')}`, objectName);
  }
  const encoding = lowered as Encoding;

  const filePermission = filePermissionField(fields.get('filePermission'), where, objectName);

  const extensions = parseObjectExtensions(
    Object.fromEntries(EXTENSION_KEYS.map((k) => [k, extensionValue(fields.get(k))])),
    { objectName, secretPath, secretKey, encoding, filePermission, requestOptions: rawMethod !== '' || secretArgs !== undefined },
    where,
    limits,
  );

  return { objectName, secretPath, requestPath, query, secretKey, method, secretArgs, encoding, filePermission, ...extensions };
}

/** Names that would need to be a file and a directory at once (`a` and `a/b`); an `expand` object is a directory. */
function fileDirectoryClash(objects: readonly ObjectConfig[]): [string, string] | undefined {
  const written = objects.filter((o) => o.inputOnly !== true);
  const files = new PathTrie<true>();
  for (const o of written) if (o.expand === undefined) files.add(o.objectName, true);
  for (const { objectName: name } of written) {
    const parent = files.ancestor(name);
    if (parent !== undefined) return [parent.path, name];
  }
  return undefined;
}

/** Throws INVALID_CONFIG naming the object when known; never quotes values beyond object names and paths. */
export function parseObjects(text: string, limits: InputLimits = DEFAULT_INPUT_LIMITS): ParsedObjects {
  const loaded = loadYaml(text, limits);
  if (loaded === null || loaded === undefined) {
    throw invalid('objects is missing or empty: list at least one object to mount');
  }
  if (!Array.isArray(loaded)) {
    throw invalid(`objects must be a YAML list of objects, not ${describe(loaded)}`);
  }
  if (loaded.length === 0) throw invalid('objects is an empty list: list at least one object to mount');

  const ignoredKeys: string[] = [];
  const objects = loaded.map((item: unknown, i) => parseOne(item, i, ignoredKeys, limits));

  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const { objectName } of objects) {
    if (seen.has(objectName)) duplicates.add(objectName);
    seen.add(objectName);
  }
  if (duplicates.size > 0) {
    const list = [...duplicates].map((name) => quoted(name)).join(', ');
    throw invalid(`each objectName must be unique; duplicated: ${list}`, [...duplicates][0]);
  }
  const clash = fileDirectoryClash(objects);
  if (clash !== undefined) {
    const [parent, child] = clash;
    throw invalid(`objectName ${quoted(parent)} is also a directory of ${quoted(child)}; one path cannot be both`, parent);
  }
  checkObjectReferences(objects);
  return { objects, ignoredKeys };
}

// Memo of `parseObjects` by its text: a republish sends the same text every minute per volume, and the parse was
// a sixth of its CPU (docs/benchmark.md). Successes only, bounded in bytes (the text twice, for the key and what the
// parsed strings may keep of it, and the parsed form as V8 holds it), and only under the caps parsed with.

export interface ObjectsMemoOptions {
  readonly maxEntries?: number;
  /** Bytes as counted above (`--objects-cache-max-bytes`; default DEFAULT_OBJECTS_CACHE_BYTES). */
  readonly maxBytes?: number;
}

/** 8 MiB: a node's SecretProviderClasses many times over (its share of the old space: docs/benchmark.md, "Memory"). */
export const DEFAULT_OBJECTS_CACHE_BYTES = 8 * 1024 * 1024;

type Entry = { readonly parsed: ParsedObjects; readonly bytes: number; readonly limits: InputLimits };

function lruFor(options: ObjectsMemoOptions): Lru<Entry> {
  return new Lru<Entry>({
    maxEntries: options.maxEntries ?? 512,
    maxBytes: options.maxBytes ?? DEFAULT_OBJECTS_CACHE_BYTES,
    sizeOf: (entry) => entry.bytes,
  });
}

export class ObjectsMemo {
  #lru: Lru<Entry>;

  constructor(options: ObjectsMemoOptions = {}) {
    this.#lru = lruFor(options);
  }

  /** New bounds, from the daemon's flags; what was kept is dropped. */
  configure(options: ObjectsMemoOptions): void {
    this.#lru = lruFor(options);
  }

  get bytes(): number {
    return this.#lru.bytes;
  }

  get size(): number {
    return this.#lru.size;
  }

  parse(text: string, limits: InputLimits = DEFAULT_INPUT_LIMITS): ParsedObjects {
    const hit = this.#lru.get(text);
    if (hit !== undefined && sameLimits(hit.limits, limits)) return hit.parsed;
    const parsed = parseObjects(text, limits);
    this.#lru.set(text, { parsed, bytes: 2 * heapBytes(text) + heapBytes(parsed), limits });
    return parsed;
  }
}

function sameLimits(a: InputLimits, b: InputLimits): boolean {
  return a === b || (Object.keys(a) as Array<keyof InputLimits>).every((k) => a[k] === b[k]);
}

/** The provider's one memo: shared by every mount of the process. */
export const objectsMemo = new ObjectsMemo();

/** An object or array: its header, its map's share and its backing store's slack. */
const PER_CONTAINER_BYTES = 96;
/** A property or element: its slot, its key's share and a boxed number or boolean at worst. */
const PER_SLOT_BYTES = 48;
const STRING_HEADER_BYTES = 24;

/**
 * An upper estimate of what plain data holds in V8's heap (objects, arrays, Maps, Sets, strings, numbers): measured
 * against V8 by test/config/objects.heap.test.ts, it errs high. Linear; a value reached twice (a YAML alias) counts twice.
 */
export function heapBytes(root: unknown): number {
  let total = 0;
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      total += STRING_HEADER_BYTES + value.length * (isOneByte(value) ? 1 : 2);
    } else if (value instanceof Map || value instanceof Set) {
      total += PER_CONTAINER_BYTES + value.size * 2 * PER_SLOT_BYTES;
      for (const item of value as Iterable<unknown>) pending.push(item);
    } else if (Array.isArray(value)) {
      total += PER_CONTAINER_BYTES + value.length * PER_SLOT_BYTES;
      for (const item of value as unknown[]) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      total += PER_CONTAINER_BYTES + entries.length * PER_SLOT_BYTES;
      for (const [key, item] of entries) pending.push(key, item);
    } else {
      total += PER_SLOT_BYTES;
    }
  }
  return total;
}

/** A code unit V8 cannot store in one byte. */
const BEYOND_LATIN1 = /[\u0100-\uffff]/;

/** V8 stores a string of code units up to 0xFF one byte each; the regex engine scans natively, a JS loop did not. */
function isOneByte(text: string): boolean {
  return !BEYOND_LATIN1.test(text);
}
