// Small helpers shared by the engines: Vault's response envelope, durations, ids and field readers.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { badRequest, ReplyError } from './vault-errors.js';
import type { JsonObject, Reply } from './types.js';

export interface EnvelopeFields {
  lease_id?: string;
  renewable?: boolean;
  lease_duration?: number;
  data?: unknown;
  wrap_info?: unknown;
  warnings?: string[] | null;
  auth?: unknown;
  mount_type?: string;
}

/** Every successful Vault response carries the same top-level keys, in this order. */
export function envelope(fields: EnvelopeFields): JsonObject {
  return {
    request_id: randomUUID(),
    lease_id: fields.lease_id ?? '',
    renewable: fields.renewable ?? false,
    lease_duration: fields.lease_duration ?? 0,
    data: fields.data ?? null,
    wrap_info: fields.wrap_info ?? null,
    warnings: fields.warnings && fields.warnings.length > 0 ? fields.warnings : null,
    auth: fields.auth ?? null,
    mount_type: fields.mount_type ?? '',
  };
}

export function ok(fields: EnvelopeFields, status = 200): Reply {
  return { status, body: envelope(fields) };
}

export function noContent(): Reply {
  return { status: 204 };
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random base62 string, the alphabet Vault uses for token and lease suffixes. */
export function randomBase62(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (let i = 0; out.length < length && i < bytes.length; i++) {
    const b = bytes[i]!;
    // 248 = 62 * 4: rejecting the top of the byte range keeps the distribution uniform.
    if (b < 248) out += BASE62[b % 62];
  }
  return out.length === length ? out : randomBase62(length);
}

/** Deterministic UUID-shaped id, so the same identity always maps to the same entity_id. */
export function stableUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses durations the way Vault's parseutil.ParseDurationSecond does: a bare integer is seconds,
 * otherwise a Go duration ("1h30m", "90s") with an extra "d" unit. Returns whole seconds.
 */
export function parseDurationSeconds(raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'number' && Number.isFinite(raw)) return Math.trunc(raw);
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (/^-?\d+$/.test(text)) return Number.parseInt(text, 10);
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(text)) !== null) {
    total += Number.parseFloat(match[1]!) * UNIT_SECONDS[match[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || consumed === 0) return undefined;
  return Math.trunc(total);
}

/** A duration field of a request; a malformed value is a 400 like Vault's field parser gives. */
export function durationField(body: JsonObject, name: string): number | undefined {
  const raw = body[name];
  const parsed = parseDurationSeconds(raw);
  if (raw !== undefined && raw !== null && raw !== '' && parsed === undefined) {
    const shown = typeof raw === 'string' ? raw : JSON.stringify(raw);
    throw new ReplyError(badRequest(`error converting input ${shown} for field "${name}": time: invalid duration "${shown}"`));
  }
  return parsed;
}

export function stringField(body: JsonObject, name: string): string {
  const raw = body[name];
  if (raw === undefined || raw === null) return '';
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new ReplyError(badRequest(`error converting input for field "${name}": expected a string`));
}

/** Vault accepts lists either as JSON arrays or as comma-separated strings. */
export function listField(body: JsonObject, name: string): string[] {
  const raw = body[name];
  if (raw === undefined || raw === null || raw === '') return [];
  if (Array.isArray(raw)) return raw.map((v) => String(v).trim()).filter((v) => v !== '');
  if (typeof raw === 'string') return raw.split(',').map((v) => v.trim()).filter((v) => v !== '');
  throw new ReplyError(badRequest(`error converting input for field "${name}": expected a list`));
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** ryanuber/go-glob semantics, which Vault uses for bound names and claims: `*` matches any run. */
export function globMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === value;
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`, 's').test(value);
}

export function uniqueSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/**
 * Vault's renewal rule for tokens and leases alike: the increment asked for (or the default TTL), capped by what
 * is left until max TTL, with Vault's warning when the cap applied.
 */
export function cappedRenewal(now: number, incrementSeconds: number | undefined, defaultTtlSeconds: number, maxExpireAt: number): { ttl: number; warnings: string[] } {
  const wanted = incrementSeconds && incrementSeconds > 0 ? incrementSeconds : defaultTtlSeconds;
  const maxLeft = Math.floor((maxExpireAt - now) / 1000);
  const ttl = Math.max(0, Math.min(wanted, maxLeft));
  const warnings = wanted > maxLeft
    ? [`TTL of "${wanted}s" exceeded the effective max_ttl of "${maxLeft}s"; TTL value is capped accordingly`]
    : [];
  return { ttl, warnings };
}
