/** From package.json, so Version answers never drift from the package. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RUNTIME_NAME = 'vault-csi-provider-ts';

interface PackageJson {
  readonly name?: unknown;
  readonly version?: unknown;
}

/** The nearest directory above this module that holds package.json: the same from src/ (tsx) and the bundle in dist/. */
function packageDir(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}

/** Where package.json and proto/ are: the repository, or /app in the image. */
export const PACKAGE_DIR = packageDir(dirname(fileURLToPath(import.meta.url)));

function readPackage(): PackageJson {
  try {
    return JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return {};
  }
}

const pkg = readPackage();

export const VERSION = typeof pkg.version === 'string' ? pkg.version : '0.0.0';

export interface VersionInfo {
  readonly name: string;
  readonly version: string;
  readonly node: string;
  readonly platform: string;
}

export function versionInfo(): VersionInfo {
  return { name: RUNTIME_NAME, version: VERSION, node: process.version, platform: `${process.platform}/${process.arch}` };
}
