/** node-vault, loaded after its axios has been replaced by a stand-in (../stand-ins.ts says why). */
import { createRequire } from 'node:module';
import type NodeVault from 'node-vault';
import { AXIOS_STAND_IN, installStandIn } from '../stand-ins.js';

installStandIn('node-vault', 'axios', AXIOS_STAND_IN);
const nodeVault = createRequire(import.meta.url)('node-vault') as typeof NodeVault;
export default nodeVault;
