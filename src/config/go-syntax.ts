/** The Go value syntaxes the reference exposes (strconv.ParseBool, ParseInt base 0, time.ParseDuration), parsed alike. */

const TRUE_WORDS: ReadonlySet<string> = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_WORDS: ReadonlySet<string> = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** strconv.ParseBool: exactly these twelve spellings; anything else (including '' and ' true') is undefined. */
export function parseGoBool(value: string): boolean | undefined {
  if (TRUE_WORDS.has(value)) return true;
  if (FALSE_WORDS.has(value)) return false;
  return undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

// Sign, then one of: 0x hex, 0b binary, 0o octal, a leading-zero octal (which includes "0"), or decimal.
const GO_INT = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[bB]([01]+)|0[oO]([0-7]+)|0([0-7]*)|([1-9][0-9]*))$/;

/** ParseInt(s, 0, 64), then ParseUint for values above int64 (yaml.v3's order); undefined where Go would fail. */
export function parseGoInt(s: string): bigint | undefined {
  const m = GO_INT.exec(s);
  if (m === null) return undefined;
  const [, sign, hex, bin, oct, leadingZeroOct, dec] = m;
  let magnitude: bigint;
  if (hex !== undefined) magnitude = BigInt(`0x${hex}`);
  else if (bin !== undefined) magnitude = BigInt(`0b${bin}`);
  else if (oct !== undefined) magnitude = BigInt(`0o${oct}`);
  else if (leadingZeroOct !== undefined) magnitude = leadingZeroOct === '' ? 0n : BigInt(`0o${leadingZeroOct}`);
  else magnitude = BigInt(dec ?? '0');
  if (sign === '-') {
    const v = -magnitude;
    return v >= INT64_MIN ? v : undefined;
  }
  if (sign === '+') return magnitude <= INT64_MAX ? magnitude : undefined;
  return magnitude <= UINT64_MAX ? magnitude : undefined;
}

const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
const DURATION = /^[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$/;
// Sticky: each part starts where the last ended (a search from every position re-read long digit runs: quadratic).
const DURATION_PART = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/gy;
/** time.Duration is an int64 count of nanoseconds: 2^63 and above overflow. */
const DURATION_LIMIT_NS = 2 ** 63;

/** time.ParseDuration, in milliseconds (fractional when the input is finer); undefined when Go would fail. */
export function parseGoDurationMs(s: string): number | undefined {
  if (s === '0' || s === '+0' || s === '-0') return 0;
  if (!DURATION.test(s)) return undefined;
  let ns = 0;
  const unsigned = s.startsWith('+') || s.startsWith('-') ? s.slice(1) : s;
  for (const [, num, unit] of unsigned.matchAll(DURATION_PART)) {
    ns += Number(num) * (NS_PER_UNIT[unit ?? ''] ?? Number.NaN);
  }
  if (!Number.isFinite(ns) || ns >= DURATION_LIMIT_NS) return undefined;
  return (s.startsWith('-') ? -ns : ns) / 1e6;
}
