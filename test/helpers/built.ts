/**
 * The compiled daemon (`dist/main.js`) for tests that run it as the image does. `npm test` builds first; a test run
 * without a build, or after a source change, fails here with the file that is out of date instead of running old
 * code or skipping. The check runs once per test process.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');
export const DIST_MAIN = join(DIST, 'main.js');

let checked: string | undefined;

/**
 * Every `src/**\/*.ts` newer than the bundle (all of them when there is none): `npm run build` bundles src/ into the
 * one file dist/main.js, so a source edited since the build makes it stale.
 */
export function staleDist(src = SRC, bundle = DIST_MAIN): string[] {
  const built = statSync(bundle, { throwIfNoEntry: false });
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && (built === undefined || built.mtimeMs < statSync(path).mtimeMs)) {
        stale.push(relative(ROOT, path));
      }
    }
  };
  walk(src);
  return stale;
}

/** `dist/main.js`, after checking that dist/ is built from the current src/; throws (never skips) otherwise. */
export function builtMain(): string {
  if (checked !== undefined) return checked;
  const stale = staleDist();
  if (stale.length > 0) {
    throw new Error(`dist/ is missing or older than src/ (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? `, and ${stale.length - 3} more` : ''}): run \`npm run build\` first (npm test does)`);
  }
  checked = DIST_MAIN;
  return checked;
}
