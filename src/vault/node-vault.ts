/** node-vault, loaded after its axios has been replaced by a stand-in (../stand-ins.ts says why). */
import { createRequire } from 'node:module';
import type NodeVault from 'node-vault';
import { installStandIns } from '../stand-ins.js';

installStandIns();
const nodeVault = createRequire(import.meta.url)('node-vault') as typeof NodeVault;
export default nodeVault;
