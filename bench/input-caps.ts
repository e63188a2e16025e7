// `npx tsx bench/input-caps.ts`: how long each step that reads author input holds the event loop when the input
// is at its cap (src/config/input-limits.ts; issue 19). Each step is synchronous, so its time is a stall of every
// other mount on the node: the claim is about 50 ms at most. Every case runs RUNS times (INPUT_BENCH_RUNS) in this
// one process after a warm-up; wall time (performance.now) and the process's CPU time are reported as min / median
// / max, with the machine's load. No timing is asserted anywhere; the figures go into docs/benchmark.md by hand.
import { cpus, loadavg } from 'node:os';
import { parseObjects } from '../src/config/objects.js';
import { parseTemplate } from '../src/config/template-syntax.js';
import { parseMountRequest } from '../src/config/mount-request.js';
import { DEFAULT_INPUT_LIMITS as CAPS } from '../src/config/input-limits.js';
import { renderTemplate } from '../src/mount/template.js';
import { assembleObjects } from '../src/mount/assemble.js';
import { requestKey } from '../src/mount/assemble.js';
import { buildFileSet, type OutputFile } from '../src/output/file-set.js';
import type { MountConfig } from '../src/config/types.js';

const RUNS = Number(process.env.INPUT_BENCH_RUNS ?? '15');

interface Row {
  readonly step: string;
  readonly input: string;
  readonly wall: readonly number[];
  readonly cpu: readonly number[];
  readonly outcome: string;
}

function measure(step: string, input: string, run: () => unknown): Row {
  let outcome = 'ok';
  const once = (): void => {
    try {
      run();
    } catch (err: unknown) {
      const code = (err as { code?: string }).code ?? (err instanceof Error ? err.name : 'thrown');
      const flag = /\(--([a-z-]+)=/.exec(err instanceof Error ? err.message : '')?.[1];
      outcome = flag === undefined ? code : `${code} (--${flag})`;
    }
  };
  for (let i = 0; i < 3; i += 1) once();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    once();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { step, input, wall, cpu, outcome };
}

function spread(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): string => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  return `${at(0)} / ${at(0.5)} / ${sorted[sorted.length - 1]!.toFixed(1)}`;
}

function tokensOf(text: string): string {
  return `${(Buffer.byteLength(text) / 1024).toFixed(1)} KiB`;
}

const rows: Row[] = [];
const add = (row: Row): void => {
  rows.push(row);
  process.stderr.write(`${row.step} | ${row.input}: ${spread(row.wall)} ms\n`);
};

// --- the objects parameter (YAML) at --max-objects-tokens, --max-objects-bytes, --max-objects-aliases ---
const realistic = Array.from({ length: CAPS.objectsPerMount }, (_, i) => `- objectName: "dir/obj-${i}"\n  secretPath: "secret/data/team/app-${i}"\n  secretKey: "password"\n  encoding: "utf-8"\n  filePermission: 0440\n`).join('');
add(measure('parse objects', `${CAPS.objectsPerMount} objects of 5 fields (${tokensOf(realistic)}, ~9,500 tokens)`, () => parseObjects(realistic)));

// The densest YAML per token: a flow map of one-letter keys, just under the token cap (8 tokens a pair).
const pairs = Math.floor((CAPS.objectsTokens - 40) / 8);
const dense = `- objectName: a\n  secretPath: s\n  secretArgs: {${Array.from({ length: pairs }, (_, i) => `k${i}: v`).join(', ')}}\n`;
add(measure('parse objects', `flow map of ${pairs} keys (${tokensOf(dense)}, just under the token cap)`, () => parseObjects(dense)));
const blockMap = `- objectName: a\n  secretPath: s\n  secretArgs:\n${Array.from({ length: Math.floor((CAPS.objectsTokens - 80) / 8) }, (_, i) => `    k${i}: v\n`).join('')}`;
add(measure('parse objects', `block map of ${Math.floor((CAPS.objectsTokens - 80) / 8)} keys (${tokensOf(blockMap)}, under the token cap)`, () => parseObjects(blockMap)));
const blank = `- objectName: a\n  secretPath: s\n${'\n'.repeat(CAPS.objectsTokens - 40)}`;
add(measure('parse objects', `blank lines up to the token cap (${tokensOf(blank)})`, () => parseObjects(blank)));
const overTokens = `- objectName: a\n  secretPath: s\n  secretArgs: {${Array.from({ length: 4 * pairs }, (_, i) => `k${i}: v`).join(', ')}}\n`.slice(0, CAPS.objectsBytes);
add(measure('parse objects', `refused at the token cap (${tokensOf(overTokens)} of a flow map)`, () => parseObjects(overTokens)));
const blockScalar = `- objectName: a\n  secretPath: s\n  template: |\n${'    line {{ .k }} and some text\n'.repeat(Math.floor((CAPS.objectsBytes - 100) / 33))}`;
add(measure('parse objects', `a block scalar up to the byte cap (${tokensOf(blockScalar)}; its template refused)`, () => parseObjects(blockScalar)));
const aliasLines = ['- objectName: a', '  secretPath: s', '  secretArgs:', `    l0: &l0 [${Array(120).fill('x').join(', ')}]`];
for (let i = 1; i <= CAPS.objectsAliases; i += 1) aliasLines.push(`    l${i}: *l0`);
const aliases = aliasLines.join('\n');
add(measure('parse objects', `${CAPS.objectsAliases} aliases expanding to ~15,500 nodes (${tokensOf(aliases)})`, () => parseObjects(aliases)));

