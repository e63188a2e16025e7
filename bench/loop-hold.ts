/**
 * How long one synchronous step on what Vault answers holds the event loop, at the sizes a tenant can make Vault
 * answer with (issue 19, classes 4 and 5, and responses up to the mount's budget). Each step is one call of the
 * provider's own code, timed around the call; while it runs no other mount on the node makes progress.
 *
 *   npx tsx bench/loop-hold.ts [runs=7] [filter]
 *
 * Prints min / median / max wall milliseconds over the runs for each step (how long the loop was held), and the
 * median CPU milliseconds (what the hold would be on an idle machine), with the load average. A measurement, never
 * asserted in a test (docs/benchmark.md, "Event-loop hold per step").
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { classifyFailure } from '../src/vault/failures.js';
import * as transport from '../src/vault/transport.js';
import { JsonBody } from '../src/vault/transport.js';
import { secretResponseSchema, type SecretResponse } from '../src/vault/responses.js';
import { MountAdmission, MountMemory } from '../src/admission/mount-admission.js';
import { expandKeys, expandPki } from '../src/mount/expand.js';
import { extractContent, decodeValue } from '../src/mount/extract.js';
import { goMarshal } from '../src/mount/go-json.js';
import { objectVersion } from '../src/mount/assemble.js';
import { parseObjects } from '../src/config/objects.js';
import type { ObjectConfig } from '../src/config/types.js';

const runs = Number(process.argv[2] ?? 7);
const filter = process.argv[3] ?? '';
const KiB = 1024;
const MiB = 1024 * KiB;

function object(yaml: string): ObjectConfig {
  return parseObjects(yaml).objects[0]!;
}

const { MAX_JSON_DEPTH, ResponseTooDeepError, VaultHttpError } = transport;
// Read by name so that the script also runs against a tree from before the value cap (then: no cap).
const maxValues = (transport as Record<string, unknown>)['DEFAULT_MAX_RESPONSE_VALUES'];
const MAX_VALUES = typeof maxValues === 'number' ? maxValues : Number.POSITIVE_INFINITY;

/** A Vault answer of `text`, read the way the transport reads it: 64 KiB chunks, under a fresh mount's budgets. */
function admissible(text: string): boolean {
  const body = new JsonBody({
    memory: new MountMemory(new MountAdmission()),
    maxDepth: MAX_JSON_DEPTH,
    tooDeep: () => new ResponseTooDeepError(),
    maxValues: MAX_VALUES,
    tooMany: () => new Error('too many values'),
  });
  const bytes = Buffer.from(text, 'utf8');
  try {
    body.start(200, undefined);
    for (let at = 0; at < bytes.length; at += 64 * KiB) body.write(bytes.subarray(at, at + 64 * KiB));
    body.finish();
    return true;
  } catch {
    return false;
  }
}

/** The largest `make(n)` (n halving from `start`) a mount may read under the default budgets. */
function largestAdmissible(make: (n: number) => string, start: number): { n: number; text: string } {
  for (let n = start; n >= 1; n = Math.floor(n * 0.9)) {
    const text = make(n);
    if (admissible(text)) return { n, text };
  }
  throw new Error('nothing admissible');
}

interface Step {
  readonly name: string;
  readonly run: () => unknown;
}

interface Timing {
  /** Wall milliseconds of each run, sorted: how long the loop was held. */
  readonly wall: number[];
  /** CPU milliseconds (user + system, this process) of each run, sorted: the same on an idle machine. */
  readonly cpu: number[];
  /** The step refused its input (a ProviderError): the times are those of deciding to. */
  readonly refused: boolean;
}

