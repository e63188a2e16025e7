/**
 * A fast-check generator of hostile SecretProviderClasses, as a namespace user would write them to hurt the node's
 * daemon (issue 19): sizes (many objects, long names, large templates, many actions and arguments, large values
 * read through templates and encodings), nesting (secretArgs, JSON pointers, template paths), and YAML tricks
 * (anchors and alias fan-out, merge keys, tags, flow style, duplicate keys, several documents, CRLF, a BOM, huge
 * scalars in keys nobody reads). Most cases are ordinary in size so the daemon's normal path is exercised too; about
 * one in eight is large in one dimension (each dimension large one time in 25), which is where a cap, a budget or
 * linear work has to answer. The objects text stays under what a Kubernetes object can hold (about 1.5 MiB).
 *
 * Every object reads one of the paths FUZZ_VAULT_DATA puts in the fake Vault (or none, for a template), so mounts get
 * as far as Vault and back.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { PLANTED_SECRET } from './arbitraries.js';

const KiB = 1024;

/** What the fake Vault holds for the fuzzed namespace (KV v2 at secret/, role `fuzz`). */
export const FUZZ_VAULT_DATA: Readonly<Record<string, Record<string, unknown>>> = {
  'fz/small': { k: 'v', password: PLANTED_SECRET, n: 42, list: ['a', 'b', { c: 'd' }], nested: { a: { b: { c: 'deep' } } }, 'key.with.dots': 'dots' },
  'fz/medium': { k: 'm'.repeat(64 * KiB) },
  'fz/large': { k: 'l'.repeat(1024 * KiB) },
  'fz/deep': { k: nestedValue(300) },
  'fz/bin': { b64: Buffer.from('binary\u0000\u00ff payload').toString('base64'), hex: 'deadbeef' },
  'fz/pem': { certificate: '-----BEGIN A-----\n'.repeat(2000), private_key: '-----BEGIN B-----\n', issuing_ca: 'x' },
};

/** Stands for `{"a": {"a": … 1}}` nested that deep, in a generated object; replaced in the finished text. */
const DEEP = '__deep__';
const DEEP_MARK = /(["']?)__deep__(\d+)\1/g;

function nestedFlow(depth: number): string {
  return `${'{"a": '.repeat(depth)}1${'}'.repeat(depth)}`;
}

function nestedValue(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** One hostile case: the objects parameter as YAML text, parameters on top, and what makes it hostile (for reports). */
export interface HostileSpc {
  readonly kind: string;
  readonly objects: string;
  readonly params: Readonly<Record<string, string>>;
  /** Sizes worth reporting: objects, text bytes, actions, arguments, depth… */
  readonly sizes: Readonly<Record<string, number>>;
}

type Obj = Record<string, unknown>;

/** Sizes: mostly ordinary, sometimes large. `large` is where caps and budgets have to answer. */
function size(ordinary: [number, number], large: [number, number]): fc.Arbitrary<number> {
  return fc.oneof({ weight: 24, arbitrary: fc.integer({ min: ordinary[0], max: ordinary[1] }) }, { weight: 1, arbitrary: fc.integer({ min: large[0], max: large[1] }) });
}

const plainName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,12}$/);
/**
 * Mostly plain names (so that most mounts get to Vault); now and then a component at or past the 255-byte limit, a
 * deep path (up to the driver's 4096 bytes: the writer makes a directory per component), or one the driver refuses.
 */
const hostileNameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 40, arbitrary: plainName },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 300 }).map((n) => 'n'.repeat(n)) },
  { weight: 1, arbitrary: size([2, 40], [1_000, 2_047]).map((n) => `${'d/'.repeat(n)}f`) },
  { weight: 1, arbitrary: fc.constantFrom('.env', 'a/.b', 'ünï/🔑', '..data', '../x', 'a//b', '', 'x\0y', ' ', 'tls/..data') },
);

