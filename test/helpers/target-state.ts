/**
 * What a --write-files target directory holds, judged the way a pod would see it: nothing yet, or one complete set
 * of files from a single generation. Tests write secrets whose every key carries the generation (`gen-3`), so a
 * directory mixing two writes, or holding only part of one, is told apart from a complete old or new set.
 */
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export type TargetState = { readonly kind: 'empty' } | { readonly kind: 'complete'; readonly generation: string } | { readonly kind: 'broken'; readonly why: string };

/**
 * `names` are the files every complete set has; each holds `<something>-<generation>` or `X=<generation>`, and all
 * must name the same generation. Leftovers of an interrupted write (a `..<timestamp>` directory `..data` does not
 * point to) are allowed: a pod never sees them, and the next write removes them.
 */
export async function targetState(target: string, names: readonly string[]): Promise<TargetState> {
  const entries = await readdir(target);
  const visible = entries.filter((e) => !e.startsWith('..'));
  if (!entries.includes('..data')) {
    return visible.length === 0 ? { kind: 'empty' } : { kind: 'broken', why: `visible entries without ..data: ${visible.join(', ')}` };
  }
  if (!(await lstat(join(target, '..data'))).isSymbolicLink()) return { kind: 'broken', why: '..data is not a symlink' };
  const version = await readlink(join(target, '..data'));
  if (!entries.includes(version)) return { kind: 'broken', why: `..data points to missing ${version}` };
  const generations = new Set<string>();
  for (const name of names) {
    let text: string;
    try {
      text = await readFile(join(target, name), 'utf8');
    } catch (err: unknown) {
      return { kind: 'broken', why: `${name} unreadable: ${(err as { code?: string }).code ?? 'error'}` };
    }
    const generation = /[-=](\d+)$/.exec(text)?.[1];
    if (generation === undefined) return { kind: 'broken', why: `${name} holds ${JSON.stringify(text.slice(0, 40))}` };
    generations.add(generation);
  }
  if (generations.size !== 1) return { kind: 'broken', why: `mixed generations ${[...generations].join(', ')}` };
  const extra = visible.filter((v) => !names.some((n) => n.split('/')[0] === v));
  if (extra.length > 0) return { kind: 'broken', why: `unexpected entries ${extra.join(', ')}` };
  return { kind: 'complete', generation: [...generations][0]! };
}
