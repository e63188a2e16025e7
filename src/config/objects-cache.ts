/**
 * Memo of `parseObjects` by its text: a republish sends the same text every minute per volume, and the parse was
 * a sixth of its CPU (docs/benchmark.md). Successes only, bounded in bytes (the text twice, for the key and what the
 * parsed strings may keep of it, and the parsed form as V8 holds it), and only under the caps parsed with.
 */
import { heapBytes } from '../shared/heap-size.js';
import { Lru } from '../shared/lru.js';
import { parseObjects, type ParsedObjects } from './objects.js';
import { DEFAULT_INPUT_LIMITS, type InputLimits } from './input-limits.js';

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