// --- a template at --max-template-bytes / --max-template-actions / --max-template-arguments ---
const actionLine = `key_{{ @db.password }}={{ json .a.b "x" .c }}\n`;
const manyActions = actionLine.repeat(Math.floor(CAPS.templateActions / 2));
add(measure('parse template', `${CAPS.templateActions} actions (${tokensOf(manyActions)})`, () => parseTemplate(manyActions)));
const argsAction = `{{ base64 ${'@a.key '.repeat(CAPS.templateArguments)}}}\n`;
const manyArgs = argsAction.repeat(Math.floor(CAPS.templateBytes / argsAction.length));
add(measure('parse template', `${Math.floor(CAPS.templateBytes / argsAction.length)} actions of ${CAPS.templateArguments} arguments (${tokensOf(manyArgs)}, the byte cap)`, () => parseTemplate(manyArgs, { ...CAPS, templateActions: 1_000_000 })));
const textOnly = `${'plain text without actions '.repeat(Math.floor(CAPS.templateBytes / 27) - 1)}{{ .a }}`;
add(measure('parse template', `text up to the byte cap (${tokensOf(textOnly)})`, () => parseTemplate(textOnly)));

// The whole parse of a MountRequest whose objects carry the realistic list; a comment makes each text new, so the
// memo of parsed lists (objectsMemo in config/objects.ts), which answers republishes, never answers here.
let request = 0;
const attributesOf = (objects: string): string => JSON.stringify({ roleName: 'r', objects, 'csi.storage.k8s.io/pod.name': 'p', 'csi.storage.k8s.io/pod.namespace': 'n', 'csi.storage.k8s.io/pod.uid': 'u', 'csi.storage.k8s.io/serviceAccount.name': 's' });
add(measure('parse mount request', `attributes with the ${CAPS.objectsPerMount}-object list, each text new`, () => parseMountRequest({ attributes: attributesOf(`${realistic}# ${(request += 1)}\n`), secrets: 'null', targetPath: '/t', permission: '420' })));

// --- rendering at the driver's 4 MiB limit ---
const limit = 4 * 1024 * 1024;
const inputs = (value: unknown) => ({ own: () => ({ present: true as const, value: { v: value } }), object: () => ({ present: true as const, value: { v: value } }) });
// 'a/b ' is 8 bytes under urlencode: half the limit in, the whole limit out.
const urlValue = 'a/b '.repeat(limit / 8 - 1);
add(measure('render template', `urlencode of a ${(urlValue.length / 1048576).toFixed(1)} MiB value (4 MiB out)`, () => renderTemplate(parseTemplate('{{ urlencode .v }}'), inputs(urlValue))));
const b64 = Buffer.alloc(Math.floor((limit * 3) / 4) - 16, 7);
add(measure('render template', `base64 of ${(b64.length / 1048576).toFixed(1)} MiB of bytes (4 MiB out)`, () => renderTemplate(parseTemplate('{{ base64 .v }}'), inputs(b64))));
// '<"\n' is 10 bytes in a Go JSON string (\u003c, \", \n): 1.2 MiB of it make the 4 MiB limit.
const escaped = '<"\n'.repeat(Math.floor(limit / 10) - 1);
add(measure('render template', `json of ${(escaped.length / 1048576).toFixed(1)} MiB of characters escaped 3.3 times (4 MiB out)`, () => renderTemplate(parseTemplate('{{ json .v }}'), inputs(escaped))));
add(measure('render template', `${CAPS.templateArguments} x 200 arguments over a 1 MiB value (refused from sizes)`, () => renderTemplate(parseTemplate(`{{ urlencode ${'.v '.repeat(CAPS.templateArguments)}}}`.repeat(200)), inputs('x'.repeat(1024 * 1024)))));

// --- files: expand: keys up to the limit, and the clash check over long paths ---
const deep = Array(1900).fill('d').join('/');
const cfg = { objects: parseObjects(`- {objectName: "${deep}", secretPath: s, expand: keys}`).objects, permission: 0o644 } as unknown as MountConfig;
const keys = Object.fromEntries(Array.from({ length: 480 }, (_, i) => [`k${i}`, 'v'.repeat(100)]));
const outcomes = new Map([[requestKey(cfg.objects[0]!), { data: keys }]]);
add(measure('assemble', `expand: keys, 480 keys under a 1,900-component objectName (~3.6 MiB of paths)`, () => assembleObjects(cfg, outcomes, Buffer.alloc(32), undefined)));
const files: OutputFile[] = Object.keys(keys).map((k) => ({ path: `${deep}/${k}`, mode: 0o644, contents: Buffer.from('v'), objectName: deep }));
add(measure('file set', `480 files under a 1,900-component directory`, () => buildFileSet(files)));

const [l1, l5] = loadavg();
console.log(`Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${l1!.toFixed(1)} / ${l5!.toFixed(1)} (1 / 5 min), ${RUNS} runs a case.\n`);
console.log('| step | input at the cap | wall ms (min / median / max) | CPU ms (min / median / max) | outcome |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.step} | ${r.input} | ${spread(r.wall)} | ${spread(r.cpu)} | ${r.outcome} |`);
