/**
 * An upper estimate of what plain data (objects, arrays, strings, numbers) holds in V8's heap, for caches that keep
 * parsed input: measured against V8 by test/shared/heap-size.test.ts, it errs high. Linear in the data; a value
 * reached twice (a YAML alias) is counted twice.
 */

/** An object or array: its header, its map's share and its backing store's slack. */
const PER_CONTAINER_BYTES = 96;
/** A property or element: its slot, its key's share and a boxed number or boolean at worst. */
const PER_SLOT_BYTES = 48;
const STRING_HEADER_BYTES = 24;

export function heapBytes(root: unknown): number {
  let total = 0;
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      total += STRING_HEADER_BYTES + value.length * (isOneByte(value) ? 1 : 2);
    } else if (value instanceof Map || value instanceof Set) {
      total += PER_CONTAINER_BYTES + value.size * 2 * PER_SLOT_BYTES;
      for (const item of value as Iterable<unknown>) pending.push(item);
    } else if (Array.isArray(value)) {
      total += PER_CONTAINER_BYTES + value.length * PER_SLOT_BYTES;
      for (const item of value as unknown[]) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      total += PER_CONTAINER_BYTES + entries.length * PER_SLOT_BYTES;
      for (const [key, item] of entries) pending.push(key, item);
    } else {
      total += PER_SLOT_BYTES;
    }
  }
  return total;
}

/** V8 stores a string of code units up to 0xFF one byte each. */
function isOneByte(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}
