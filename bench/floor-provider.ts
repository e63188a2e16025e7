// The floor of the benchmark: the least a Node.js provider can do for a Mount and still answer it. A grpc-js server
// on the Unix socket (proto-loader, as ours), a bare keep-alive undici Pool to Vault (as many connections as our
// transport), and per Mount: the attributes JSON parsed (the `objects` YAML once per text), one Kubernetes-auth
// login the first time a pod is seen (its Vault token kept by pod UID, as the reference keeps a client per pod),
// each distinct (method, path) requested once and in parallel, `secretKey` taken from `data.data` or `data`, the
// files answered. No logs, metrics, validation, budgets, rate limits, caching of secrets, object versions or
// Kubernetes API. Never shipped: bench/providers.ts transpiles it next to node_modules and runs it with the
// image's NODE_OPTIONS, pinned like ours, so the two are compared on the same terms.
//
// Usage: node floor-provider.mjs <socket path> <vault address> <service.proto>
import { rmSync } from 'node:fs';
import { Server, ServerCredentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Pool } from 'undici';
import { parse } from 'yaml';

interface FloorObject {
  readonly objectName: string;
  readonly secretPath: string;
  readonly secretKey?: string;
  readonly method?: string;
  readonly secretArgs?: Record<string, unknown>;
}

interface MountRequestMessage {
  readonly attributes: string;
  readonly target_path: string;
  readonly permission: string;
}

const [socketPath, vaultAddress, protoFile] = process.argv.slice(2);
if (socketPath === undefined || vaultAddress === undefined || protoFile === undefined) {
  process.stderr.write('usage: floor-provider <socket> <vault address> <service.proto>\n');
  process.exit(2);
}

const vault = new Pool(vaultAddress, { connections: 32, keepAliveTimeout: 30_000 });
/**
 * The `objects` YAML parsed, by its text: a volume sends the same text on every republish, and ours keeps its parse
 * too, so the floor does not pay a parse that any provider can skip (bounded: cleared past 1,000 texts).
 */
const parsedObjects = new Map<string, FloorObject[]>();
/** Vault token per pod UID: one login per new pod, none on republish. */
const tokens = new Map<string, Promise<string>>();

async function vaultJson(method: string, path: string, token: string | undefined, body: unknown): Promise<Record<string, unknown>> {
  const res = await vault.request({
    method,
    path,
    headers: { ...(token === undefined ? {} : { 'x-vault-token': token }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await res.body.json()) as Record<string, unknown>;
  if (res.statusCode !== 200) throw new Error(`${method} ${path}: HTTP ${res.statusCode}`);
  return parsed;
}

function login(podUid: string, role: string, jwt: string): Promise<string> {
  let token = tokens.get(podUid);
  if (token === undefined) {
    token = vaultJson('POST', '/v1/auth/kubernetes/login', undefined, { role, jwt }).then((r) => (r['auth'] as { client_token: string }).client_token);
    tokens.set(podUid, token);
    token.catch(() => tokens.delete(podUid));
  }
  return token;
}

async function mount(request: MountRequestMessage): Promise<{ files: Array<{ path: string; mode: number; contents: Buffer }> }> {
  const attributes = JSON.parse(request.attributes) as Record<string, string>;
  const text = attributes['objects'] ?? '[]';
  let objects = parsedObjects.get(text);
  if (objects === undefined) {
    if (parsedObjects.size >= 1000) parsedObjects.clear();
    objects = parse(text) as FloorObject[];
    parsedObjects.set(text, objects);
  }
  const tokenSet = JSON.parse(attributes['csi.storage.k8s.io/serviceAccount.tokens'] ?? '{}') as Record<string, { token: string }>;
  const jwt = tokenSet['vault']?.token ?? '';
  const token = await login(attributes['csi.storage.k8s.io/pod.uid'] ?? '', attributes['roleName'] ?? '', jwt);
  const reads = new Map<string, Promise<Record<string, unknown>>>();
  for (const o of objects) {
    const method = (o.method ?? 'GET').toUpperCase();
    const key = `${method} ${o.secretPath}`;
    if (!reads.has(key)) reads.set(key, vaultJson(method, `/v1/${o.secretPath}`, token, o.secretArgs));
  }
  const mode = Number.parseInt(request.permission || '420', 10);
  const files = await Promise.all(
    objects.map(async (o) => {
      const answer = await reads.get(`${(o.method ?? 'GET').toUpperCase()} ${o.secretPath}`)!;
      const data = answer['data'] as Record<string, unknown>;
      const inner = typeof data['data'] === 'object' && data['data'] !== null ? (data['data'] as Record<string, unknown>) : data;
      const value = o.secretKey === undefined ? answer : inner[o.secretKey];
      const contents = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
      return { path: o.objectName, mode, contents };
    }),
  );
  return { files };
}

const contract = loadPackageDefinition(loadSync(protoFile, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }));
const service = ((contract['v1alpha1'] as GrpcObject)['CSIDriverProvider'] as ServiceClientConstructor).service;
const server = new Server({ 'grpc.enable_channelz': 0 });
server.addService(service, {
  Version: (_call: unknown, callback: (err: ServiceError | null, value?: unknown) => void) =>
    callback(null, { version: 'v1alpha1', runtime_name: 'floor', runtime_version: '0' }),
  Mount: (call: { request: MountRequestMessage }, callback: (err: Partial<ServiceError> | null, value?: unknown) => void) => {
    mount(call.request).then(
      (answer) => callback(null, answer),
      (err: unknown) => callback({ code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
    );
  },
});
rmSync(socketPath, { force: true });
server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`floor: ${err.message}\n`);
    process.exit(1);
  }
});
process.on('SIGTERM', () => {
  server.forceShutdown();
  void vault.close().then(() => process.exit(0));
});
