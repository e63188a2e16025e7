/** Names in messages, cut short and quoted like Go's %q; values never appear in a message, only their kind or size. */

/** `text` cut to `maxChars` characters, with `…` where it was cut. */
export function shortened(text: string, maxChars: number = 80): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}

/** `text` for a message: shortened, then JSON-quoted. */
export function quoted(text: string, maxChars: number = 80): string {
  return JSON.stringify(shortened(text, maxChars));
}

/** A byte count for a message: `512 B`, `1.5 KiB`, `4.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** What kind of parsed-JSON value `value` is, for a message that must not show the value itself. */
export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
