/**
 * The Helm chart deploy/helm/vault-csi-provider without helm: its values name every daemon flag of src/cli/flags.ts
 * and no other, their defaults start the daemon as deploy/base does, and its templates read only values that
 * exist. helm itself lints, renders and applies the chart in the real suite (test/real/suite/helm.real.ts).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { FLAGS, parseFlags } from '../../src/cli/flags.js';
import { isObject, renderKustomization } from '../helpers/kustomize.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const CHART = join(ROOT, 'deploy/helm/vault-csi-provider');

/** Flags that make the binary print its version and exit: not daemon settings, and refused by the chart. */
const NOT_DAEMON_SETTINGS = ['version', 'output'];

type Values = Record<string, unknown> & { flags: Record<string, unknown> };

/**
 * The chart's rule (templates/_helpers.tpl, "vault-csi-provider.args"): true → --name, a non-empty value →
 * --name=value, "", null and false → not passed. helm.real.ts checks helm's own rendering against deploy/base.
 */
function argsOf(flags: Record<string, unknown>): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(flags)) {
    if (value === true) args.push(`--${name}`);
    else if ((typeof value === 'string' && value !== '') || typeof value === 'number') args.push(`--${name}=${String(value)}`);
  }
  return args.sort();
}

async function baseContainer(): Promise<{ args: string[]; env: Record<string, string>; image: string }> {
  const ds = (await renderKustomization(join(ROOT, 'deploy/base'))).find((o) => o.kind === 'DaemonSet') as unknown as IDaemonSet;
  const c = ds.spec!.template.spec!.containers.find((x) => x.name === 'provider')!;
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return { args: [...(c.args ?? [])].sort(), env, image: c.image! };
}

/** Every `.Values.a.b` path the templates read (the first segment after a `with`/`range` is not followed). */
async function valuePathsInTemplates(): Promise<string[]> {
  const dir = join(CHART, 'templates');
  const paths = new Set<string>();
  for (const file of await readdir(dir)) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const m of text.matchAll(/\.Values((?:\.[A-Za-z][A-Za-z0-9]*)+)/g)) paths.add(m[1]!.slice(1));
  }
  return [...paths].sort();
}

describe('deploy: the Helm chart', () => {
  let values: Values;
  before(async () => {
    values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as Values;
    assert.ok(isObject(values.flags), 'values.yaml has a flags map');
  });

  it('has a value for every daemon flag of src/cli/flags.ts', () => {
    const missing = FLAGS.map((f) => f.name).filter((n) => !NOT_DAEMON_SETTINGS.includes(n) && !(n in values.flags));
    assert.deepEqual(missing, []);
    assert.ok(Object.keys(values.flags).length >= 25, `${Object.keys(values.flags).length} flags`);
  });

  it('names no flag the daemon does not know, nor -version/-output', () => {
    const known = new Set(FLAGS.map((f) => f.name));
    assert.deepEqual(Object.keys(values.flags).filter((n) => !known.has(n)), []);
    for (const n of NOT_DAEMON_SETTINGS) {
      assert.ok(known.has(n), `-${n} is a flag of the binary`);
      assert.ok(!(n in values.flags), `flags.${n} is not a value`);
    }
  });

  it('gives each boolean flag false and each other flag a string, so an unset value passes nothing', () => {
    for (const f of FLAGS.filter((x) => x.name in values.flags)) {
      const v = values.flags[f.name];
      if (f.kind === 'bool') assert.equal(v, false, `flags.${f.name}: the daemon's default is false`);
      else assert.equal(typeof v, 'string', `flags.${f.name}`);
    }
  });

  it('starts the daemon with the defaults as deploy/base does: same args, same settings, same image and VAULT_ADDR', async () => {
    const base = await baseContainer();
    const args = argsOf(values.flags);
    assert.deepEqual(args, base.args);
    const env = values.env as Record<string, string>;
    assert.deepEqual(env, { VAULT_ADDR: base.env.VAULT_ADDR });
    assert.deepEqual(parseFlags(args, env), parseFlags(base.args, base.env));

    const chart = parse(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string; version: string };
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.appVersion, pkg.version);
    const image = values.image as { repository: string; tag: string };
    assert.equal(`${image.repository}:${image.tag || chart.appVersion}`, base.image);
  });

  it('every non-default value set here parses as a flag the daemon accepts', () => {
    const flags = { ...values.flags, 'cache-size': '2000', 'lease-reuse-fraction': '0.5', 'vault-mount': 'jwt', 'write-files': true, 'log-level': 'debug' };
    const parsed = parseFlags(argsOf(flags), {});
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    assert.equal(parsed.settings.cacheSize, 2000);
    assert.equal(parsed.settings.leaseReuseFraction, 0.5);
    assert.equal(parsed.settings.defaults.vaultMount, 'jwt');
    assert.equal(parsed.settings.writeFiles, true);
    assert.equal(parsed.settings.logLevel, 'debug');
  });

  it('reads in its templates only values that values.yaml defines', async () => {
    const paths = await valuePathsInTemplates();
    assert.ok(paths.includes('flags') && paths.includes('providerSocket.hostPath'), paths.join(', '));
    const undefinedPaths = paths.filter((p) => {
      let at: unknown = values;
      for (const key of p.split('.')) {
        if (!isObject(at) || !(key in at)) return true;
        at = at[key];
      }
      return false;
    });
    assert.deepEqual(undefinedPaths, []);
  });
});
