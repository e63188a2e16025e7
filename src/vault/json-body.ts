/**
 * A Vault answer's body decoded to text as it arrives, scanned (JsonScanner, below) and charged to the mount's ledger
 * before it is kept: one Buffer would make three copies outside V8's heap, bounded by nothing (docs/benchmark.md#memory).
 * A declared Content-Length is charged up front, so a mount over its budget fails at the headers.
 */
import type { BodySink } from '../http/undici.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { TextDecoder } from 'node:util';
import { isAscii } from 'node:buffer';


/** Any 2xx is an answer, as Vault's Go client takes it (a revoke with sync=false is a 202); only a 2xx must be JSON. */
export function isSuccess(statusCode: number): boolean {
  return statusCode >= 200 && statusCode <= 299;
}

export interface JsonBodyOptions {
  readonly memory: ByteLedger | undefined;
  /** Nesting past this is refused (for a 2xx) or the body dropped unparsed (for an error status). */
  readonly maxDepth: number;
  /** Thrown (for a 2xx) as soon as the body nests past maxDepth. */
  readonly tooDeep: () => Error;
  /** More JSON values than this are refused (for a 2xx) or the body dropped unparsed (for an error status). */
  readonly maxValues: number;
  /** Thrown (for a 2xx) as soon as the body holds more than maxValues values. */
  readonly tooMany: () => Error;
}

export interface ReadBody {
  /** The decoded text, '' when the body was empty or dropped for its depth. */
  readonly text: string;
  readonly shape: JsonShape;
  /** Dropped unparsed: nested past maxDepth, or more than maxValues values. */
  readonly tooDeep: boolean;
}

export class JsonBody implements BodySink {
  readonly #options: JsonBodyOptions;
  readonly #scanner = new JsonScanner();
  /** Most answers are one chunk: a decoder starts only when a second arrives. */
  #first: Buffer | undefined;
  #decoder: TextDecoder | undefined;
  #parts: string[] = [];
  #success = false;
  #received = 0;
  /** Body bytes the ledger has been told of (the declared length, or what arrived beyond it). */
  #announced = 0;
  /** What this body holds against the node's budget beyond the announced bytes. */
  #charged = 0;
  #tooDeep = false;

  constructor(options: JsonBodyOptions) {
    this.#options = options;
  }

  start(statusCode: number, declaredBytes: number | undefined): void {
    this.#success = isSuccess(statusCode);
    if (declaredBytes !== undefined) this.#announce(declaredBytes);
  }

  write(chunk: Buffer): void {
    if (this.#tooDeep) return;
    this.#scanner.push(chunk);
    const shape = this.#scanner.shape;
    const tooMany = shape.values > this.#options.maxValues;
    if (shape.depth > this.#options.maxDepth || tooMany) {
      if (this.#success) throw tooMany ? this.#options.tooMany() : this.#options.tooDeep();
      // An error answer too deep or too large to parse is still an error status: keep nothing of it.
      this.#tooDeep = true;
      this.#parts = [];
      this.#first = undefined;
      return;
    }
    this.#received += chunk.length;
    this.#announce(this.#received);
    // Beyond one byte per byte: two-byte text pieces, and the parsed form the parse will make of them.
    this.#chargeUpTo((shape.wide ? this.#received : 0) + shape.parsedBytes);
    if (this.#decoder === undefined && this.#first === undefined) {
      this.#first = chunk;
      return;
    }
    if (this.#decoder === undefined) {
      this.#decoder = new TextDecoder('utf-8');
      this.#parts.push(this.#decoder.decode(this.#first, { stream: true }));
      this.#first = undefined;
    }
    this.#parts.push(this.#decoder.decode(chunk, { stream: true }));
  }

  /** The whole text, once the body is complete. The pieces are dropped for the one joined string. */
  finish(): ReadBody {
    const shape = this.#scanner.shape;
    if (this.#tooDeep) return { text: '', shape, tooDeep: true };
    if (this.#decoder === undefined) {
      const text = this.#first === undefined ? '' : this.#first.toString('utf8');
      this.#first = undefined;
      return { text, shape, tooDeep: false };
    }
    this.#parts.push(this.#decoder.decode());
    // Joining makes a second copy of the text while the pieces still exist.
    if (this.#parts.length > 1) this.#chargeUpTo(this.#charged + this.#received * (shape.wide ? 2 : 1));
    const text = this.#parts.length === 1 ? this.#parts[0]! : this.#parts.join('');
    this.#parts = [];
    return { text, shape, tooDeep: false };
  }

  /** Keeps only the parsed form's estimate charged (nothing for an error answer, which is quoted and dropped). */
  settle(keepParsed: boolean): void {
    const keep = keepParsed && !this.#tooDeep ? Math.min(this.#charged, this.#scanner.shape.parsedBytes) : 0;
    this.#options.memory?.release(this.#announced + this.#charged - keep);
    this.#announced = 0;
    this.#charged = keep;
  }

  #announce(total: number): void {
    if (total <= this.#announced) return;
    this.#options.memory?.receive(total - this.#announced);
    this.#announced = total;
  }

  #chargeUpTo(total: number): void {
    if (total <= this.#charged) return;
    this.#options.memory?.charge(total - this.#charged);
    this.#charged = total;
  }
}

// A pass over a JSON body's bytes as they arrive: its depth and an estimate of its parsed form, known before the
// parse, since V8 aborts the process when a parse outgrows the heap. Allocates nothing. The estimate errs high
// (measured against V8: docs/benchmark.md#memory).

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
