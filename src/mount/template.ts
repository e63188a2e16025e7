/** Renders a parsed `template` into one file's bytes, pure, in a single pass: inserted values are never scanned for `{{`. */
import { ProviderError, type ErrorCode } from '../errors.js';
import type { ParsedTemplate, TemplateAction, TemplateRef } from '../config/template-syntax.js';
import { DEFAULT_MOUNT_LIMIT_BYTES } from '../output/file-set.js';
import { goMarshal, goMarshalBytes, goStringBytes } from './go-json.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { isPlainObject } from '../shared/plain-object.js';
import { formatBytes, jsonKind } from '../shared/message-text.js';

/** What a reference's head stands for: a value, or why there is none (an optional object that is absent). */
export type TemplateSource =
  | { readonly present: true; readonly value: unknown }
  | { readonly present: false; readonly code: ErrorCode; readonly reason: string };

export interface TemplateInputs {
  own(): TemplateSource;
  object(objectName: string): TemplateSource;
}

/** Bytes urlencode keeps as they are (RFC 3986 unreserved); every other byte becomes `%XX`. */
const UNRESERVED = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[ch.charCodeAt(0)] = 1;
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

function urlBytes(byte: number): number {
  return UNRESERVED[byte] === 1 ? 1 : 3;
}

function urlStringBytes(text: string): number {
  let size = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      size += urlBytes(c);
    } else if (c < 0x800) {
      size += 6;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 12;
      i += 1;
    } else {
      // A lone surrogate becomes U+FFFD, three bytes, as Buffer.from writes it.
      size += 9;
    }
  }
  return size;
}

const HEX_DIGITS = '0123456789ABCDEF';

/** Sizes counted once per distinct value; byte copies made only when an encoding needs them, charged first. */
class RenderValues {
  readonly #marshalSizes = new WeakMap<object, number>();
  readonly #sizes = new Map<unknown, number>();
  readonly #urlSizes = new Map<unknown, number>();
  readonly #bytes = new Map<unknown, Buffer>();
  working = 0;

  constructor(readonly memory: ByteLedger | undefined) {}

  charge(bytes: number): void {
    this.memory?.charge(bytes);
    this.working += bytes;
  }

