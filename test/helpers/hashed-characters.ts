/**
 * Counts the work of string lookups instead of timing it: while `work` runs, every string key given to a Map or Set
 * (get, has, set, add) adds its length, which is what hashing and comparing it costs. Code that compares each
 * directory of each path as a string shows the square of a path's length here; code that walks path components
 * shows its length.
 */
const WATCHED: ReadonlyArray<readonly [object, string]> = [
  [Map.prototype, 'get'],
  [Map.prototype, 'has'],
  [Map.prototype, 'set'],
  [Set.prototype, 'has'],
  [Set.prototype, 'add'],
];

export function countHashedCharacters<T>(work: () => T): { readonly result: T; readonly characters: number } {
  let characters = 0;
  const saved = WATCHED.map(([proto, name]) => [proto, name, Object.getOwnPropertyDescriptor(proto, name)!] as const);
  for (const [proto, name, descriptor] of saved) {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    Object.defineProperty(proto, name, {
      ...descriptor,
      value: function counted(this: unknown, ...args: unknown[]): unknown {
        if (typeof args[0] === 'string') characters += args[0].length;
        return Reflect.apply(original, this, args);
      },
    });
  }
  try {
    return { result: work(), characters };
  } finally {
    for (const [proto, name, descriptor] of saved) Object.defineProperty(proto, name, descriptor);
  }
}
