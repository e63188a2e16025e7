/**
 * Names in error messages. A message reaches the pod's events and the logs, so a name in it is cut short (an object
 * name may be 4 KiB, a path longer) and quoted the way Go's %q would show it, so blanks and control characters show.
 * Only names go through here: values can be secrets and never appear in a message at all.
 */

/** `text` cut to `maxChars` characters, with `…` where it was cut. */
export function shortened(text: string, maxChars: number = 80): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}

/** `text` for a message: shortened, then JSON-quoted. */
export function quoted(text: string, maxChars: number = 80): string {
  return JSON.stringify(shortened(text, maxChars));
}
