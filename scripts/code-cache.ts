// `node <the image's flags> --import tsx scripts/code-cache.ts DIST`: runs the bundle in DIST as `--version` and, as
// the process exits, writes DIST/provider.cjs.cache with what V8 compiled of it. Called by scripts/build.ts.
import { compileProvider } from '../src/boot/provider-cache.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: code-cache.ts DIST');
const provider = compileProvider(dir);
process.argv.splice(2, Infinity, '--version');
process.once('exit', () => provider.writeCache());
provider.run();
