/**
 * Second line of defence: fields that could hold a JWT, a token or contents are censored two levels down. Not pino's
 * `redact`: with wildcards it cost a third of the logging CPU; this walk copies only what it censors.
 */

export const CENSOR = '[redacted]';

/** Lower-case field names censored wherever they appear within MAX_DEPTH levels. */
export const SENSITIVE_FIELDS: ReadonlySet<string> = new Set([
  'token',
  'jwt',
  'contents',
  'attributes',
  'secrets',
  'authorization',
  'x-vault-token',
  'client_token',
  'private_key',
  'password',
]);

/** Levels below the line itself that are searched: 0 is the line's own fields. */
const MAX_DEPTH = 2;
/** Containers entered at most, counting arrays: a bound on the walk for any shape. */
const MAX_NESTING = 6;

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  return typeof value === 'object' && value !== null && !Buffer.isBuffer(value) && !(value instanceof Date);
}

/** Array elements share their array's depth; `nesting` bounds the walk whatever the shape. */
function redactLevel(value: Record<string, unknown> | unknown[], depth: number, nesting: number): Record<string, unknown> | unknown[] {
  if (nesting > MAX_NESTING) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (!isContainer(item)) continue;
      const redacted = redactLevel(item, depth, nesting + 1);
      if (redacted !== item) (copy ??= value.slice())[i] = redacted;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (SENSITIVE_FIELDS.has(key.toLowerCase())) {
      if (item !== CENSOR && item !== undefined) (copy ??= { ...value })[key] = CENSOR;
      continue;
    }
    if (depth >= MAX_DEPTH || !isContainer(item)) continue;
    const redacted = redactLevel(item, depth + 1, nesting + 1);
    if (redacted !== item) (copy ??= { ...value })[key] = redacted;
  }
  return copy ?? value;
}

/** The line with every sensitive field censored; the same object when there was nothing to censor. */
export function redactLine(line: Record<string, unknown>): Record<string, unknown> {
  return redactLevel(line, 0, 0) as Record<string, unknown>;
}
