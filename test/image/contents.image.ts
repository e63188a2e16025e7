/**
 * The built image, read as a registry or a scanner reads it: its configuration (user, entrypoint, NODE_OPTIONS,
 * labels), its size and layers (reported), its files (the image mounted read-only with `podman image mount`), the
 * SBOM inside it, and the version it prints. What must not be in it fails here: npm, npx, corepack or yarn; tests,
 * the test Vault server, TypeScript sources; a dev dependency; a file of the provider that its user could change.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { imageNodeOptions } from '../../scripts/image/dockerfile.js';
import { builtImage, inspectImage, podman, type ImageInspect } from './harness/podman.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
/** Dev dependencies no production package needs (the lockfile's `dev` flags catch the rest). */
const DEV_TOOLS = ['typescript', 'mocha', 'tsx', 'c8', 'eslint', 'typescript-eslint', 'fast-check', 'kubernetes-models', '@peculiar/x509'];

interface PackageLock {
  readonly packages: Readonly<Record<string, { readonly version?: string; readonly dev?: boolean; readonly optional?: boolean; readonly devOptional?: boolean }>>;
}

interface CycloneDx {
  readonly bomFormat: string;
  readonly specVersion: string;
  readonly metadata: { readonly component: { readonly name: string; readonly version: string; readonly purl: string } };
  readonly components: ReadonlyArray<{ readonly name: string; readonly version: string; readonly group?: string; readonly scope?: string }>;
}

/** Every path under `dir` (relative, with `/` first), directories included; symlinks are not followed. */
async function walk(dir: string, base = dir, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(`/${relative(base, p)}`);
    if (e.isDirectory()) await walk(p, base, out);
  }
  return out;
}

/** The packages installed in a node_modules tree, keyed as package-lock.json keys them (node_modules/a/node_modules/@s/b). */
async function installedPackages(appDir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const visit = async (modules: string): Promise<void> => {
    const entries = await readdir(join(appDir, modules), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const names = e.name.startsWith('@') ? (await readdir(join(appDir, modules, e.name))).map((n) => `${e.name}/${n}`) : [e.name];
      for (const name of names) {
        const key = `${modules}/${name}`;
        const pkg = JSON.parse(await readFile(join(appDir, key, 'package.json'), 'utf8')) as { version: string };
        found.set(key, pkg.version);
        await visit(`${key}/node_modules`);
      }
    }
  };
  await visit('node_modules');
  return found;
}

