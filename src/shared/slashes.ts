/** By hand: a regex reads a run of slashes again from every position of it (quadratic). */
const SLASH = 0x2f;

/** `text` without its leading and trailing `/`. */
export function trimSlashes(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === SLASH) start++;
  while (end > start && text.charCodeAt(end - 1) === SLASH) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** `text` without its trailing `/`. */
export function trimTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === SLASH) end--;
  return end === text.length ? text : text.slice(0, end);
}
