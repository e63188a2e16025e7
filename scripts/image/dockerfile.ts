/**
 * What the image sets for Node: the `NODE_OPTIONS` of the Dockerfile's runtime stage (the last `ENV
 * NODE_OPTIONS=` line). The benchmark starts the provider with exactly these, so the memory it reports is the
 * image's, and the build writes the V8 code cache under them (scripts/build.ts); the Dockerfile test checks that they
 * are there and what they hold.
 */
import { readFileSync } from 'node:fs';

const DOCKERFILE = new URL('../../Dockerfile', import.meta.url);

export function imageNodeOptions(text: string = readFileSync(DOCKERFILE, 'utf8')): readonly string[] {
  let options: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\s*ENV\s+NODE_OPTIONS=(?:"([^"]*)"|(\S*))\s*$/.exec(line);
    if (m !== null) options = m[1] ?? m[2] ?? '';
  }
  if (options === undefined) throw new Error('the Dockerfile sets no NODE_OPTIONS');
  return options.split(/\s+/).filter(Boolean);
}

/**
 * The environment the image gives the provider: the `ENV` lines of the Dockerfile's runtime stage (NODE_ENV and
 * NODE_OPTIONS), as name → value. The isolation suite starts the daemon with exactly these.
 */
export function imageEnv(text: string = readFileSync(DOCKERFILE, 'utf8')): Readonly<Record<string, string>> {
  const stages = text.split(/^FROM\s/m);
  const runtime = stages[stages.length - 1] ?? '';
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n')) {
    const m = /^\s*ENV\s+([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))\s*$/.exec(line);
    if (m !== null) env[m[1]!] = m[2] ?? m[3] ?? '';
  }
  return env;
}

/**
 * The flags `node` gets in the image: the ENTRYPOINT's own (V8 flags that NODE_OPTIONS does not accept, such as
 * --liftoff-only), after NODE_OPTIONS'. What the benchmarks and soaks start the provider with.
 */
export function imageNodeFlags(text: string = readFileSync(DOCKERFILE, 'utf8')): readonly string[] {
  return [...imageNodeOptions(text), ...imageEntrypointFlags(text)];
}

/** The ENTRYPOINT's own node flags, between `node` and the script: with imageEnv()'s NODE_OPTIONS, the image's command line. */
export function imageEntrypointFlags(text: string = readFileSync(DOCKERFILE, 'utf8')): readonly string[] {
  const entry = /^\s*ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text.split(/^FROM\s/m).at(-1) ?? '');
  if (entry === null) throw new Error('the Dockerfile has no ENTRYPOINT in exec form');
  const argv = JSON.parse(entry[1]!) as string[];
  const script = argv.findIndex((a) => a.endsWith('.js'));
  if (argv[0] !== 'node' || script < 1) throw new Error(`the ENTRYPOINT is not node <flags> <script>: ${entry[1]}`);
  return argv.slice(1, script);
}
