/**
 * Counts the work of string lookups instead of timing it: while `work` runs, every string key given to a Map or Set
 * (get, has, set, add) adds its length, which is what hashing and comparing it costs. Code that compares each
 * directory of each path as a string shows the square of a path's length here; code that walks path components
 * shows its length.
 */
export function countHashedCharacters<T>(work: () => T): { readonly result: T; readonly characters: number } {
  let characters = 0;
  const count = (key: unknown): void => {
    if (typeof key === 'string') characters += key.length;
  };
  const originals = {
    mapGet: Map.prototype.get,
    mapHas: Map.prototype.has,
    mapSet: Map.prototype.set,
    setHas: Set.prototype.has,
    setAdd: Set.prototype.add,
  };
  Map.prototype.get = function get(this: Map<unknown, unknown>, key: unknown) {
    count(key);
    return originals.mapGet.call(this, key);
  };
  Map.prototype.has = function has(this: Map<unknown, unknown>, key: unknown) {
    count(key);
    return originals.mapHas.call(this, key);
  };
  Map.prototype.set = function set(this: Map<unknown, unknown>, key: unknown, value: unknown) {
    count(key);
    return originals.mapSet.call(this, key, value);
  };
  Set.prototype.has = function has(this: Set<unknown>, key: unknown) {
    count(key);
    return originals.setHas.call(this, key);
  };
  Set.prototype.add = function add(this: Set<unknown>, key: unknown) {
    count(key);
    return originals.setAdd.call(this, key);
  };
  try {
    return { result: work(), characters };
  } finally {
    Map.prototype.get = originals.mapGet;
    Map.prototype.has = originals.mapHas;
    Map.prototype.set = originals.mapSet;
    Set.prototype.has = originals.setHas;
    Set.prototype.add = originals.setAdd;
  }
}
