/**
 * Stand-ins for dependencies of our dependencies that load megabytes of code we never run, in a DaemonSet whose
 * memory budget is 100 MiB (measured with /proc/<pid>/status at idle, RssAnon):
 *
 * - node-vault `require`s axios (with form-data, follow-redirects, proxy agents: about 5 MiB) although a client
 *   built with the `request-promise` option, as all of ours are (transport.ts), never calls it;
 * - prom-client's process CPU metric `require`s @opentelemetry/api (51 files, about 2 MiB) only to attach
 *   exemplars, which we never enable.
 *
 * A stand-in is put in the require cache at the path the dependent package would load, before that package loads.
 * It does nothing harmful if reached: axios's `create` throws (nothing of ours could be sent through it), and the
 * OpenTelemetry API reports no active span, which is what the real one reports when no SDK is registered.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);

export const AXIOS_STAND_IN = Object.freeze({
  create(): never {
    throw new Error("node-vault's axios transport is not used by this provider; every client gets the undici transport");
  },
});

export const OPENTELEMETRY_STAND_IN = Object.freeze({
  context: Object.freeze({ active: (): undefined => undefined }),
  trace: Object.freeze({ getSpan: (): undefined => undefined }),
});

/** Installs `exports` as `dependency` for `dependent`; false when the dependency cannot be found or already loaded. */
export function installStandIn(dependent: string, dependency: string, exports: object): boolean {
  let path: string;
  try {
    path = require.resolve(dependency, { paths: [dirname(require.resolve(dependent))] });
  } catch {
    // A version of `dependent` that no longer needs it: nothing to keep out.
    return false;
  }
  if (require.cache[path] !== undefined) return false;
  const Module = require('node:module') as new (id: string) => NodeJS.Module;
  const module = new Module(path);
  module.exports = exports;
  module.loaded = true;
  module.filename = path;
  require.cache[path] = module;
  return true;
}
