/**
 * The shape of an HTTP answer, for the differential test: status, media type and the body's JSON structure (object
 * keys and JSON types, recursively; arrays by the shapes of their elements; an `errors` array by its presence), but
 * no values. Two Vaults that agree on shapes answer a client alike wherever the client does not read the values.
 */

export type Shape =
  | { readonly kind: 'null' | 'boolean' | 'number' | 'string' | 'errors' | 'empty' | 'text' }
  | { readonly kind: 'array'; readonly elements: readonly Shape[] }
  | { readonly kind: 'object'; readonly keys: Readonly<Record<string, Shape>> };

/** One difference between two shapes: where (a JSON path: `status`, `body.data.keys[]`) and what each side had. */
export interface ShapeDifference {
  readonly at: string;
  readonly real: string;
  readonly fake: string;
}

/** The shape of a parsed JSON value; `errors` keys of objects count by their presence only. */
export function shapeOf(value: unknown, key?: string): Shape {
  if (value === null) return { kind: 'null' };
  if (Array.isArray(value)) {
    if (key === 'errors') return { kind: 'errors' };
    const seen = new Map<string, Shape>();
    for (const e of value) {
      const s = shapeOf(e);
      seen.set(JSON.stringify(s), s);
    }
    return { kind: 'array', elements: [...seen.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([, s]) => s) };
  }
  switch (typeof value) {
    case 'boolean':
      return { kind: 'boolean' };
    case 'number':
      return { kind: 'number' };
    case 'string':
      return { kind: 'string' };
    case 'object': {
      const keys: Record<string, Shape> = {};
      for (const k of Object.keys(value).sort()) keys[k] = shapeOf((value as Record<string, unknown>)[k], k);
      return { kind: 'object', keys };
    }
    default:
      return { kind: 'text' };
  }
}

/** A short name of a shape for a report: `object`, `array<string>`, `string`. */
export function describeShape(s: Shape | undefined): string {
  if (s === undefined) return 'absent';
  if (s.kind === 'array') return `array<${s.elements.map(describeShape).join('|')}>`;
  if (s.kind === 'object') return `object{${Object.keys(s.keys).join(',')}}`;
  return s.kind;
}

/** Every place where the real shape and the fake one differ, outermost first. */
export function compareShapes(real: Shape, fake: Shape, at = 'body'): ShapeDifference[] {
  if (real.kind === 'object' && fake.kind === 'object') {
    const out: ShapeDifference[] = [];
    for (const k of new Set([...Object.keys(real.keys), ...Object.keys(fake.keys)])) {
      const r = real.keys[k];
      const f = fake.keys[k];
      if (r === undefined || f === undefined) out.push({ at: `${at}.${k}`, real: describeShape(r), fake: describeShape(f) });
      else out.push(...compareShapes(r, f, `${at}.${k}`));
    }
    return out;
  }
  if (real.kind === 'array' && fake.kind === 'array') {
    const [r] = real.elements;
    const [f] = fake.elements;
    // One element shape on each side: look inside it, so the report names the key that differs.
    if (real.elements.length === 1 && fake.elements.length === 1 && r !== undefined && f !== undefined) return compareShapes(r, f, `${at}[]`);
    if (JSON.stringify(real.elements) === JSON.stringify(fake.elements)) return [];
    return [{ at: `${at}[]`, real: describeShape(real), fake: describeShape(fake) }];
  }
  if (real.kind !== fake.kind) return [{ at, real: describeShape(real), fake: describeShape(fake) }];
  return [];
}