/** Where an input object's value comes from, with the keys it makes sense to ask for. */
const sourceArb: fc.Arbitrary<Obj> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Obj>({ secretPath: 'secret/data/fz/small', secretKey: 'k' }, { secretPath: 'secret/data/fz/small', secretKey: 'password' }, { secretPath: 'secret/data/fz/small' }, { secretPath: 'secret/data/fz/small', jsonPointer: '/nested/a/b/c' }) },
  { weight: 2, arbitrary: fc.constantFrom<Obj>({ secretPath: 'secret/data/fz/medium', secretKey: 'k' }, { secretPath: 'secret/data/fz/bin', secretKey: 'b64', encoding: 'base64' }, { secretPath: 'secret/data/fz/bin', secretKey: 'hex', encoding: 'hex' }) },
  { weight: 1, arbitrary: fc.constantFrom<Obj>({ secretPath: 'secret/data/fz/large', secretKey: 'k' }, { secretPath: 'secret/data/fz/deep', secretKey: 'k' }, { secretPath: 'auth/token/lookup-self' }) },
  { weight: 1, arbitrary: fc.constantFrom<Obj>({ secretPath: 'secret/data/fz/pem', expand: 'pki' }, { secretPath: 'secret/data/fz/small', expand: 'keys' }, { secretPath: 'secret/data/fz/absent', secretKey: 'k', optional: true }) },
  {
    weight: 1,
    arbitrary: fc.record({ depth: size([1, 6], [300, 20_000]), cn: size([5, 40], [4 * KiB, 64 * KiB]) }).map(({ depth, cn }): Obj => ({
      secretPath: 'pki/issue/fuzz',
      method: 'PUT',
      secretKey: 'certificate',
      // The nesting is written into the text after the YAML is made (deep structures overflow the stringifier).
      secretArgs: { common_name: `${'c'.repeat(cn)}.fz.svc`, extra: `${DEEP}${depth}` },
    })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((depth): Obj => ({ secretPath: 'secret/data/fz/small', jsonPointer: '/a'.repeat(depth) })) },
);

const TEMPLATE_BYTES = 512 * KiB;

/** How a template names another object: `@name`, or `@"name"` when it is not letters, digits, `_` and `-`. */
function refTo(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? `@${name}` : `@${JSON.stringify(name)}`;
}

/** A template over the input objects: `actions` actions of up to `args` arguments each, with text around them. */
function templateArb(inputs: readonly string[]): fc.Arbitrary<{ template: string; actions: number; args: number; usesOwn: boolean }> {
  const ref = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...inputs.map(refTo)) },
    { weight: 1, arbitrary: fc.constantFrom('.k', '.', '.nested.a.b.c', '.list.2.c', '."key.with.dots"', '"lit"', '"{{"', '@missing') },
  );
  return fc
    .record({
      actions: size([1, 12], [2_000, 40_000]),
      args: size([1, 6], [500, 5_000]),
      helper: fc.constantFrom('', 'json ', 'base64 ', 'urlencode '),
      text: fc.constantFrom('', 'x=', '\n', '{"a":', '}}}', '{{{', 'é'),
      refs: fc.array(ref, { minLength: 1, maxLength: 4 }),
    })
    .map(({ actions, args, helper, text, refs }) => {
      // Large in one dimension at a time: many actions of a few arguments, or a few actions of many.
      const perAction = Math.min(actions > 100 ? Math.min(args, 3) : args, Math.floor(TEMPLATE_BYTES / (Math.max(...refs.map((r) => r.length)) + 1)));
      const oneAction = `{{ ${helper}${Array.from({ length: perAction }, (_, i) => refs[i % refs.length]).join(' ')} }}`;
      // Under 1 MiB of template whatever the names (a SecretProviderClass is a Kubernetes object: at most ~1.5 MiB).
      const count = Math.min(args > 100 ? Math.min(actions, 3) : actions, Math.max(1, Math.floor(TEMPLATE_BYTES / (text.length + oneAction.length))));
      return { template: Array.from({ length: count }, () => `${text}${oneAction}`).join(''), actions: count, args: perAction, usesOwn: refs.slice(0, perAction).some((r) => r.startsWith('.')) };
    });
}

