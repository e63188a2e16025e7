/**
 * A proxy or plugin in front of Vault may echo a login's credentials at any status (issue 19, class 11). `remove`
 * replaces whole occurrences (as sent or JSON-escaped) before the text is cut, so no cut leaves half of one; `traces`
 * finds TRACE_CHARS of one in a row in the text as quoted (re-spaced, other spellings), and then nothing is quoted.
 * Linear (a rolling hash). Values under MIN_CHARS are left alone: guessed faster than read. Never log it.
 */

/** Credentials shorter than this are not searched for. */
export const MIN_CHARS = 4;
/** A run of this many characters of a credential (or all of a shorter one) in quoted text withholds the text. */
export const TRACE_CHARS = 8;

export const REDACTED = '[redacted]';

/** PEM armour (`-----BEGIN EC PRIVATE KEY-----`) is in every PEM text, so it marks nothing as a credential's. */
const PEM_ARMOUR = /-----[A-Z0-9 ]{1,64}-----/g;
const WHITESPACE = /\s+/g;

const BASE = 0x01000193;

/** BASE ** (length - 1), in 32 bits: what the character leaving a window of `length` weighed. */
function leadWeight(length: number): number {
  let weight = 1;
  for (let i = 1; i < length; i++) weight = Math.imul(weight, BASE);
  return weight;
}

function hashOf(text: string, start: number, length: number): number {
  let h = 0;
  for (let i = start; i < start + length; i++) h = (Math.imul(h, BASE) + text.charCodeAt(i)) | 0;
  return h;
}

/** The windows of one length: their hashes for the rolling search, their text to confirm a hit. */
interface Windows {
  readonly length: number;
  readonly lead: number;
  readonly hashes: Set<number>;
  readonly texts: Set<string>;
}

interface Prepared {
  /** Exact spellings to remove, longest first (a credential inside another is removed after it). */
  readonly spellings: readonly string[];
  /** By window length: TRACE_CHARS, or a shorter credential's whole length. */
  readonly windows: readonly Windows[];
}

/** Every login gets one; only a failed one uses it, so the spellings and windows are built on first use. */
export class CredentialRedactor {
  readonly #values: readonly string[];
  #prepared: Prepared | undefined;

  constructor(values: readonly string[]) {
    this.#values = values;
  }

  #prepare(): Prepared {
    if (this.#prepared !== undefined) return this.#prepared;
    const spellings = new Set<string>();
    const byLength = new Map<number, Windows>();
    for (const value of this.#values) {
      if (value.length < MIN_CHARS) continue;
      spellings.add(value);
      spellings.add(JSON.stringify(value).slice(1, -1));
      const bare = value.replace(PEM_ARMOUR, '').replace(WHITESPACE, '');
      if (bare.length < MIN_CHARS) continue;
      const length = Math.min(TRACE_CHARS, bare.length);
      let windows = byLength.get(length);
      if (windows === undefined) {
        windows = { length, lead: leadWeight(length), hashes: new Set(), texts: new Set() };
        byLength.set(length, windows);
      }
      for (let i = 0; i + length <= bare.length; i++) {
        windows.hashes.add(hashOf(bare, i, length));
        windows.texts.add(bare.slice(i, i + length));
      }
    }
    this.#prepared = { spellings: [...spellings].sort((a, b) => b.length - a.length), windows: [...byLength.values()] };
    return this.#prepared;
  }

  /** Nothing to look for. */
  get empty(): boolean {
    return this.#values.every((v) => v.length < MIN_CHARS);
  }

  /** `text` with every whole credential, as sent or JSON-escaped, replaced by `[redacted]`. */
  remove(text: string): string {
    let out = text;
    for (const spelling of this.#prepare().spellings) if (out.includes(spelling)) out = out.split(spelling).join(REDACTED);
    return out;
  }

  /** Whether `text` holds TRACE_CHARS characters in a row of a credential (or a whole shorter one), whitespace ignored. */
  traces(text: string): boolean {
    const windows = this.#prepare().windows;
    if (windows.length === 0) return false;
    const bare = text.replace(WHITESPACE, '');
    for (const w of windows) {
      if (bare.length < w.length) continue;
      let h = hashOf(bare, 0, w.length);
      for (let i = 0; ; i++) {
        if (w.hashes.has(h) && w.texts.has(bare.slice(i, i + w.length))) return true;
        if (i + w.length >= bare.length) break;
        h = (Math.imul(h - Math.imul(bare.charCodeAt(i), w.lead), BASE) + bare.charCodeAt(i + w.length)) | 0;
      }
    }
    return false;
  }
}