describe('the image: configuration, labels, files, SBOM', function () {
  this.timeout(180_000);
  let image: string;
  let info: ImageInspect;
  let rootfs: string;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
    dependencies: Record<string, string>;
  };

  before(async () => {
    image = builtImage();
    info = await inspectImage(image);
    rootfs = (await podman(['image', 'mount', image])).trim();
  });

  after(async () => {
    if (image !== undefined) await podman(['image', 'unmount', image]).catch(() => undefined);
  });

  it('reports its size and layers', async () => {
    const history = (await podman(['history', '--format', '{{.Size}}\t{{.CreatedBy}}', image])).trim().split('\n');
    const mib = (info.Size / 1024 / 1024).toFixed(1);
    console.log(`      ${image}: ${mib} MiB, ${info.RootFS.Layers.length} layers, ${history.length} history entries`);
    for (const line of history) console.log(`        ${line.replace(/\s+/g, ' ').slice(0, 140)}`);
    assert.ok(info.RootFS.Layers.length > 1);
    assert.ok(info.Size > 0);
  });

  it('runs node dist/main.js as 1000:1000 with the Dockerfile NODE_OPTIONS, and no npm left on PATH', () => {
    assert.equal(info.Config.User, '1000:1000');
    assert.deepEqual(info.Config.Entrypoint, ['node', '--liftoff-only', '/app/dist/main.js']);
    assert.deepEqual(info.Config.Cmd, ['--endpoint=/provider/vault.sock']);
    assert.equal(info.Config.WorkingDir, '/app');
    assert.deepEqual(Object.keys(info.Config.ExposedPorts ?? {}), ['8080/tcp']);
    const env = new Map((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    assert.deepEqual(env.get('NODE_OPTIONS')?.split(' '), [...imageNodeOptions()]);
    assert.equal(env.get('NODE_ENV'), 'production');
  });

  it('carries the OCI labels: version = package.json, revision and created from git, licence, source, base, SBOM path', () => {
    const labels = info.Config.Labels ?? {};
    assert.equal(labels['org.opencontainers.image.version'], pkg.version);
    assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
    assert.equal(labels['org.opencontainers.image.title'], 'vault-csi-provider-ts');
    const git = (args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    assert.equal(labels['org.opencontainers.image.revision'], git(['rev-parse', 'HEAD']));
    assert.equal(labels['org.opencontainers.image.created'], git(['log', '-1', '--format=%cI']));
    assert.ok('org.opencontainers.image.source' in labels);
    assert.match(labels['org.opencontainers.image.base.name'] ?? '', /^localhost\/vault-csi-provider-ts\/node-standin:20\.\d+\.\d+-bookworm-slim$/);
    assert.equal(labels['vault-csi-provider-ts.sbom'], '/app/sbom.cdx.json');
  });

  it('prints the version of package.json and its labels with --version, under the DaemonSet restrictions', async () => {
    const out = await podman(['run', '--rm', '--pull=never', '--network=none', '--read-only', '--read-only-tmpfs=false', '--cap-drop=ALL', '--security-opt=no-new-privileges', image, '--version']);
    const printed = JSON.parse(out) as { version: string; node: string };
    assert.equal(printed.version, pkg.version);
    assert.equal(printed.version, info.Config.Labels?.['org.opencontainers.image.version']);
    const pinned = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-/m.exec(await readFile(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    assert.equal(printed.node, `v${pinned}`, 'the stand-in base runs the Node version the Dockerfile pins');
  });

  it('holds no npm, npx, corepack or yarn', async () => {
    const paths = await walk(join(rootfs, 'usr', 'local'), rootfs);
    const opt = await walk(join(rootfs, 'opt'), rootfs);
    const found = [...paths, ...opt].filter((p) => /(?:^|\/)(?:npm|npx|corepack|yarn|yarnpkg|yarn-v[\d.]+)$/.test(p));
    assert.deepEqual(found, []);
    assert.ok(paths.includes('/usr/local/bin/node'));
  });

  it('adds nothing to its base outside /app (nothing of the build left behind), and removes only npm, corepack and yarn', async () => {
    const base = info.Config.Labels?.['org.opencontainers.image.base.name'] ?? '';
    const baseRoot = (await podman(['image', 'mount', base])).trim();
    try {
      const skip = (p: string): boolean => p === '/app' || p.startsWith('/app/');
      const mine = new Set((await walk(rootfs)).filter((p) => !skip(p)));
      const theirs = new Set(await walk(baseRoot));
      // buildah leaves behind the mount point of the /etc/hosts it bind-mounts into each RUN: empty, and every
      // container runtime mounts its own over it.
      assert.equal((await stat(join(rootfs, 'etc', 'hosts'))).size, 0);
      assert.deepEqual([...mine].filter((p) => !theirs.has(p) && p !== '/etc/hosts'), [], 'added to the base');
      const removed = [...theirs].filter((p) => !mine.has(p) && !/^\/(?:usr\/local\/lib\/node_modules\/(?:npm|corepack)|opt\/yarn-v[\d.]+)(?:\/|$)/.test(p));
      assert.deepEqual(removed.sort(), ['/usr/local/bin/corepack', '/usr/local/bin/npm', '/usr/local/bin/npx', '/usr/local/bin/yarn', '/usr/local/bin/yarnpkg']);
    } finally {
      await podman(['image', 'unmount', base]).catch(() => undefined);
    }
  });

  it('holds in /app only dist/, proto/, the production node_modules, package.json and the SBOM', async () => {
    assert.deepEqual((await readdir(join(rootfs, 'app'))).sort(), ['dist', 'node_modules', 'package.json', 'proto', 'sbom.cdx.json']);
    const app = await walk(join(rootfs, 'app'), join(rootfs, 'app'));
    // No test code (the test Vault server included) and no TypeScript sources: dist/ is what npm run build writes,
    // the loader, the one bundle, its code cache, their source maps and the licences of what the bundle holds.
    assert.deepEqual(app.filter((p) => p.startsWith('/dist/')).sort(), ['/dist/main.js', '/dist/main.js.map', '/dist/provider.cjs', '/dist/provider.cjs.LEGAL.txt', '/dist/provider.cjs.cache', '/dist/provider.cjs.map']);
    assert.deepEqual(app.filter((p) => !p.startsWith('/node_modules/') && /\.(?:ts|mts|cts)$/.test(p)), []);
    assert.deepEqual(app.filter((p) => /(?:^|\/)(?:test|vault-server)(?:\/|$)/.test(p) && !p.startsWith('/node_modules/')), []);
  });

  it('holds exactly the production dependencies of package-lock.json: no dev dependency', async () => {
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as PackageLock;
    const installed = await installedPackages(join(rootfs, 'app'));
    for (const tool of DEV_TOOLS) assert.equal(installed.has(`node_modules/${tool}`), false, `${tool} is a dev dependency`);
    for (const [key, version] of installed) {
      const entry = lock.packages[key];
      assert.ok(entry !== undefined, `${key} is not in package-lock.json`);
      assert.notEqual(entry.dev, true, `${key} is a dev-only package`);
      assert.equal(version, entry.version, key);
    }
    for (const [key, entry] of Object.entries(lock.packages)) {
      if (key === '' || entry.dev === true || entry.optional === true) continue;
      assert.ok(installed.has(key), `${key} (production) is missing`);
    }
  });

  it('lets neither the DaemonSet user (root without capabilities) nor 1000 change a file of the provider', async () => {
    for (const p of ['/app', ...(await walk(join(rootfs, 'app'), rootfs))]) {
      const s = await lstat(join(rootfs, p));
      if (s.isSymbolicLink()) continue;
      assert.equal(s.uid, 0, `${p} is owned by ${s.uid}`);
      assert.equal(s.mode & 0o022, 0, `${p} is writable by group or others (${(s.mode & 0o777).toString(8)})`);
    }
  });

  it('holds a CycloneDX SBOM of exactly the installed production packages at the labelled path', async () => {
    const sbom = JSON.parse(await readFile(join(rootfs, 'app', 'sbom.cdx.json'), 'utf8')) as CycloneDx;
    assert.equal(sbom.bomFormat, 'CycloneDX');
    assert.match(sbom.specVersion, /^1\.\d+$/);
    // npm names the root component after its directory (app); its purl and bom-ref name the package.
    assert.equal(sbom.metadata.component.purl, `pkg:npm/vault-csi-provider-ts@${pkg.version}`);
    assert.equal(sbom.metadata.component.version, pkg.version);
    const installed = await installedPackages(join(rootfs, 'app'));
    const want = new Set([...installed].map(([key, version]) => `${key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${version}`));
    const have = new Set(sbom.components.map((c) => `${c.group === undefined || c.group === '' ? '' : `${c.group}/`}${c.name}@${c.version}`));
    assert.deepEqual([...have].sort(), [...want].sort());
    for (const tool of DEV_TOOLS) assert.equal(sbom.components.some((c) => c.name === tool), false, `${tool} in the SBOM`);
  });
});
