/**
 * A Vault answer's body decoded to text as it arrives, scanned (json-scan.ts) and charged to the mount's ledger
 * before it is kept: one Buffer would make three copies outside V8's heap, bounded by nothing (docs/benchmark.md#memory).
 * A declared Content-Length is charged up front, so a mount over its budget fails at the headers.
 */
import type { BodySink } from '../http/undici.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { TextDecoder } from 'node:util';
import { JsonScanner, type JsonShape } from './json-scan.js';


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