  size(value: unknown): number {
    if (Buffer.isBuffer(value)) return value.length;
    let size = this.#sizes.get(value);
    if (size === undefined) {
      size = typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : goMarshalBytes(value, this.#marshalSizes);
      this.#sizes.set(value, size);
    }
    return size;
  }

  jsonSize(value: unknown): number {
    return goMarshalBytes(value, this.#marshalSizes);
  }

  bytes(value: unknown): Buffer {
    if (Buffer.isBuffer(value)) return value;
    let bytes = this.#bytes.get(value);
    if (bytes === undefined) {
      this.charge(this.size(value));
      bytes = Buffer.from(typeof value === 'string' ? value : goMarshal(value), 'utf8');
      this.#bytes.set(value, bytes);
    }
    return bytes;
  }

  urlSize(value: unknown): number {
    let size = this.#urlSizes.get(value);
    if (size === undefined) {
      size = typeof value === 'string' ? urlStringBytes(value) : 0;
      if (typeof value !== 'string') {
        const bytes = this.bytes(value);
        for (let i = 0; i < bytes.length; i += 1) size += urlBytes(bytes[i]!);
      }
      this.#urlSizes.set(value, size);
    }
    return size;
  }
}

type Planned =
  | { readonly kind: 'text'; readonly text: string; readonly size: number }
  | { readonly kind: 'action'; readonly action: TemplateAction; readonly values: readonly unknown[]; readonly size: number; readonly text?: string };

function plan(action: TemplateAction, inputs: TemplateInputs, values: RenderValues, room: number, tooLarge: () => ProviderError): Planned {
  const resolved = action.args.map((arg) => (arg.kind === 'literal' ? arg.value : resolve(arg, action, inputs)));
  const raw = (): number => resolved.reduce<number>((sum, v) => sum + values.size(v), 0);
  switch (action.helper) {
    case undefined:
      return { kind: 'action', action, values: resolved, size: raw() };
    case 'json': {
      // One argument keeps its JSON type (a number stays a number); several are one string.
      const only = resolved.length === 1 ? resolved[0] : undefined;
      if (resolved.length === 1 && !Buffer.isBuffer(only)) return { kind: 'action', action, values: resolved, size: values.jsonSize(only) };
      // The joined text is checked as UTF-8 as a whole; escaping never shrinks it, so its size bounds the result.
      const joinedSize = raw();
      if (joinedSize + 2 > room) throw tooLarge();
      values.charge(3 * joinedSize);
      const text = asText(Buffer.concat(resolved.map((v) => values.bytes(v)), joinedSize), action);
      return { kind: 'action', action, values: resolved, size: goStringBytes(text, true), text };
    }
    case 'base64':
      return { kind: 'action', action, values: resolved, size: 4 * Math.ceil(raw() / 3) };
    case 'urlencode': {
      // Never shorter than its input: a value too large as it is is refused before it is scanned.
      if (raw() > room) throw tooLarge();
      return { kind: 'action', action, values: resolved, size: resolved.reduce<number>((sum, v) => sum + values.urlSize(v), 0) };
    }
  }
}

/** Bytes a base64 chunk encodes at most (a multiple of 3, so chunks encode independently). */
const BASE64_CHUNK = 48 * 1024;

function write(part: Planned, out: Buffer, offset: number, values: RenderValues): number {
  if (part.kind === 'text') return offset + out.write(part.text, offset, 'utf8');
  const { action } = part;
  switch (action.helper) {
    case undefined:
      for (const v of part.values) {
        offset += typeof v === 'string' ? out.write(v, offset, 'utf8') : values.bytes(v).copy(out, offset);
      }
      return offset;
    case 'json':
      // The JSON text is a string as long as the bytes it makes, until it is written.
      values.charge(part.size);
      return offset + out.write(goMarshal(part.text ?? part.values[0]), offset, 'utf8');
    case 'base64': {
      // Encoded in chunks, with at most two bytes carried from one argument to the next.
      let carry = Buffer.alloc(0);
      for (const v of part.values) {
        const bytes = values.bytes(v);
        for (let at = 0; at < bytes.length; ) {
          const take = Math.min(bytes.length - at, BASE64_CHUNK - carry.length);
          const chunk = carry.length === 0 ? bytes.subarray(at, at + take) : Buffer.concat([carry, bytes.subarray(at, at + take)]);
          at += take;
          const whole = chunk.length - (chunk.length % 3);
          offset += out.write(chunk.subarray(0, whole).toString('base64'), offset, 'latin1');
          carry = Buffer.from(chunk.subarray(whole));
        }
      }
      return offset + out.write(carry.toString('base64'), offset, 'latin1');
    }
    case 'urlencode':
      for (const v of part.values) {
        const bytes = values.bytes(v);
        for (let i = 0; i < bytes.length; i += 1) {
          const byte = bytes[i]!;
          if (urlBytes(byte) === 1) {
            out[offset++] = byte;
          } else {
            out[offset++] = 0x25;
            out[offset++] = HEX_DIGITS.charCodeAt(byte >> 4);
            out[offset++] = HEX_DIGITS.charCodeAt(byte & 15);
          }
        }
      }
      return offset;
  }
}

export interface RenderOptions {
  readonly limitBytes?: number;
  /** Charged with the file and its encodings' working copies before they are allocated; the copies given back after. */
  readonly memory?: ByteLedger;
}

/**
 * Every action's output is sized from its arguments first (urlencode triples a byte, json escapes up to six times),
 * so a short template repeating a large value is refused before anything is built (issue 19, classes 1 and 2).
 */
export function renderTemplate(template: ParsedTemplate, inputs: TemplateInputs, options: RenderOptions = {}): Buffer {
  const limitBytes = options.limitBytes ?? DEFAULT_MOUNT_LIMIT_BYTES;
  const values = new RenderValues(options.memory);
  const tooLarge = (): ProviderError =>
    new ProviderError('MOUNT_TOO_LARGE', `the rendered template would be larger than ${formatBytes(limitBytes)}, the room left for it in the mount's answer (the driver's 4 MiB message limit); nothing was built`, {});
  try {
    const parts: Planned[] = [];
    let total = 0;
    for (const part of template.parts) {
      const planned = part.kind === 'text' ? { kind: 'text' as const, text: part.text, size: Buffer.byteLength(part.text, 'utf8') } : plan(part, inputs, values, limitBytes - total, tooLarge);
      total += planned.size;
      if (total > limitBytes) throw tooLarge();
      parts.push(planned);
    }
    options.memory?.charge(total);
    const out = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const part of parts) offset = write(part, out, offset, values);
    if (offset !== total) throw new ProviderError('INTERNAL', `the rendered template took ${offset} bytes where ${total} were planned`, {});
    return out;
  } finally {
    options.memory?.release(values.working);
  }
}