/**
 * YAML tricks: the same objects written in ways a parser must survive, and junk beside them. `many` is the text of
 * the many small objects as block items (`- objectName: …`), appended as they are: the YAML library takes seconds
 * to write thousands of objects, the generator must not.
 */
type Trick = (objects: Obj[], many: readonly string[]) => string;
const block = (o: Obj[], many: readonly string[]): string => `${o.map(blockItem).join('')}${many.join('')}`;

/** One object as a block sequence item: the YAML library's plain style when small, JSON scalars (valid YAML) when large. */
function blockItem(o: Obj): string {
  const json = JSON.stringify(o);
  if (json.length < 4 * KiB) return stringify([o], { lineWidth: 0 });
  return `- ${Object.entries(o).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n  ')}\n`;
}
const TRICKS: Readonly<Record<string, Trick>> = {
  plain: block,
  flow: (o, many) => `[${[...o.map((x) => JSON.stringify(x)), ...many.map(blockItemToFlow)].join(', ')}]`,
  crlf: (o, many) => block(o, many).replace(/\n/g, '\r\n'),
  bom: (o, many) => `\uFEFF${block(o, many)}`,
  comments: (o, many) => `# objects\n${block(o, many).replace(/\n/g, ' # c\n')}`,
  'anchor-reuse': (o, many) => `- &first ${JSON.stringify(o[0])}\n${o.slice(1).map((x) => `- ${JSON.stringify(x)}\n`).join('')}- *first\n${many.join('')}`,
  'merge-key': (o, many) => `- &base ${JSON.stringify(o[0])}\n${o.slice(1).map((x) => `- <<: *base\n  objectName: ${JSON.stringify(x['objectName'])}\n`).join('')}${many.join('')}`,
  'duplicate-key': (o, many) => block(o, many).replace(/objectName: /, 'objectName: dup\n  objectName: '),
  tags: (o, many) => block(o, many).replace(/secretKey: (\S+)/, 'secretKey: !!str $1').replace(/filePermission: (\S+)/, 'filePermission: !!binary AAAA'),
  'custom-tag': (o, many) => block(o, many).replace(/secretPath: /, 'secretPath: !vault '),
  documents: (o, many) => `---\n${block(o, many)}---\n${block(o, [])}`,
  'huge-unknown-key': (o, many) => block(o, many).replace(/^- /, `- notes: |\n    ${'n'.repeat(1024 * KiB)}\n  `),
  'deep-unknown-key': (o, many) => block(o, many).replace(/^- /, `- notes: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n  `),
  'alias-fanout': (o, many) => {
    const levels = [`l0: &l0 [${Array(10).fill('"lol"').join(',')}]`];
    for (let i = 1; i < 7; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(',')}]`);
    return block(o, many).replace(/^- /, `- notes:\n${levels.map((l) => `    ${l}`).join('\n')}\n  `);
  },
  tabs: (o, many) => block(o, many).replace(/\n {2}/g, '\n\t'),
};

/** `- objectName: x\n  secretPath: y\n  secretKey: k\n` as a flow mapping. */
function blockItemToFlow(item: string): string {
  const fields = item.replace(/^- /, '').trim().split('\n').map((l) => l.trim().split(': '));
  return `{${fields.map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
}

const trickArb = fc.oneof(
  { weight: 10, arbitrary: fc.constant('plain') },
  { weight: 4, arbitrary: fc.constantFrom(...Object.keys(TRICKS).filter((t) => t !== 'plain')) },
);

/** Parameters a pod may put on top (volumeAttributes): mostly none, sometimes a bad one. */
const paramsArb: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({}) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Record<string, string>>(
      { vaultAuthMountPath: 'cert' },
      { vaultAddress: 'http://127.0.0.2:1' },
      { audience: 'x'.repeat(10 * KiB) },
      { vaultNamespace: 'n/'.repeat(2000) },
      { secretProviderClass: 's'.repeat(64 * KiB) },
      { unknownParameter: 'u'.repeat(256 * KiB) },
    ),
  },
);

