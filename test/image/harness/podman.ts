/**
 * podman as scripts/image/build.sh sets it up (scripts/image/podman-env.sh): its configuration, storage and run state
 * in the image cache, outside the repository; runc with cgroupfs. The image under test is the one build.sh built
 * last: its reference is in <cache>/image-ref.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const IMAGE_CACHE = process.env['VCP_IMAGE_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'vault-csi-provider-ts', 'image');

/** The environment every podman command of the tests runs with. */
export function podmanEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CONTAINERS_CONF: join(IMAGE_CACHE, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(IMAGE_CACHE, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(IMAGE_CACHE, 'registries.conf'),
  };
}

/** Runs podman and returns its stdout; fails with its stderr. */
export async function podman(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync('podman', args, { env: podmanEnv(), maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs });
    return stdout;
  } catch (err: unknown) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    throw new Error(`podman ${args.slice(0, 3).join(' ')}: ${err instanceof Error ? err.message : String(err)}\n${stderr}`, { cause: err });
  }
}

/** The image scripts/image/build.sh built last. */
export function builtImage(): string {
  const ref = join(IMAGE_CACHE, 'image-ref');
  if (!existsSync(ref)) throw new Error(`no image built yet (${ref} is missing): run npm run test:image, or bash scripts/image/build.sh`);
  return readFileSync(ref, 'utf8').trim();
}

/** What `podman image inspect` says of an image, the fields the tests read. */
export interface ImageInspect {
  readonly Id: string;
  readonly Size: number;
  readonly Config: {
    readonly User?: string;
    readonly Env?: readonly string[];
    readonly Entrypoint?: readonly string[];
    readonly Cmd?: readonly string[];
    readonly WorkingDir?: string;
    readonly ExposedPorts?: Readonly<Record<string, unknown>>;
    readonly Labels?: Readonly<Record<string, string>>;
  };
  readonly RootFS: { readonly Layers: readonly string[] };
}

export async function inspectImage(image: string): Promise<ImageInspect> {
  const [info] = JSON.parse(await podman(['image', 'inspect', image])) as ImageInspect[];
  if (info === undefined) throw new Error(`podman image inspect ${image}: nothing`);
  return info;
}
