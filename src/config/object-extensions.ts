/**
 * Our own per-object keys (docs/secretproviderclass.md), validated with a message naming the object, including
 * every combination without a sensible meaning, and the references between objects once the list is known. Pure.
 */
import { ProviderError } from '../errors.js';
import { JsonPointerSyntaxError, parseJsonPointer } from '../shared/json-pointer.js';
import { parseTemplate, TemplateSyntaxError, type ParsedTemplate } from './template-syntax.js';
import { parseSecretNamespace, SecretNamespaceError } from './secret-namespace.js';
import { CredentialScopes, ExpandModes, type Encoding, type ExpandMode, type ObjectConfig, type ObjectExtensions } from './types.js';
import { quoted } from '../shared/message-text.js';
import { capText, DEFAULT_INPUT_LIMITS, type InputLimits } from './input-limits.js';

export const EXTENSION_KEYS = ['optional', 'jsonPointer', 'template', 'expand', 'inputOnly', 'credentialScope', 'secretNamespace'] as const;
export type ExtensionKey = (typeof EXTENSION_KEYS)[number];

/** A YAML value of one of our keys, as objects.ts resolved it (strings keep yaml.v3's source text). */
export type ExtensionValue =
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'other'; readonly description: string };

/** What the reference's keys of the same object said, for the combination rules. */
export interface BaseObjectFields {
  readonly objectName: string;
  readonly secretPath: string;
  readonly secretKey: string;
  readonly encoding: Encoding;
  readonly filePermission: number | undefined;
  /** `method` or `secretArgs` was written (they need a secret of the object's own). */
  readonly requestOptions: boolean;
}

function invalid(message: string, objectName: string): ProviderError {
  return new ProviderError('INVALID_CONFIG', message, { parameter: 'objects', objectName });
}

function boolean(value: ExtensionValue | undefined, key: ExtensionKey, where: string, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value.kind !== 'bool') {
    const what = value.kind === 'string' ? 'a string' : value.description;
    throw invalid(`${where}: ${key} must be true or false (unquoted), not ${what}`, name);
  }
  return value.value;
}

function string(value: ExtensionValue | undefined, key: ExtensionKey, where: string, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.kind === 'other') throw invalid(`${where}: ${key} must be a string, not ${value.description}`, name);
  if (value.kind === 'bool') throw invalid(`${where}: ${key} must be a string, not a boolean`, name);
  return value.text;
}