export const hostileSpcArb: fc.Arbitrary<HostileSpc> = fc
  .record({
    inputs: fc.uniqueArray(fc.record({ name: hostileNameArb, source: sourceArb, inputOnly: fc.boolean(), mode: fc.integer({ min: 0, max: 0o777 }) }), {
      minLength: 1,
      maxLength: 6,
      selector: (i) => i.name,
    }),
    templates: fc.integer({ min: 0, max: 2 }),
    // A SecretProviderClass is a Kubernetes object (etcd keeps them under 1.5 MiB): 15,000 short objects fit.
    many: size([0, 0], [1_000, 12_000]),
    manyNameBytes: fc.constantFrom(8, 16, 40),
    trick: trickArb,
    params: paramsArb,
  })
  .chain((c) => fc.tuple(fc.constant(c), fc.array(templateArb(c.inputs.map((i) => i.name)), { minLength: c.templates, maxLength: c.templates })))
  .map(([c, templates]) => {
    // inputOnly only when a template names the object, and never with what an inputOnly object refuses (a file
    // mode, expand).
    const objects: Obj[] = c.inputs.map((i) => {
      const inputOnly = i.inputOnly && i.source['expand'] === undefined && templates.some((t) => t.template.includes(refTo(i.name)));
      return { objectName: i.name, ...i.source, ...(inputOnly ? { inputOnly: true } : { filePermission: i.mode }) };
    });
    templates.forEach((t, k) => objects.push({ objectName: `tpl-${k}`, template: t.template, ...(t.usesOwn || k === 1 ? { secretPath: 'secret/data/fz/small' } : {}) }));
    // Many objects: all on one small path, so the count (not Vault) is what is tested.
    const many = Array.from({ length: c.many }, (_, i) => `- objectName: m-${String(i).padStart(c.manyNameBytes, '0')}\n  secretPath: secret/data/fz/small\n  secretKey: k\n`);
    const text = TRICKS[c.trick]!(objects, many).replace(DEEP_MARK, (_, _q: string, depth: string) => nestedFlow(Number(depth)));
    const kind = [
      c.many > 0 ? 'many-objects' : undefined,
      templates.some((t) => t.actions > 100) ? 'many-actions' : undefined,
      templates.some((t) => t.args > 100) ? 'many-arguments' : undefined,
      c.inputs.some((i) => i.name.length > 255 || i.name.split('/').length > 100) ? 'long-names' : undefined,
      c.inputs.some((i) => i.source['secretPath'] === 'secret/data/fz/large' || i.source['secretPath'] === 'auth/token/lookup-self') ? 'large-value' : undefined,
      c.inputs.some((i) => JSON.stringify(i.source).length > 2 * KiB) ? 'nesting-or-large-args' : undefined,
      c.trick !== 'plain' ? `yaml:${c.trick}` : undefined,
      Object.keys(c.params).length > 0 ? `param:${Object.keys(c.params)[0]!}` : undefined,
    ].filter((k): k is string => k !== undefined);
    return {
      kind: kind.length === 0 ? 'ordinary' : kind.join('+'),
      objects: text,
      params: c.params,
      sizes: {
        objects: objects.length + many.length,
        textBytes: Buffer.byteLength(text),
        templateActions: Math.max(0, ...templates.map((t) => t.actions)),
        templateArgs: Math.max(0, ...templates.map((t) => t.args)),
        templateBytes: Math.max(0, ...templates.map((t) => t.template.length)),
      },
    };
  });
