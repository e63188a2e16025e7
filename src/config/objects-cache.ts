/**
 * Memo of `parseObjects` by the objects text. A republish sends the same SecretProviderClass `objects` string
 * every minute for every volume, and parsing its YAML was the largest single cost of a republish (about a sixth
 * of the provider's CPU in `npm run bench`). The parse is pure and its result readonly, so equal text gets the
 * same result. Only successful parses are kept (a broken list is parsed, and reported, every time). Bounded in
 * entries and in bytes (the text counted twice: once as the key, once for what was parsed from it). A result is
 * handed back only under the caps it was parsed with (a text the caps now refuse is parsed, and refused, again).
 */
import { Lru } from '../shared/lru.js';
import { parseObjects, type ParsedObjects } from './objects.js';
import { DEFAULT_INPUT_LIMITS, type InputLimits } from './input-limits.js';

export interface ObjectsMemoOptions {
  readonly maxEntries?: number;
  /** By the estimate above (`--objects-cache-max-bytes`; default DEFAULT_OBJECTS_CACHE_BYTES). */
  readonly maxBytes?: number;
}

/** 8 MiB: a node's SecretProviderClasses many times over, an eighth of the image's 64 MiB old space. */
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
    this.#lru.set(text, { parsed, bytes: 2 * Buffer.byteLength(text) + 256, limits });
    return parsed;
  }
}

function sameLimits(a: InputLimits, b: InputLimits): boolean {
  return a === b || (Object.keys(a) as Array<keyof InputLimits>).every((k) => a[k] === b[k]);
}

/** The provider's one memo: shared by every mount of the process. */
export const objectsMemo = new ObjectsMemo();
