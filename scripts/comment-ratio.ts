/**
 * Counts code lines and comment lines of the TypeScript under src/ (src/generated/ left out), the way cloc does: a
 * line with any token is code, a line with only comment text is comment, the rest is blank. Tokens come from the
 * TypeScript parser, so `//` inside a string, a template or a regular expression is not a comment.
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

const isJsDocNode = (node: ts.Node): boolean => node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode;

/** Every leaf token of the tree, the end-of-file token included (its leading trivia holds the file's last comments). */
function leaves(node: ts.Node, file: ts.SourceFile, out: ts.Node[]): void {
  const children = node.getChildren(file).filter((child) => !isJsDocNode(child));
  if (children.length === 0) out.push(node);
  else for (const child of children) leaves(child, file, out);
}

export function scan(fileName: string, text: string): FileScan {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lineOf = (pos: number): number => file.getLineAndCharacterOfPosition(pos).line;
  const codeLines = new Set<number>();
  const commentLines = new Set<number>();
  const comments: CommentText[] = [];
  const seen = new Set<number>();
  const tokens: ts.Node[] = [];
  leaves(file, file, tokens);
  for (const token of tokens) {
    for (const range of ts.getLeadingCommentRanges(text, token.pos) ?? []) {
      if (seen.has(range.pos)) continue;
      seen.add(range.pos);
      const first = lineOf(range.pos);
      for (let line = first; line <= lineOf(range.end); line += 1) commentLines.add(line);
      comments.push({ line: first + 1, text: text.slice(range.pos, range.end) });
    }
    const start = token.getStart(file);
    if (token.end > start) for (let line = lineOf(start); line <= lineOf(token.end - 1); line += 1) codeLines.add(line);
  }
  const total = file.getLineStarts().length;
  const commentOnly = [...commentLines].filter((line) => !codeLines.has(line)).length;
  return { code: codeLines.size, comment: commentOnly, blank: total - codeLines.size - commentOnly, comments };
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

export function countSource(root = ROOT): { total: LineCount; files: Map<string, FileScan> } {
  const files = new Map<string, FileScan>();
  let code = 0;
  let comment = 0;
  let blank = 0;
  for (const path of sourceFiles(root)) {
    const result = scan(path, readFileSync(join(root, path), 'utf8'));
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
