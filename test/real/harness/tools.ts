/**
 * The real suite's binaries: built (or found in the cache) by scripts/real/build-tools.sh, which prints
 * `tool=path` lines. Built once per run of the suite.
 */
import { execFileSync } from 'node:child_process';

const SCRIPT = new URL('../../../scripts/real/build-tools.sh', import.meta.url).pathname;

export type Tool = 'vault' | 'driver-client' | 'kube-apiserver' | 'etcd' | 'kubectl' | 'csi-driver' | 'csi-kubelet' | 'helm';

const paths = new Map<string, string>();

/** The path of a tool's binary, building it first when the cache lacks it. */
export function toolPath(tool: Tool): string {
  const known = paths.get(tool);
  if (known !== undefined) return known;
  const out = execFileSync('bash', [SCRIPT, tool], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of out.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) paths.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const built = paths.get(tool);
  if (built === undefined) throw new Error(`build-tools.sh printed no path for ${tool}`);
  return built;
}
