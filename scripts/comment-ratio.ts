/**
 * Counts code lines and comment lines of the TypeScript under src/ (src/generated/ left out), the way cloc does: a
 * line with any token is code, a line with only comment text is comment, the rest is blank. Comments are found by
 * the TypeScript parser, so `//` inside a string, a template or a regular expression is not a comment.
 *
 *   npx tsx scripts/comment-ratio.ts [--files]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface LineCount {
  readonly code: number;
  readonly comment: number;
  readonly blank: number;
}

/** A comment's text and the 1-based line it starts on. */
export interface CommentText {
  readonly line: number;
  readonly text: string;
}

export interface FileScan extends LineCount {
  readonly comments: readonly CommentText[];
}

/**
 * Every comment of the file: the trivia before and after each node and node list (a comment in empty brackets), which
 * together cover every gap between two tokens. The parser decides what is a string, a template or a regex.
 */
function commentRanges(file: ts.SourceFile): ts.CommentRange[] {
  const text = file.text;
  const byStart = new Map<number, ts.CommentRange>();
  const at = (pos: number): void => {
    // Leading ranges start after the first line break; trailing ones are those before it.
    for (const range of [...(ts.getTrailingCommentRanges(text, pos) ?? []), ...(ts.getLeadingCommentRanges(text, pos) ?? [])]) {
      byStart.set(range.pos, range);
    }
  };
  const visit = (node: ts.Node): void => {
    at(node.pos);
    at(node.end);
    ts.forEachChild(node, visit, (nodes) => {
      at(nodes.pos);
      at(nodes.end);
      nodes.forEach(visit);
    });
  };
  at(0);
  visit(file);
  return [...byStart.values()].sort((x, y) => x.pos - y.pos);
}

export function scan(fileName: string, text: string): FileScan {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const lineOf = (pos: number): number => file.getLineAndCharacterOfPosition(pos).line;
  const ranges = commentRanges(file);
  const commentLines = new Set<number>();
  const comments: CommentText[] = [];
  let blanked = '';
  let from = 0;
  for (const range of ranges) {
    const first = lineOf(range.pos);
    for (let line = first; line <= lineOf(range.end); line += 1) commentLines.add(line);
    comments.push({ line: first + 1, text: text.slice(range.pos, range.end) });
    blanked += text.slice(from, range.pos) + text.slice(range.pos, range.end).replace(/[^\n]/g, ' ');
    from = range.end;
  }
  blanked += text.slice(from);
  const lines = blanked.split('\n');
  let code = 0;
  let comment = 0;
  lines.forEach((line, index) => {
    if (line.trim() !== '') code += 1;
    else if (commentLines.has(index)) comment += 1;
  });
  return { code, comment, blank: lines.length - code - comment, comments };
}

/** The .ts files under `dir`, as paths relative to `root`, sorted; `skip` holds directory paths relative to `root`. */
export function tsFiles(root: string, dir: string, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      const rel = relative(root, path);
      if (entry.isDirectory()) {
        if (!skip.includes(rel)) walk(path);
      } else if (entry.name.endsWith('.ts')) out.push(rel);
    }
  };
  walk(join(root, dir));
  return out.sort();
}

export const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** The files the ratio is taken over: src/ without the generated gRPC types. */
export const sourceFiles = (root = ROOT): string[] => tsFiles(root, 'src', ['src/generated']);

const scanned = new Map<string, { readonly text: string; readonly scan: FileScan }>();

/** `scan` of a file under `root`, kept while its text is the same: the tests that read src/ share one parse. */
export function scanFile(root: string, path: string): FileScan {
  const full = join(root, path);
  const text = readFileSync(full, 'utf8');
  const kept = scanned.get(full);
  if (kept?.text === text) return kept.scan;
  const result = scan(path, text);
  scanned.set(full, { text, scan: result });
  return result;
}

export function countSource(root = ROOT): { total: LineCount; files: Map<string, FileScan> } {
  const files = new Map<string, FileScan>();
  let code = 0;
  let comment = 0;
  let blank = 0;
  for (const path of sourceFiles(root)) {
    const result = scanFile(root, path);
    files.set(path, result);
    code += result.code;
    comment += result.comment;
    blank += result.blank;
  }
  return { total: { code, comment, blank }, files };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { total, files } = countSource();
  if (process.argv.includes('--files')) {
    const rows = [...files].sort((a, b) => b[1].comment - a[1].comment);
    for (const [path, c] of rows) console.log(`${String(c.code).padStart(6)} ${String(c.comment).padStart(6)} ${(c.comment / Math.max(c.code, 1)).toFixed(2)}  ${path}`);
  }
  console.log(`src/ (without src/generated/): ${files.size} files, ${total.code} code, ${total.comment} comment, ${total.blank} blank lines; ${(total.comment / total.code).toFixed(3)} comment lines per code line`);
}
