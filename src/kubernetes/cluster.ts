/** In-cluster config, like client-go's InClusterConfig. */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { errnoCode, ProviderError } from '../errors.js';
import type { KubeConfig } from './kube-client.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ClusterInfo {
  /** Talks to the API server as the provider's own ServiceAccount. */
  readonly kubeConfig: KubeConfig;
  /** The provider's namespace: where the HMAC Secret lives. */
  readonly namespace: string;
}

/** Reads a file as UTF-8; throws an errno-style error (`code: 'ENOENT'`) when it is missing. */
export type ReadTextFile = (path: string) => string;

const readUtf8: ReadTextFile = (path) => readFileSync(path, 'utf8');

/** Throws LOCAL_FILE_ERROR in a cluster whose files cannot be used: outside-cluster mode would give every node its own key. */
export function detectCluster(
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadTextFile = readUtf8,
  serviceAccountDir: string = SERVICE_ACCOUNT_DIR,
): ClusterInfo | undefined {
  const host = env['KUBERNETES_SERVICE_HOST']?.trim() ?? '';
  if (host === '') return undefined;
  const tokenFile = join(serviceAccountDir, 'token');
  if (readOptional(readFile, tokenFile) === undefined) return undefined;

  const port = env['KUBERNETES_SERVICE_PORT']?.trim() || '443';
  // Always https, as client-go does: the API server's service port serves TLS whatever its number.
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const caFile = join(serviceAccountDir, 'ca.crt');
  const hasCa = readOptional(readFile, caFile) !== undefined;

  const namespace = env['POD_NAMESPACE']?.trim() || readOptional(readFile, join(serviceAccountDir, 'namespace'))?.trim() || '';
  if (namespace === '') {
    throw new ProviderError(
      'LOCAL_FILE_ERROR',
      `running in a cluster but the provider's namespace is unknown: ${join(serviceAccountDir, 'namespace')} is missing or empty and POD_NAMESPACE is not set`,
      { parameter: 'POD_NAMESPACE' },
    );
  }

  const kubeConfig: KubeConfig = {
    server,
    skipTLSVerify: false,
    // Without ca.crt the system roots are used, as client-go does after logging the missing file.
    ...(hasCa ? { caFile } : {}),
    // The token is a projected, rotating file: the client re-reads it every minute, where a token copied into the
    // config now would expire within the hour.
    tokenFile,
  };
  return { kubeConfig, namespace };
}

/** One API server and a fixed bearer token (the tests' fake API server; `kubectl proxy`). */
export function kubeConfigFromUrl(server: string, token: string, options: { caData?: string; skipTLSVerify?: boolean } = {}): KubeConfig {
  return {
    server,
    skipTLSVerify: options.skipTLSVerify === true,
    ...(options.caData === undefined ? {} : { caData: options.caData }),
    token,
  };
}

/** The file's text, or undefined when it does not exist; any other failure is an error worth stopping for. */
function readOptional(readFile: ReadTextFile, path: string): string | undefined {
  try {
    return readFile(path);
  } catch (err: unknown) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ProviderError('LOCAL_FILE_ERROR', `cannot read ${path} (${code ?? 'error'})`, {}, { cause: err });
  }
}
