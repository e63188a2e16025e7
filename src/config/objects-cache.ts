/**
 * Memo of `parseObjects` by the objects text. A republish sends the same SecretProviderClass `objects` string
 * every minute for every volume, and parsing its YAML was the largest single cost of a republish (about a sixth
 * of the provider's CPU in `npm run bench`). The parse is pure and its result readonly, so equal text gets the
 * same result. Only successful parses are kept (a broken list is parsed, and reported, every time). Bounded in
 * entries and in bytes (the text counted twice: once as the key, once for what was parsed from it).
 */
import { Lru } from '../shared/lru.js';
import { parseObjects, type ParsedObjects } from './objects.js';

export interface ObjectsMemoOptions {
  readonly maxEntries?: number;
  /** By the estimate above (`--objects-cache-max-bytes`; default DEFAULT_OBJECTS_CACHE_BYTES). */
  readonly maxBytes?: number;
}

/** 8 MiB: a node's SecretProviderClasses many times over, an eighth of the image's 64 MiB old space. */
export const DEFAULT_OBJECTS_CACHE_BYTES = 8 * 1024 * 1024;

type Entry = { readonly parsed: ParsedObjects; readonly bytes: number };

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

  parse(text: string): ParsedObjects {
    const hit = this.#lru.get(text);
    if (hit !== undefined) return hit.parsed;
    const parsed = parseObjects(text);
    this.#lru.set(text, { parsed, bytes: 2 * Buffer.byteLength(text) + 256 });
    return parsed;
  }
}

/** The provider's one memo: shared by every mount of the process. */
export const objectsMemo = new ObjectsMemo();
