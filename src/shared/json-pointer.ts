/** RFC 6901 pointers for `jsonPointer`: unambiguous with keys holding dots or slashes, unlike a dotted path. Pure. */
import { jsonKind } from './message-text.js';

export class JsonPointerSyntaxError extends Error {
  override readonly name = 'JsonPointerSyntaxError';
}

/** The reference tokens of a pointer, unescaped (`~1` → `/`, then `~0` → `~`, in that order as the RFC says). */
export function parseJsonPointer(pointer: string): readonly string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw new JsonPointerSyntaxError('must be empty or start with "/" (RFC 6901), such as "/nested/key"');
  }
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) {
        throw new JsonPointerSyntaxError('has a "~" that is not followed by 0 or 1 (write ~0 for "~" and ~1 for "/")');
      }
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** A token back in pointer form, for messages. */
export function escapeJsonPointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export type PointerResult =
  | { readonly found: true; readonly value: unknown }
  | {
      readonly found: false;
      /** The pointer prefix that resolved, e.g. `/nested` when `/nested/b` is missing. */
      readonly resolved: string;
      /** Why the next token did not resolve; names keys and indexes, never values. */
      readonly reason: string;
    };

// RFC 6901: array indexes are 0 or digits without a leading zero; "-" names the element after the last one.
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** Walk `tokens` from `root` (parsed JSON). Only own members count, so `__proto__` or `constructor` never resolve. */
export function evaluateJsonPointer(root: unknown, tokens: readonly string[]): PointerResult {
  let current = root;
  let resolved = '';
  for (const token of tokens) {
    const shown = JSON.stringify(token);
    const at = resolved === '' ? 'the top level' : `"${resolved}"`;
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) {
        return { found: false, resolved, reason: `${shown} is not an index of the list at ${at}` };
      }
      const index = Number(token);
      if (index >= current.length) {
        return { found: false, resolved, reason: `the list at ${at} has ${current.length} elements, no index ${token}` };
      }
      current = current[index] as unknown;
    } else if (typeof current === 'object' && current !== null) {
      if (!Object.hasOwn(current, token)) {
        return { found: false, resolved, reason: `no key ${shown} in the object at ${at}` };
      }
      current = (current as Record<string, unknown>)[token];
    } else {
      return { found: false, resolved, reason: `the value at ${at} is ${jsonKind(current)}, not an object or a list` };
    }
    resolved += `/${escapeJsonPointerToken(token)}`;
  }
  return { found: true, value: current };
}
