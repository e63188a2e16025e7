/**
 * What the kept state holds and what comes back out. An entry is kept only while it has life left and a mount used
 * it within `idleMs`: the provider is never told a pod went away. Most recently used first, bounded in bytes. Pure.
 */
import * as z from 'zod';
import type { KeptToken } from '../auth/authenticator.js';
import type { KeptLease } from '../vault/lease-cache.js';
import type { SecretResponse } from '../vault/responses.js';
import { isPlainObject } from '../shared/plain-object.js';

export const DOCUMENT_VERSION = 1;

export interface KeptEntries {
  readonly tokens: readonly KeptToken[];
  readonly leases: readonly KeptLease[];
}

export interface Limits {
  readonly now: number;
  /** An entry unused for longer is left out. */
  readonly idleMs: number;
  /** Largest JSON text written (the envelope comes on top). */
  readonly maxBytes: number;
}

/** How many entries were left out, and why. */
export interface LeftOut {
  readonly expired: number;
  readonly idle: number;
  /** Over the byte bound (the least recently used). */
  readonly overSize: number;
}

const finite = z.number().refine(Number.isFinite);
const tokenSchema = z.strictObject({
  key: z.string(),
  workloadKey: z.string(),
  token: z.string().min(1),
  obtainedAt: finite,
  // JSON has no Infinity: a token without a lease is written with null.
  expiresAt: finite.nullable(),
  serial: z.number().int(),
  lastUsed: finite,
});
const leaseSchema = z.strictObject({
  key: z.string(),
  requestKey: z.string(),
  // As it was kept, the very object: a re-built one could order its keys differently, and whole-response files and
  // object versions would change after a restart.
  response: z.custom<SecretResponse>((v) => isPlainObject(v)),
  reason: z.enum(['lease', 'certificate']),
  obtainedAt: finite,
  expiresAt: finite,
  owner: z.number().int(),
  lastUsed: finite,
});
const documentSchema = z.strictObject({
  v: z.literal(DOCUMENT_VERSION),
  writtenAt: finite,
  tokens: z.array(tokenSchema),
  leases: z.array(leaseSchema),
});

/** Which entries are alive and recently used now. */
function live(entry: { readonly expiresAt: number; readonly lastUsed: number }, limits: Limits): 'ok' | 'expired' | 'idle' {
  if (!(entry.expiresAt > limits.now)) return 'expired';
  if (limits.now - entry.lastUsed > limits.idleMs) return 'idle';
  return 'ok';
}

/** A lease whose token is left out keeps its serial, which is then no one's. */
export function encodeEntries(entries: KeptEntries, limits: Limits): { readonly text: string; readonly written: KeptEntries; readonly leftOut: LeftOut } {
  let expired = 0;
  let idle = 0;
  let overSize = 0;
  type Item = { readonly kind: 'token'; readonly json: string; readonly entry: KeptToken } | { readonly kind: 'lease'; readonly json: string; readonly entry: KeptLease };
  const items: Item[] = [];
  for (const t of entries.tokens) {
    const state = live(t, limits);
    if (state === 'ok') items.push({ kind: 'token', json: JSON.stringify({ ...t, expiresAt: Number.isFinite(t.expiresAt) ? t.expiresAt : null }), entry: t });
    else if (state === 'expired') expired++;
    else idle++;
  }
  for (const l of entries.leases) {
    const state = live(l, limits);
    if (state === 'ok') items.push({ kind: 'lease', json: JSON.stringify(l), entry: l });
    else if (state === 'expired') expired++;
    else idle++;
  }
  items.sort((a, b) => b.entry.lastUsed - a.entry.lastUsed);
  const head = `{"v":${DOCUMENT_VERSION},"writtenAt":${limits.now},"tokens":[`;
  let size = Buffer.byteLength(head) + '],"leases":[]}'.length;
  const tokens: string[] = [];
  const leases: string[] = [];
  const written: { tokens: KeptToken[]; leases: KeptLease[] } = { tokens: [], leases: [] };
  for (const item of items) {
    const bytes = Buffer.byteLength(item.json) + 1;
    if (size + bytes > limits.maxBytes) {
      overSize++;
      continue;
    }
    size += bytes;
    if (item.kind === 'token') {
      tokens.push(item.json);
      written.tokens.push(item.entry);
    } else {
      leases.push(item.json);
      written.leases.push(item.entry);
    }
  }
  return { text: `${head}${tokens.join(',')}],"leases":[${leases.join(',')}]}`, written, leftOut: { expired, idle, overSize } };
}

/** The document is not what this version writes (after it was authenticated: a bug or another version). */
export class StateMalformed extends Error {
  override readonly name = 'StateMalformed';
}

/** The entries of a state file's JSON still alive and recently used at `limits.now`. */
export function decodeEntries(text: string, limits: Omit<Limits, 'maxBytes'>): { readonly entries: KeptEntries; readonly leftOut: Omit<LeftOut, 'overSize'> } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StateMalformed('the state file holds no JSON');
  }
  const result = documentSchema.safeParse(parsed);
  if (!result.success) throw new StateMalformed(`the state file's document is not one this version writes (${result.error.issues[0]?.path.join('.') ?? 'root'})`);
  let expired = 0;
  let idle = 0;
  const tokens: KeptToken[] = [];
  const leases: KeptLease[] = [];
  const clamp = (t: number): number => Math.min(t, limits.now);
  for (const t of result.data.tokens) {
    const token: KeptToken = { ...t, expiresAt: t.expiresAt ?? Number.POSITIVE_INFINITY, lastUsed: clamp(t.lastUsed) };
    const state = live(token, { ...limits, maxBytes: 0 });
    if (state === 'ok') tokens.push(token);
    else if (state === 'expired') expired++;
    else idle++;
  }
  for (const l of result.data.leases) {
    const lease: KeptLease = { ...l, lastUsed: clamp(l.lastUsed) };
    const state = live(lease, { ...limits, maxBytes: 0 });
    if (state === 'ok') leases.push(lease);
    else if (state === 'expired') expired++;
    else idle++;
  }
  return { entries: { tokens, leases }, leftOut: { expired, idle } };
}
