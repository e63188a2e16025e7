/** From package.json (one level above src/ and dist/), so Version answers never drift from the package. */
import { readFileSync } from 'node:fs';

export const RUNTIME_NAME = 'vault-csi-provider-ts';

interface PackageJson {
  readonly name?: unknown;
  readonly version?: unknown;
}

function readPackage(): PackageJson {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as PackageJson;
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