/** Validate our keys of one object; `where` is `objects[i] ("name")`. */
export function parseObjectExtensions(
  raw: Readonly<Partial<Record<ExtensionKey, ExtensionValue>>>,
  base: BaseObjectFields,
  where: string,
  limits: InputLimits = DEFAULT_INPUT_LIMITS,
): ObjectExtensions {
  const name = base.objectName;
  const optional = boolean(raw.optional, 'optional', where, name);
  const inputOnly = boolean(raw.inputOnly, 'inputOnly', where, name);

  const jsonPointer = string(raw.jsonPointer, 'jsonPointer', where, name);
  if (jsonPointer !== undefined) {
    try {
      parseJsonPointer(jsonPointer);
    } catch (err: unknown) {
      if (!(err instanceof JsonPointerSyntaxError)) throw err;
      throw invalid(`${where}: jsonPointer ${quoted(jsonPointer)} ${err.message}`, name);
    }
    if (base.secretKey !== '') {
      throw invalid(`${where}: set secretKey or jsonPointer, not both (secretKey is a literal key; jsonPointer a path such as "/nested/key")`, name);
    }
  }

  const rawExpand = string(raw.expand, 'expand', where, name);
  let expand: ExpandMode | undefined;
  if (rawExpand !== undefined) {
    if (!(ExpandModes as readonly string[]).includes(rawExpand)) {
      throw invalid(`${where}: expand ${quoted(rawExpand)} is not one of ${ExpandModes.join(', ')}`, name);
    }
    expand = rawExpand as ExpandMode;
    const clash = base.secretKey !== '' ? 'secretKey' : jsonPointer !== undefined ? 'jsonPointer' : inputOnly === true ? 'inputOnly' : undefined;
    if (clash !== undefined) throw invalid(`${where}: expand writes every key of the secret; it cannot be combined with ${clash}`, name);
    if (expand === 'pki' && base.encoding !== 'utf-8') {
      throw invalid(`${where}: expand "pki" reads PEM text; encoding does not apply`, name);
    }
  }

  const source = string(raw.template, 'template', where, name);
  let template: ParsedTemplate | undefined;
  if (source !== undefined) {
    if (source === '') throw invalid(`${where}: template is empty`, name);
    const bytes = source.length > limits.templateBytes ? source.length : Buffer.byteLength(source, 'utf8');
    if (bytes > limits.templateBytes) {
      throw invalid(`${where}: template is longer than ${limits.templateBytes} bytes (${capText(limits, 'templateBytes')})`, name);
    }
    try {
      template = parseTemplate(source, limits);
    } catch (err: unknown) {
      if (!(err instanceof TemplateSyntaxError)) throw err;
      throw invalid(`${where}: ${err.message}`, name);
    }
    const clash =
      base.secretKey !== '' ? 'secretKey'
      : jsonPointer !== undefined ? 'jsonPointer'
      : expand !== undefined ? 'expand'
      : inputOnly === true ? 'inputOnly (templates cannot feed other templates)'
      : base.encoding !== 'utf-8' ? 'encoding'
      : undefined;
    if (clash !== undefined) {
      throw invalid(`${where}: a template object renders its file from references; it cannot be combined with ${clash}`, name);
    }
    if (base.secretPath === '') {
      if (template.usesOwn) {
        throw invalid(`${where}: the template refers to the object's own secret (".key") but the object has no secretPath; add one, or refer to other objects with "@name.key"`, name);
      }
      if (base.requestOptions) throw invalid(`${where}: method and secretArgs need a secretPath`, name);
    }
  }

  const rawScope = string(raw.credentialScope, 'credentialScope', where, name);
  if (rawScope !== undefined && !(CredentialScopes as readonly string[]).includes(rawScope)) {
    throw invalid(`${where}: credentialScope ${quoted(rawScope)} is not one of ${CredentialScopes.join(', ')}`, name);
  }
  if (rawScope !== undefined && base.secretPath === '') {
    throw invalid(`${where}: credentialScope says who shares the object's own credential; the object has no secretPath`, name);
  }
  // `pod` is the default: only `workload` is kept, so an object that says `pod` is the object that says nothing.
  const credentialScope = rawScope === 'workload' ? ('workload' as const) : undefined;

  const rawNamespace = string(raw.secretNamespace, 'secretNamespace', where, name);
  let secretNamespace: string | undefined;
  if (rawNamespace !== undefined) {
    if (base.secretPath === '') {
      throw invalid(`${where}: secretNamespace says where the object's own secret is read; the object has no secretPath`, name);
    }
    try {
      secretNamespace = parseSecretNamespace(rawNamespace);
    } catch (err: unknown) {
      if (!(err instanceof SecretNamespaceError)) throw err;
      throw invalid(`${where}: secretNamespace ${err.message}`, name);
    }
  }

  if (inputOnly === true && base.filePermission !== undefined) {
    throw invalid(`${where}: an inputOnly object writes no file, so filePermission does not apply`, name);
  }

  return {
    ...(optional === true ? { optional } : {}),
    ...(jsonPointer === undefined ? {} : { jsonPointer }),
    ...(template === undefined ? {} : { template }),
    ...(expand === undefined ? {} : { expand }),
    ...(inputOnly === true ? { inputOnly } : {}),
    ...(credentialScope === undefined ? {} : { credentialScope }),
    ...(secretNamespace === undefined ? {} : { secretNamespace }),
  };
}

/** A template's `@name` must name a non-template object (no chains, so no cycles); an inputOnly object must be used. */
export function checkObjectReferences(objects: readonly ObjectConfig[]): void {
  const byName = new Map(objects.map((o) => [o.objectName, o]));
  const used = new Set<string>();
  for (const obj of objects) {
    for (const ref of obj.template?.objectRefs ?? []) {
      const target = byName.get(ref);
      const where = `object ${quoted(obj.objectName)}: template reference @${quoted(ref)}`;
      if (target === undefined) throw invalid(`${where} names no object of this SecretProviderClass`, obj.objectName);
      if (target === obj) throw invalid(`${where} is the object itself; refer to its own secret with ".key"`, obj.objectName);
      if (target.template !== undefined) throw invalid(`${where} is another template; templates read secrets, not other templates`, obj.objectName);
      used.add(ref);
    }
  }
  const unused = objects.find((o) => o.inputOnly === true && !used.has(o.objectName));
  if (unused !== undefined) {
    throw invalid(`object ${quoted(unused.objectName)} is inputOnly but no template refers to it (@${quoted(unused.objectName)})`, unused.objectName);
  }
}
