/**
 * node-vault, loaded without the HTTP stack it would never use here.
 *
 * node-vault `require`s axios when it loads, although a client built with the `request-promise` option (ours:
 * transport.ts) never calls it. Loading axios costs about 5 MiB of resident memory in the provider (it pulls in
 * form-data, follow-redirects, proxy agents; measured with /proc/<pid>/status at idle), out of a DaemonSet budget
 * of 100 MiB. So the module node-vault would get for `axios` is put in the require cache first: a stand-in
 * whose `create` fails loudly should node-vault ever take the path that needs it.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type NodeVault from 'node-vault';

const require = createRequire(import.meta.url);

/** The stand-in for axios; exported for the test that proves node-vault loads without the real one. */
export const AXIOS_STAND_IN = Object.freeze({
  create(): never {
    throw new Error("node-vault's axios transport is not used by this provider; every client gets the undici transport");
  },
});

function preloadAxiosStandIn(): void {
  let axiosPath: string;
  try {
    axiosPath = require.resolve('axios', { paths: [dirname(require.resolve('node-vault'))] });
  } catch {
    // A node-vault that no longer depends on axios: nothing to keep out.
    return;
  }
  if (require.cache[axiosPath] !== undefined) return;
  const module = new (require('node:module') as { new (id: string): NodeJS.Module })(axiosPath);
  module.exports = AXIOS_STAND_IN;
  module.loaded = true;
  module.filename = axiosPath;
  require.cache[axiosPath] = module;
}

preloadAxiosStandIn();

const nodeVault = require('node-vault') as typeof NodeVault;
export default nodeVault;