function time(step: Step): Timing {
  const wall: number[] = [];
  const cpu: number[] = [];
  let refused = false;
  for (let i = 0; i < runs; i++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    try {
      step.run();
    } catch (err: unknown) {
      // A refusal is timed too (what it cost to decide); a crash of the step is reported as such.
      if (!(err instanceof Error && err.name === 'ProviderError')) {
        console.log(`| ${step.name} | throws ${err instanceof Error ? err.name : 'a value'} | | | |`);
        return { wall: [], cpu: [], refused: false };
      }
      refused = true;
    }
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  const byValue = (a: number, b: number): number => a - b;
  return { wall: wall.sort(byValue), cpu: cpu.sort(byValue), refused };
}

const steps: Step[] = [];

// Class 4: Vault echoes input into its error text (a refused common_name, an unknown role).
{
  const echo = 'eyJ'.repeat(Math.floor((128 * KiB) / 3));
  const err = new VaultHttpError(400, { errors: [`common name ${echo} not allowed by this role`] }, {});
  const target = { address: 'https://vault:8200', path: '/v1/pki/issue/web', method: 'PUT' };
  steps.push({ name: 'error text: 128 KiB of "eyJ" quoted in errors[]', run: () => classifyFailure(err, target, undefined) });
  const tokens = 's.'.repeat(64 * KiB);
  const err2 = new VaultHttpError(400, { errors: [tokens] }, {});
  steps.push({ name: 'error text: 128 KiB of "s." quoted in errors[]', run: () => classifyFailure(err2, target, undefined) });
  const many = new VaultHttpError(400, { errors: Array.from({ length: 100_000 }, (_, i) => `role "r${i}" not found`) }, {});
  steps.push({ name: 'error text: 100,000 entries in errors[]', run: () => classifyFailure(many, target, undefined) });
}

// Class 5: expand: pki over a KV value the tenant wrote.
{
  const begins = '-----BEGIN A-----\n'.repeat(Math.floor((512 * KiB) / 18));
  const response: SecretResponse = { data: { data: { certificate: begins, private_key: 'x' } } };
  steps.push({ name: 'expand: pki, 512 KiB of "-----BEGIN A-----" lines', run: () => { try { expandPki(response); } catch { /* refused */ } } });
}

// Responses at the mount's budget (8 MiB received; parsed forms against the node's 24 MiB).
{
  const big = largestAdmissible((n) => JSON.stringify({ data: { data: { v: 'x'.repeat(n) } } }), 8 * MiB);
  // Each key or list entry is at least three values, so the search may start at the cap.
  const many = largestAdmissible((n) => JSON.stringify({ data: { data: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'])) } }), Math.min(400_000, MAX_VALUES));
  const nested = largestAdmissible((n) => JSON.stringify({ data: { data: { list: Array.from({ length: n }, (_, i) => ({ id: i, name: `n${i}` })) } } }), Math.min(200_000, MAX_VALUES));
  const escapes = largestAdmissible((n) => JSON.stringify({ data: { data: { v: '<&>'.repeat(n) } } }), 3 * MiB);
  const b64 = largestAdmissible((n) => JSON.stringify({ data: { data: { v: Buffer.alloc(n, 7).toString('base64') } } }), 6 * MiB);
  const hex = largestAdmissible((n) => JSON.stringify({ data: { data: { v: Buffer.alloc(n, 7).toString('hex') } } }), 4 * MiB);
  console.log(`# admissible at the default budgets: one string ${(big.text.length / MiB).toFixed(1)} MiB; ${many.n} keys (${(many.text.length / MiB).toFixed(1)} MiB); ${nested.n} small objects (${(nested.text.length / MiB).toFixed(1)} MiB); ${escapes.n * 3} escaped chars; base64 of ${(b64.n / MiB).toFixed(1)} MiB; hex of ${(hex.n / MiB).toFixed(1)} MiB`);
  const parsed = (text: string): SecretResponse => secretResponseSchema.parse(JSON.parse(text));
  const key = object('- objectName: v\n  secretPath: secret/data/x\n  secretKey: v\n');
  const whole = object('- objectName: all\n  secretPath: secret/data/x\n');
  const list = object('- objectName: list\n  secretPath: secret/data/x\n  secretKey: list\n');
  const b64Key = object('- objectName: v\n  secretPath: secret/data/x\n  secretKey: v\n  encoding: base64\n');
  const hexKey = object('- objectName: v\n  secretPath: secret/data/x\n  secretKey: v\n  encoding: hex\n');
  const bigR = parsed(big.text);
  const manyR = parsed(many.text);
  const nestedR = parsed(nested.text);
  const escR = parsed(escapes.text);
  const hmacKey = Buffer.alloc(32, 1);
  const limitEscapes = '<'.repeat(Math.floor((4 * MiB - 2) / 6));
  const bigContent = extractContent(key, bigR);
  const rawValue = (text: string): Buffer => Buffer.from(String((parsed(text).data!['data'] as Record<string, unknown>)['v']), 'utf8');
  const b64Raw = rawValue(b64.text);
  const hexRaw = rawValue(hex.text);
  steps.push(
    { name: `JSON.parse: one string (${(big.text.length / MiB).toFixed(1)} MiB)`, run: () => JSON.parse(big.text) as unknown },
    { name: `JSON.parse: ${many.n} keys`, run: () => JSON.parse(many.text) as unknown },
    { name: `JSON.parse: ${nested.n} small objects`, run: () => JSON.parse(nested.text) as unknown },
    { name: `zod secretResponseSchema: ${many.n} keys`, run: () => secretResponseSchema.parse(JSON.parse(many.text)) },
    { name: `extract secretKey: one string`, run: () => extractContent(key, bigR) },
    { name: `extract whole response (goMarshal): one string`, run: () => extractContent(whole, bigR) },
    { name: `extract whole response (goMarshal): ${many.n} keys`, run: () => extractContent(whole, manyR) },
    { name: `extract secretKey (goMarshal): ${nested.n} small objects`, run: () => extractContent(list, nestedR) },
    { name: `goMarshal: ${escapes.n * 3} chars to escape`, run: () => goMarshal(escR.data) },
    { name: `goMarshal: ${limitEscapes.length} chars to escape (output just under 4 MiB)`, run: () => goMarshal(limitEscapes) },
    { name: `expand: keys, ${many.n} keys`, run: () => expandKeys(key, manyR) },
    { name: `HMAC version over ${(bigContent.length / MiB).toFixed(1)} MiB`, run: () => objectVersion(hmacKey, key, bigContent) },
    { name: `base64 decode of ${(b64.n / MiB).toFixed(1)} MiB`, run: () => decodeValue(b64Raw, b64Key) },
    { name: `hex decode of ${(hex.n / MiB).toFixed(1)} MiB`, run: () => decodeValue(hexRaw, hexKey) },
  );
}

console.log(`# ${runs} runs each; milliseconds of one synchronous call; node ${process.version}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| step | wall min | wall median | wall max | CPU median |');
console.log('|---|---|---|---|---|');
for (const step of steps) {
  if (filter !== '' && !step.name.includes(filter)) continue;
  const { wall, cpu, refused } = time(step);
  if (wall.length === 0) continue;
  const fmt = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
  const mid = (xs: number[]): number => xs[Math.floor(xs.length / 2)]!;
  console.log(`| ${step.name}${refused ? ' (refused)' : ''} | ${fmt(wall[0]!)} | ${fmt(mid(wall))} | ${fmt(wall[wall.length - 1]!)} | ${fmt(mid(cpu))} |`);
}
console.log(`# load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
