/**
 * Renders a parsed `template` (syntax in src/config/template-syntax.ts) into one file's bytes. Pure: values come in
 * through `TemplateInputs`, bytes go out. Single pass: inserted values are never scanned for `{{`.
 *
 * Values are parsed JSON (from the secret's key map) or bytes (an input object's decoded `encoding`). A missing key
 * or an absent optional object is an error naming the reference, never the values around it.
 */
import { ProviderError, type ErrorCode } from '../errors.js';
import type { ParsedTemplate, TemplateAction, TemplateArg, TemplateRef } from '../config/template-syntax.js';
import { DEFAULT_MOUNT_LIMIT_BYTES } from '../output/file-set.js';
import { goMarshal } from './go-json.js';
import { isPlainObject } from '../shared/plain-object.js';
import { jsonKind } from '../shared/message-text.js';

/** What a reference's head stands for: a value, or why there is none (an optional object that is absent). */
export type TemplateSource =
  | { readonly present: true; readonly value: unknown }
  | { readonly present: false; readonly code: ErrorCode; readonly reason: string };

export interface TemplateInputs {
  /** The template object's own secret (its key map). Only called when the template uses `.`. */
  own(): TemplateSource;
  /** Another object's value, by objectName (references were checked to exist when the objects were parsed). */
  object(objectName: string): TemplateSource;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function where(ref: TemplateRef, action: TemplateAction): string {
  return `template reference ${ref.text} (line ${action.line}, column ${action.column})`;
}

function missing(ref: TemplateRef, action: TemplateAction, code: ErrorCode, reason: string): ProviderError {
  return new ProviderError(code, `${where(ref, action)}: ${reason}`, {});
}

function kindOf(value: unknown): string {
  return Buffer.isBuffer(value) ? 'decoded bytes' : jsonKind(value);
}

function resolve(ref: TemplateRef, action: TemplateAction, inputs: TemplateInputs): unknown {
  const source = ref.kind === 'own' ? inputs.own() : inputs.object(ref.objectName);
  const head = ref.kind === 'own' ? "the object's own secret" : `object "${ref.objectName}"`;
  if (!source.present) throw missing(ref, action, source.code, `${head} is absent (${source.reason})`);
  let current = source.value;
  let walked = head;
  for (const key of ref.path) {
    const shown = JSON.stringify(key);
    if (Array.isArray(current) && /^(?:0|[1-9][0-9]*)$/.test(key)) {
      if (Number(key) >= current.length) throw missing(ref, action, 'KEY_NOT_FOUND', `${walked} has no index ${key}`);
      current = current[Number(key)] as unknown;
    } else if (isPlainObject(current) && !Buffer.isBuffer(current)) {
      // Own members only: JSON.parse makes `__proto__` an own key, and inherited names must never resolve.
      if (!Object.hasOwn(current, key)) throw missing(ref, action, 'KEY_NOT_FOUND', `${walked} has no key ${shown}`);
      current = current[key];
    } else {
      throw missing(ref, action, 'KEY_NOT_FOUND', `${walked} is ${kindOf(current)}, which has no key ${shown}`);
    }
    walked = `${walked} → ${shown}`;
  }
  return current;
}

/** The bytes a value stands for in text: strings and bytes as they are, anything else as Go JSON. */
function bytesOf(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(goMarshal(value), 'utf8');
}

function asText(bytes: Buffer, action: TemplateAction): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ProviderError(
      'DECODE_FAILED',
      `template line ${action.line}, column ${action.column}: json needs UTF-8 text, and the value is binary (use base64)`,
      {},
    );
  }
}

function percentEncode(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && UNRESERVED.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function argValue(arg: TemplateArg, action: TemplateAction, inputs: TemplateInputs): unknown {
  return arg.kind === 'literal' ? arg.value : resolve(arg, action, inputs);
}

function renderAction(action: TemplateAction, inputs: TemplateInputs): Buffer {
  const values = action.args.map((arg) => argValue(arg, action, inputs));
  const joined = (): Buffer => Buffer.concat(values.map(bytesOf));
  switch (action.helper) {
    case undefined:
      return joined();
    case 'json': {
      // One argument keeps its JSON type (a number stays a number); several are one string.
      const only = values.length === 1 ? values[0] : undefined;
      if (values.length === 1 && !Buffer.isBuffer(only)) return Buffer.from(goMarshal(only), 'utf8');
      return Buffer.from(goMarshal(asText(joined(), action)), 'utf8');
    }
    case 'base64':
      return Buffer.from(joined().toString('base64'), 'utf8');
    case 'urlencode':
      return Buffer.from(percentEncode(joined()), 'utf8');
  }
}

/**
 * The file a template makes. Throws KEY_NOT_FOUND / SECRET_NOT_FOUND naming the reference, DECODE_FAILED for binary
 * given to `json`, and MOUNT_TOO_LARGE when the output would pass `limitBytes` (a short template repeating a large
 * value must not make a node-wide daemon build gigabytes).
 */
export function renderTemplate(
  template: ParsedTemplate,
  inputs: TemplateInputs,
  limitBytes: number = DEFAULT_MOUNT_LIMIT_BYTES,
): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (const part of template.parts) {
    const chunk = part.kind === 'text' ? Buffer.from(part.text, 'utf8') : renderAction(part, inputs);
    total += chunk.length;
    if (total > limitBytes) {
      throw new ProviderError('MOUNT_TOO_LARGE', `the rendered template is larger than ${limitBytes} bytes`, {});
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
