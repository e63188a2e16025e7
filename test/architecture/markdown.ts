/** Reading Markdown the way GitHub renders it, for the tests that hold the docs to the code. */

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Lines outside fenced code blocks. */
function unfenced(page: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of page.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced) out.push(line);
  }
  return out;
}

/** Heading texts outside fenced code blocks. */
export function headings(page: string): string[] {
  return unfenced(page)
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => line.replace(/^#+ /, ''));
}

/** Markdown link targets outside fenced code blocks: `[text](target)`. */
export function links(page: string): string[] {
  return unfenced(page).flatMap((line) => [...line.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!));
}

/** The rows of the first Markdown table after the line `heading`, as trimmed cells; undefined without the heading. */
export function table(page: string, heading: string): string[][] | undefined {
  const at = page.indexOf(`\n${heading}\n`);
  if (at === -1) return undefined;
  const lines = page.slice(at).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}
