/**
 * A pass over a JSON body's bytes as they arrive: its depth and an estimate of its parsed form, known before the
 * parse, since V8 aborts the process when a parse outgrows the heap. Allocates nothing. The estimate errs high
 * (measured against V8: docs/benchmark.md#memory).
 */
import { isAscii } from 'node:buffer';

/** Heap bytes charged per JSON value or property: a V8 object, array or heap number and the slot that holds it. */
export const PER_VALUE_BYTES = 64;

export interface JsonShape {
  /** Deepest nesting of objects and arrays (0 for a bare scalar). */
  readonly depth: number;
  /** Upper estimate of the parsed value's heap size, in bytes. */
  readonly parsedBytes: number;
  /** Bytes at or above 0x80 occur: the decoded text and its strings may be two bytes per character. */
  readonly wide: boolean;
  /** What the parse, the validation and every later walk cost in proportion to. */
  readonly values: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

export class JsonScanner {
  #depth = 0;
  #maxDepth = 0;
  /** Strings, containers and separators seen; the top-level value itself counts one. */
  #values = 1;
  #stringBytes = 0;
  #wideStringBytes = 0;
  #wide = false;
  #inString = false;
  /** Inside a string, the previous byte was an escaping backslash (possibly in the previous chunk). */
  #escaped = false;

  /** Scans the next bytes of the body. */
  push(chunk: Buffer): void {
    // Native checks and searches where they can do the work: a Vault response is mostly string contents, which
    // the loop below jumps over with indexOf instead of visiting byte by byte. Each search's answer is kept until
    // the scan passes it, so no stretch of the chunk is searched twice (strings full of escapes stay linear).
    const wide = !isAscii(chunk);
    if (wide) this.#wide = true;
    let nextQuote = -2;
    let nextBackslash = -2;
    const next = (byte: number, known: number, from: number): number => (known !== -2 && (known === -1 || known >= from) ? known : chunk.indexOf(byte, from));
    let i = 0;
    while (i < chunk.length) {
      if (this.#inString) {
        if (this.#escaped) {
          // The byte after a backslash is escaped, whatever it is (it may open the next chunk).
          this.#escaped = false;
          this.#countString(1, wide);
          i++;
          continue;
        }
        nextQuote = next(QUOTE, nextQuote, i);
        nextBackslash = next(BACKSLASH, nextBackslash, i);
        if (nextBackslash !== -1 && (nextQuote === -1 || nextBackslash < nextQuote)) {
          this.#countString(nextBackslash + 1 - i, wide);
          this.#escaped = true;
          i = nextBackslash + 1;
          continue;
        }
        if (nextQuote === -1) {
          this.#countString(chunk.length - i, wide);
          return;
        }
        this.#countString(nextQuote - i, wide);
        this.#inString = false;
        i = nextQuote + 1;
        continue;
      }
      switch (chunk[i]) {
        case QUOTE:
          // Every string (a key or a value) is a heap object of its own besides its characters.
          this.#values++;
          this.#inString = true;
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          this.#values++;
          this.#depth++;
          if (this.#depth > this.#maxDepth) this.#maxDepth = this.#depth;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          if (this.#depth > 0) this.#depth--;
          break;
        case COMMA:
          this.#values++;
          break;
      }
      i++;
    }
  }

  get shape(): JsonShape {
    return {
      depth: this.#maxDepth,
      parsedBytes: this.#stringBytes + 2 * this.#wideStringBytes + this.#values * PER_VALUE_BYTES,
      wide: this.#wide,
      values: this.#values,
    };
  }

  #countString(bytes: number, wide: boolean): void {
    if (wide) this.#wideStringBytes += bytes;
    else this.#stringBytes += bytes;
  }
}

/** The shape of a whole body at once. */
export function scanJson(body: Buffer): JsonShape {
  const scanner = new JsonScanner();
  scanner.push(body);
  return scanner.shape;
}
