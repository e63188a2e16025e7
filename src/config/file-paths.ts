/** The driver's file path rules, checked here so that the pod's events name the object at fault. */

/** Longest path the driver accepts, in bytes. */
export const MAX_PATH_BYTES = 4096;
/** Longest single path component the driver accepts, in bytes. */
export const MAX_COMPONENT_BYTES = 255;

// With the `u` flag, \p{Cs} only matches surrogates that are not part of a pair.
const LONE_SURROGATE = /\p{Cs}/u;

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Dotfiles (`.env`, `a/.b`) and nested paths (`tls/tls.crt`) are fine. */
export function filePathProblem(path: string): string | undefined {
  if (path === '') return 'must not be empty';
  // The kernel would cut the name at a NUL; the driver never sees one from a sane config.
  if (path.includes('\0')) return 'must not contain a NUL byte';
  // A lone UTF-16 surrogate cannot be encoded as UTF-8: the name on disk would not be the name asked for.
  if (LONE_SURROGATE.test(path)) return 'must be valid Unicode';
  if (path.startsWith('/')) return 'must be a relative path';
  if (utf8Length(path) > MAX_PATH_BYTES) return `must be at most ${MAX_PATH_BYTES} bytes long`;

  const components = path.split('/');
  for (const component of components) {
    if (component === '..') return "must not contain a '..' element";
    if (utf8Length(component) > MAX_COMPONENT_BYTES) {
      return `each path component must be at most ${MAX_COMPONENT_BYTES} bytes long`;
    }
  }
  // `..data` and `..<timestamp>` are the atomic writer's own names in the target directory.
  if (components[0]?.startsWith('..') === true) return "must not start with '..'";
  // For a relative path without '..', "equals its cleaned form" means: no empty and no '.' components
  // (that rules out `./x`, `a/./b`, `a//b`, a trailing `/`, and `.` itself).
  for (const component of components) {
    if (component === '' || component === '.') {
      return "must be in clean form (no './' elements, no '//', no trailing '/')";
    }
  }
  return undefined;
}

/** One slice per `/`: linear in the path. */
export function parentDirectories(path: string): string[] {
  const parents: string[] = [];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) parents.push(path.slice(0, i));
  return parents;
}

/** `a/b` without its last component (`a`); '' for a path of one component. */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? '' : path.slice(0, i);
}

/** For paths sharing directories (`expand: keys`): each distinct directory checked once, same answers. */
export function filePathChecker(): (path: string) => string | undefined {
  const directories = new Map<string, string | undefined>();
  return (path) => {
    const dir = parentOf(path);
    if (dir !== '') {
      let problem = directories.get(dir);
      if (problem === undefined && !directories.has(dir)) {
        problem = filePathProblem(dir);
        directories.set(dir, problem);
      }
      const leaf = path.slice(dir.length + 1);
      const plainLeaf = leaf !== '' && leaf !== '.' && leaf !== '..' && !leaf.includes('\0') && !LONE_SURROGATE.test(leaf) && utf8Length(leaf) <= MAX_COMPONENT_BYTES;
      if (problem === undefined && plainLeaf && utf8Length(dir) + 1 + utf8Length(leaf) <= MAX_PATH_BYTES) return undefined;
    }
    return filePathProblem(path);
  };
}

interface TrieNode<T> {
  readonly children: Map<string, TrieNode<T>>;
  value: T | undefined;
}

/** "Is a directory of this path a file?" in the path's length once, not its square (as string sets cost). */
export class PathTrie<T> {
  readonly #root: TrieNode<T> = { children: new Map(), value: undefined };
  readonly #dirs = new Map<string, TrieNode<T>>();
  readonly #ancestors = new Map<string, { readonly path: string; readonly value: T } | undefined>();

  /** Marks `path` with `value` (the first value stays when a path is added twice). */
  add(path: string, value: T): void {
    const dir = parentOf(path);
    const node = this.#child(this.#directory(dir), dir === '' ? path : path.slice(dir.length + 1));
    node.value ??= value;
  }

  /** Ask once every path is added (answers are kept by directory). */
  ancestor(path: string): { readonly path: string; readonly value: T } | undefined {
    const dir = parentOf(path);
    if (dir === '') return undefined;
    if (this.#ancestors.has(dir)) return this.#ancestors.get(dir);
    let found: { readonly path: string; readonly value: T } | undefined;
    let node: TrieNode<T> | undefined = this.#root;
    for (let start = 0; node !== undefined && found === undefined; ) {
      const end = dir.indexOf('/', start);
      node = node.children.get(end === -1 ? dir.slice(start) : dir.slice(start, end));
      if (node?.value !== undefined) found = { path: end === -1 ? dir : dir.slice(0, end), value: node.value };
      if (end === -1) break;
      start = end + 1;
    }
    this.#ancestors.set(dir, found);
    return found;
  }

  #child(node: TrieNode<T>, component: string): TrieNode<T> {
    let next = node.children.get(component);
    if (next === undefined) {
      next = { children: new Map(), value: undefined };
      node.children.set(component, next);
    }
    return next;
  }

  #directory(dir: string): TrieNode<T> {
    if (dir === '') return this.#root;
    let node = this.#dirs.get(dir);
    if (node === undefined) {
      node = this.#root;
      for (let start = 0; ; ) {
        const end = dir.indexOf('/', start);
        node = this.#child(node, end === -1 ? dir.slice(start) : dir.slice(start, end));
        if (end === -1) break;
        start = end + 1;
      }
      this.#dirs.set(dir, node);
    }
    return node;
  }
}
