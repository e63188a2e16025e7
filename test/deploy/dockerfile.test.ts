/**
 * The Dockerfile, checked as text (`npm run test:image` builds and runs it: test/image/): what it copies exists and
 * survives .dockerignore, no test code can reach the build context, the base is a pinned Node 20, the runtime stage
 * is non-root with the provider as entrypoint, labelled last. The runtime stage's layout staged with `npm ci` is
 * test/deploy/dockerfile.slow.ts (`npm run test:slow`).
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { imageNodeFlags, imageNodeOptions } from '../../scripts/image/dockerfile.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

interface Instruction {
  readonly op: string;
  readonly args: string;
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Dockerfile → stages of instructions (comments dropped, `\` continuations joined, ARG defaults substituted). */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [op = '', ...rest] = line.split(/\s+/);
    const argText = rest.join(' ');
    if (op.toUpperCase() === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = argText.split('=');
      args.set(name, value);
    } else if (op.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(argText)!;
      const from = m[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? '');
      stages.push({ from, name: m[2], instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args: argText });
    }
  }
  return { args, stages };
}

/** .dockerignore semantics: the last rule that matches the path or one of its parents decides; `!` re-includes. */
function dockerIgnored(rules: readonly string[], path: string): boolean {
  const toRegex = (pattern: string): RegExp =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '<<any>>').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/<<any>>/g, '.*')}$`);
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of rules) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = toRegex(pattern);
    if (candidates.some((c) => re.test(c))) ignored = !negate;
  }
  return ignored;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.name === 'node_modules' || entry.name === '.git') {
      out.push(path);
      continue;
    }
    if (entry.isDirectory()) out.push(...(await listFiles(dir, path)));
    else out.push(path);
  }
  return out;
}

describe('Dockerfile and .dockerignore', function () {
  let stages: Stage[];
  let ignoreRules: string[];

  before(async () => {
    ({ stages } = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8')));
    ignoreRules = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  });

  it('builds on one pinned Node 20 base in every stage', () => {
    assert.equal(stages.length, 3);
    for (const s of stages) assert.match(s.from, /^node:20\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/, s.from);
    assert.equal(new Set(stages.map((s) => s.from)).size, 1);
  });

  it('copies only files that exist and that .dockerignore lets through', async () => {
    let sources = 0;
    for (const s of stages) {
      for (const i of s.instructions.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from='))) {
        const parts = i.args.split(/\s+/);
        for (const src of parts.slice(0, -1)) {
          sources += 1;
          await stat(join(ROOT, src)); // throws if missing
          assert.equal(dockerIgnored(ignoreRules, src), false, `${src} is excluded from the build context`);
        }
      }
    }
    assert.ok(sources >= 7);
  });

  it('keeps tests, the test Vault server, scripts, deploy/ and examples/ out of the build context', async () => {
    const context = (await listFiles(ROOT)).filter((p) => !dockerIgnored(ignoreRules, p));
    assert.ok(context.includes('src/main.ts'));
    assert.ok(context.includes('proto/service.proto'));
    for (const p of context) {
      assert.match(p, /^(?:src\/|proto\/|package\.json$|package-lock\.json$|tsconfig(?:\.build)?\.json$|Dockerfile$|scripts\/(?:build|code-cache|image\/dockerfile)\.ts$)/, `${p} would be sent to the build`);
    }
    for (const p of ['test/vault-server/index.ts', 'test/e2e/mount.test.ts', 'node_modules', '.git', 'dist/main.js', 'scripts/demo.ts', 'scripts/image/test.sh', 'examples/dotfile.yaml']) {
      assert.equal(dockerIgnored(ignoreRules, p), true, p);
    }
  });

  it('runs the provider, non-root by default, from dist/ with production dependencies only', () => {
    const runtime = stages.at(-1)!;
    const op = (name: string) => runtime.instructions.filter((i) => i.op === name).map((i) => i.args);
    assert.deepEqual(op('USER'), ['1000:1000']);
    assert.deepEqual(op('ENTRYPOINT'), ['["node", "--liftoff-only", "/app/dist/main.js"]']);
    assert.deepEqual(op('CMD'), ['["--endpoint=/provider/vault.sock"]']);
    assert.deepEqual(
      op('COPY').sort(),
      ['--from=build /src/dist ./dist', '--from=deps /app/node_modules ./node_modules', '--from=deps /sbom.cdx.json ./sbom.cdx.json', 'package.json ./', 'proto ./proto'].sort(),
    );
    const deps = stages.find((s) => s.name === 'deps')!;
    assert.ok(deps.instructions.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args)));
    const build = stages.find((s) => s.name === 'build')!;
    assert.ok(build.instructions.some((i) => i.op === 'RUN' && i.args === 'npm run build'));
  });

  it('labels the image last (OCI version, revision, created, source, licence, base; the SBOM path), so a new commit rebuilds no layer', async () => {
    const runtime = stages.at(-1)!;
    const ops = runtime.instructions.map((i) => i.op);
    const firstArg = ops.indexOf('ARG');
    assert.ok(firstArg > Math.max(ops.lastIndexOf('RUN'), ops.lastIndexOf('COPY'), ops.lastIndexOf('ENV')), 'the per-build ARGs come after every layer');
    assert.ok(ops.slice(firstArg).every((op) => op === 'ARG' || op === 'LABEL'), ops.slice(firstArg).join(' '));
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };
    const args = new Map(runtime.instructions.filter((i) => i.op === 'ARG').map((i) => [i.args.split('=')[0]!, i.args.split('=')[1]]));
    assert.deepEqual([...args.keys()].sort(), ['CREATED', 'NODE_IMAGE', 'REVISION', 'SOURCE', 'VERSION']);
    assert.equal(args.get('VERSION'), pkg.version, 'VERSION defaults to package.json version (a plain docker build labels it right)');
    const labels = new Map<string, string>();
    for (const i of runtime.instructions.filter((x) => x.op === 'LABEL')) {
      for (const m of i.args.matchAll(/([\w.-]+)="([^"]*)"/g)) labels.set(m[1]!, m[2]!);
    }
    assert.deepEqual(Object.fromEntries(labels), {
      'org.opencontainers.image.title': 'vault-csi-provider-ts',
      'org.opencontainers.image.description': 'Secrets Store CSI Driver provider for HashiCorp Vault, in TypeScript',
      'org.opencontainers.image.licenses': pkg.license,
      'org.opencontainers.image.version': '${VERSION}',
      'org.opencontainers.image.revision': '${REVISION}',
      'org.opencontainers.image.created': '${CREATED}',
      'org.opencontainers.image.source': '${SOURCE}',
      'org.opencontainers.image.base.name': '${NODE_IMAGE}',
      'vault-csi-provider-ts.sbom': '/app/sbom.cdx.json',
    });
    const deps = stages.find((s) => s.name === 'deps')!;
    assert.ok(deps.instructions.some((i) => i.op === 'RUN' && /npm sbom --sbom-format=cyclonedx > \/sbom\.cdx\.json$/.test(i.args)));
  });

  it('sizes V8 for a DaemonSet with NODE_OPTIONS in the runtime stage (the line the benchmark starts the provider with)', () => {
    const runtime = stages.at(-1)!;
    const env = runtime.instructions.filter((i) => i.op === 'ENV' && i.args.startsWith('NODE_OPTIONS='));
    assert.equal(env.length, 1);
    assert.deepEqual(imageNodeOptions(), ['--max-semi-space-size=4', '--max-old-space-size=96', '--v8-pool-size=1']);
    assert.deepEqual(imageNodeFlags(), [...imageNodeOptions(), '--liftoff-only'], 'and the ENTRYPOINT\'s V8 flags, which NODE_OPTIONS refuses');
    assert.deepEqual(imageNodeOptions('ENV NODE_OPTIONS=--a\nENV NODE_OPTIONS="--b --c"\n'), ['--b', '--c']);
    assert.throws(() => imageNodeOptions('FROM x\n'), /no NODE_OPTIONS/);
  });
});
