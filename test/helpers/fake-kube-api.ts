/**
 * A small fake Kubernetes API server: a real HTTP server on 127.0.0.1 speaking the REST shapes of the calls the
 * provider makes (TokenRequest create; Secret get and create), so src/kubernetes/ is tested through
 * our Kubernetes client and the wire, not through mocks. It checks the bearer token, records the traffic without
 * bodies, and has knobs for the failures the provider must survive.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { decodeSecret, KUBE_PROTOBUF } from './kube-protobuf.js';

export const FAKE_KUBE_API_TOKEN = 'fake-kube-api-bearer-token';

/** What one TokenRequest asked for; safe to record (a TokenRequest's spec holds no credential). */
export interface TokenRequestRecord {
  readonly namespace: string;
  readonly serviceAccountName: string;
  readonly apiVersion: unknown;
  readonly kind: unknown;
  readonly audiences: readonly string[] | undefined;
  readonly expirationSeconds: number | undefined;
  readonly boundObjectRef: Readonly<Record<string, unknown>> | undefined;
}

/**
 * The claims the real API server would put in the token it issues (projected ServiceAccount token shape). A type
 * alias, not an interface, so it is assignable to `Record<string, unknown>` signers such as jwt-issuer's signClaims.
 */
export type ServiceAccountClaims = {
  readonly iss: string;
  readonly sub: string;
  readonly aud: readonly string[];
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  readonly 'kubernetes.io': {
    readonly namespace: string;
    readonly serviceaccount: { readonly name: string; readonly uid: string };
    readonly pod?: { readonly name: string; readonly uid: string };
  };
};

/** Turns claims into the token string the TokenRequest answers with, e.g. an RS256 JWT signed by a test issuer. */
export type SignServiceAccountToken = (claims: ServiceAccountClaims) => string | Promise<string>;

export const FAKE_KUBE_OPERATIONS = ['tokenCreate', 'secretGet', 'secretCreate'] as const;
export type FakeKubeOperation = (typeof FAKE_KUBE_OPERATIONS)[number];

export interface RequestRecord {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly operation: FakeKubeOperation | 'other';
  readonly status: number;
  /** Whether the bearer token matched. */
  readonly authorized: boolean;
  /** The request body's media type, e.g. application/json, or application/vnd.kubernetes.protobuf from client-go. */
  readonly contentType?: string;
}

export interface Fault {
  readonly status: number;
  /** Status reason; a sensible one per status by default. */
  readonly reason?: string;
  readonly message?: string;
  /** Send this text as the body instead of a Status object (a proxy's page, an oversized or broken answer). */
  readonly rawBody?: string;
}

/** A Secret as the fake stores it: `data` values are base64, as on the wire. */
export interface StoredSecret {
  readonly apiVersion: 'v1';
  readonly kind: 'Secret';
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly resourceVersion: string;
    readonly creationTimestamp: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly type: string;
  readonly immutable?: boolean;
  readonly data?: Readonly<Record<string, string>>;
}

export interface FakePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

export interface FakeKubeApiOptions {
  /** The bearer token the server accepts (default FAKE_KUBE_API_TOKEN). */
  readonly token?: string;
  /** Signs issued ServiceAccount tokens; by default an unsigned JWT-shaped string (alg "none"). */
  readonly signToken?: SignServiceAccountToken;
  /** Clock in milliseconds, for `iat`/`exp` and expirationTimestamp. */
  readonly now?: () => number;
  /** ServiceAccounts that exist, as "namespace/name"; undefined means every ServiceAccount exists. */
  readonly serviceAccounts?: readonly string[];
  /**
   * Pods that exist, for a TokenRequest's boundObjectRef; undefined means any pod exists with any UID. When given,
   * the real API server's answers: 404 for a missing pod, 409 Conflict for another UID, 400 for another ServiceAccount.
   */
  readonly pods?: readonly FakePod[];
  /** `iss` of issued tokens. */
  readonly issuer?: string;
  /** Port to listen on (default: any free one); lets a test bring "the API server" back on the same address. */
  readonly port?: number;
  /** Serve https with this key and certificate (PEM), as a real API server does; plain http when absent. */
  readonly tls?: { readonly key: string; readonly cert: string };
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'AlreadyExists',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

const TOKEN_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/;
const SECRET_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/;
const SECRETS_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/;

export class FakeKubeApi {
  readonly token: string;
  /** Every request, in arrival order. */
  readonly requests: RequestRecord[] = [];
  /** The spec of every TokenRequest that reached the handler (after the bearer check). */
  readonly tokenRequests: TokenRequestRecord[] = [];
  /** Milliseconds each answer is held back, to test timeouts and aborts. */
  delayMs = 0;

  readonly #server: Server;
  readonly #open = new Set<Socket>();

  /** Client connections open right now. */
  get openConnections(): number {
    return this.#open.size;
  }
  readonly #options: FakeKubeApiOptions;
  readonly #now: () => number;
  readonly #secrets = new Map<string, StoredSecret>();
  readonly #faults = new Map<FakeKubeOperation, Fault[]>();
  /** Secrets that "another node" creates just before our next create, which then loses with 409. */
  readonly #races: { namespace: string; name: string; data: Record<string, Buffer> }[] = [];
  #resourceVersion = 1000;
  #url = '';

  private constructor(options: FakeKubeApiOptions) {
    this.#options = options;
    this.token = options.token ?? FAKE_KUBE_API_TOKEN;
    this.#now = options.now ?? Date.now;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    };
    this.#server = options.tls === undefined ? createServer(handler) : createTlsServer({ key: options.tls.key, cert: options.tls.cert }, handler);
    this.#server.on('connection', (socket: Socket) => {
      this.#open.add(socket);
      socket.once('close', () => this.#open.delete(socket));
    });
  }

  static async start(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(options);
    await new Promise<void>((resolve, reject) => {
      api.#server.once('error', reject);
      api.#server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const { port } = api.#server.address() as AddressInfo;
    api.#url = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
    return api;
  }

  /** Base URL, e.g. http://127.0.0.1:41234. */
  get url(): string {
    return this.#url;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next `times` requests of `operation` answer with this failure (a Kubernetes Status object). */
  failNext(operation: FakeKubeOperation, fault: Fault, times = 1): void {
    const queue = this.#faults.get(operation) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.#faults.set(operation, queue);
  }

  /**
   * Simulates losing the creation race: just before the next Secret create for namespace/name is handled, another
   * node's provider stores a Secret with `data`, so our create answers 409 AlreadyExists.
   */
  loseNextCreateRace(namespace: string, name: string, data: Record<string, Buffer>): void {
    this.#races.push({ namespace, name, data });
  }

  /** Stores a Secret as if an operator (or the reference provider) had created it. */
  putSecret(namespace: string, name: string, data: Record<string, Buffer> | undefined, extra: { immutable?: boolean } = {}): StoredSecret {
    const secret = this.#newSecret(namespace, name, data === undefined ? undefined : encodeData(data), undefined, 'Opaque', extra.immutable);
    this.#secrets.set(`${namespace}/${name}`, secret);
    return secret;
  }

  getSecret(namespace: string, name: string): StoredSecret | undefined {
    return this.#secrets.get(`${namespace}/${name}`);
  }

  deleteSecret(namespace: string, name: string): void {
    this.#secrets.delete(`${namespace}/${name}`);
  }

  /** Requests of one operation, for counting. */
  requestsOf(operation: FakeKubeOperation): RequestRecord[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const bodyBytes = await readBody(req);
    const contentType = req.headers['content-type']?.split(';', 1)[0]?.trim();
    const operation = classify(method, path);
    const authorized = req.headers.authorization === `Bearer ${this.token}`;

    let reply: { status: number; body: unknown; raw?: string };
    if (!authorized) {
      reply = statusReply({ status: 401, message: 'Unauthorized' });
    } else {
      const fault = operation === 'other' ? undefined : this.#faults.get(operation)?.shift();
      if (fault !== undefined) {
        reply = fault.rawBody === undefined ? statusReply(fault) : { status: fault.status, body: undefined, raw: fault.rawBody };
      } else {
        reply = await this.#route(operation, method, path, bodyBytes, contentType);
      }
    }

    this.requests.push({ method, path, operation, status: reply.status, authorized, ...(contentType === undefined ? {} : { contentType }) });
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (res.destroyed) return;
    const payload = reply.raw ?? JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  }

  async #route(
    operation: FakeKubeOperation | 'other',
    method: string,
    path: string,
    bodyBytes: Buffer,
    contentType: string | undefined,
  ): Promise<{ status: number; body: unknown }> {
    // client-go's clientsets write built-in objects as protobuf (the reference provider's Secret create); the fake
    // reads a Secret that way and answers JSON, which client-go accepts too (it asks for protobuf or JSON).
    let bodyText = '';
    let protobufSecret: Record<string, unknown> | undefined;
    if (contentType === KUBE_PROTOBUF) {
      if (operation !== 'secretCreate') return statusReply({ status: 415, reason: 'UnsupportedMediaType', message: `the fake reads protobuf only for a Secret create` });
      try {
        protobufSecret = decodeSecret(bodyBytes);
      } catch (err: unknown) {
        return statusReply({ status: 400, message: `protobuf body: ${err instanceof Error ? err.message : String(err)}` });
      }
    } else {
      bodyText = bodyBytes.toString('utf8');
    }
    switch (operation) {
      case 'tokenCreate': {
        const [, namespace = '', name = ''] = TOKEN_PATH.exec(path) ?? [];
        return this.#createToken(decodeURIComponent(namespace), decodeURIComponent(name), bodyText);
      }
      case 'secretGet': {
        const [, namespace = '', name = ''] = SECRET_PATH.exec(path) ?? [];
        const secret = this.#secrets.get(`${decodeURIComponent(namespace)}/${decodeURIComponent(name)}`);
        if (secret === undefined) {
          return statusReply({ status: 404, message: `secrets "${decodeURIComponent(name)}" not found` }, { name: decodeURIComponent(name), kind: 'secrets' });
        }
        return { status: 200, body: secret };
      }
      case 'secretCreate': {
        const [, namespace = ''] = SECRETS_PATH.exec(path) ?? [];
        return this.#createSecret(decodeURIComponent(namespace), protobufSecret ?? parseObject(bodyText));
      }
      case 'other':
        return statusReply({ status: 404, message: `the server could not find the requested resource (${method} ${path})` });
    }
  }

  async #createToken(namespace: string, serviceAccountName: string, bodyText: string): Promise<{ status: number; body: unknown }> {
    const body = parseObject(bodyText);
    const spec = isObject(body?.['spec']) ? body['spec'] : {};
    const audiences = Array.isArray(spec['audiences']) ? spec['audiences'].filter((a): a is string => typeof a === 'string') : undefined;
    const expirationSeconds = typeof spec['expirationSeconds'] === 'number' ? spec['expirationSeconds'] : undefined;
    const boundObjectRef = isObject(spec['boundObjectRef']) ? spec['boundObjectRef'] : undefined;
    this.tokenRequests.push({ namespace, serviceAccountName, apiVersion: body?.['apiVersion'], kind: body?.['kind'], audiences, expirationSeconds, boundObjectRef });

    const known = this.#options.serviceAccounts;
    if (known !== undefined && !known.includes(`${namespace}/${serviceAccountName}`)) {
      return statusReply({ status: 404, message: `serviceaccounts "${serviceAccountName}" not found` }, { name: serviceAccountName, kind: 'serviceaccounts' });
    }
    // The real API server's validation: at least 10 minutes, and a bound object of a kind it knows.
    if (expirationSeconds !== undefined && expirationSeconds < 600) {
      return statusReply({ status: 422, message: 'spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes' });
    }
    const kind = boundObjectRef?.['kind'];
    if (boundObjectRef !== undefined && kind !== 'Pod' && kind !== 'Secret' && kind !== 'Node') {
      return statusReply({ status: 422, message: 'spec.boundObjectRef.kind: Unsupported value' });
    }

    const refused = kind === 'Pod' ? this.#checkBoundPod(namespace, serviceAccountName, boundObjectRef) : undefined;
    if (refused !== undefined) return refused;

    const nowSeconds = Math.floor(this.#now() / 1000);
    const lifetime = expirationSeconds ?? 3600;
    const pod =
      kind === 'Pod' && typeof boundObjectRef?.['name'] === 'string' && typeof boundObjectRef['uid'] === 'string'
        ? { name: boundObjectRef['name'], uid: boundObjectRef['uid'] }
        : undefined;
    const claims: ServiceAccountClaims = {
      iss: this.#options.issuer ?? 'https://kubernetes.default.svc.cluster.local',
      sub: `system:serviceaccount:${namespace}:${serviceAccountName}`,
      aud: audiences !== undefined && audiences.length > 0 ? audiences : ['https://kubernetes.default.svc.cluster.local'],
      iat: nowSeconds,
      nbf: nowSeconds,
      exp: nowSeconds + lifetime,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace,
        serviceaccount: { name: serviceAccountName, uid: stableUid(`${namespace}/${serviceAccountName}`) },
        ...(pod === undefined ? {} : { pod }),
      },
    };
    const token = await (this.#options.signToken ?? unsignedJwt)(claims);
    return {
      status: 201,
      body: {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name: serviceAccountName, namespace, creationTimestamp: null },
        spec: { audiences: claims.aud, expirationSeconds: lifetime, boundObjectRef: boundObjectRef ?? null },
        status: { token, expirationTimestamp: new Date((nowSeconds + lifetime) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
      },
    };
  }

  /** The real API server's checks of a Pod boundObjectRef (messages as the real kube-apiserver words them: kube-client.real.ts). */
  #checkBoundPod(namespace: string, serviceAccountName: string, ref: Readonly<Record<string, unknown>> | undefined): { status: number; body: unknown } | undefined {
    const pods = this.#options.pods;
    if (pods === undefined) return undefined;
    const name = typeof ref?.['name'] === 'string' ? ref['name'] : '';
    const pod = pods.find((p) => p.namespace === namespace && p.name === name);
    if (pod === undefined) return statusReply({ status: 404, message: `pods "${name}" not found` }, { name, kind: 'pods' });
    if (typeof ref?.['uid'] === 'string' && ref['uid'] !== '' && ref['uid'] !== pod.uid) {
      return statusReply({
        status: 409,
        reason: 'Conflict',
        message: `Operation cannot be fulfilled on Pod "${name}": the UID in the bound object reference (${ref['uid']}) does not match the UID in record. The object might have been deleted and then recreated`,
      });
    }
    if (pod.serviceAccountName !== serviceAccountName) {
      return statusReply({ status: 400, message: `cannot bind token for serviceaccount "${serviceAccountName}" to pod running with different serviceaccount name.` });
    }
    return undefined;
  }

  #createSecret(namespace: string, body: Record<string, unknown> | undefined): { status: number; body: unknown } {
    const metadata = isObject(body?.['metadata']) ? body['metadata'] : {};
    const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
    if (name === '') return statusReply({ status: 422, message: 'metadata.name: Required value: name or generateName is required' });
    const raceIndex = this.#races.findIndex((r) => r.namespace === namespace && r.name === name);
    if (raceIndex >= 0) {
      const [race] = this.#races.splice(raceIndex, 1);
      if (race !== undefined) this.putSecret(namespace, name, race.data, { immutable: true });
    }
    if (this.#secrets.has(`${namespace}/${name}`)) {
      return statusReply({ status: 409, message: `secrets "${name}" already exists` }, { name, kind: 'secrets' });
    }
    const data = isObject(body?.['data']) ? stringRecord(body['data']) : undefined;
    const labels = isObject(metadata['labels']) ? stringRecord(metadata['labels']) : undefined;
    // The API server defaults an empty type to Opaque (client-go's protobuf body carries "").
    const type = typeof body?.['type'] === 'string' && body['type'] !== '' ? body['type'] : 'Opaque';
    const immutable = typeof body?.['immutable'] === 'boolean' ? body['immutable'] : undefined;
    const secret = this.#newSecret(namespace, name, data, labels, type, immutable);
    this.#secrets.set(`${namespace}/${name}`, secret);
    return { status: 201, body: secret };
  }

  #newSecret(
    namespace: string,
    name: string,
    data: Record<string, string> | undefined,
    labels: Record<string, string> | undefined,
    type: string,
    immutable: boolean | undefined,
  ): StoredSecret {
    this.#resourceVersion += 1;
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: String(this.#resourceVersion),
        creationTimestamp: new Date(this.#now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        ...(labels === undefined ? {} : { labels }),
      },
      type,
      ...(immutable === undefined ? {} : { immutable }),
      ...(data === undefined ? {} : { data }),
    };
  }
}

/** The default token: JWT-shaped (header.claims.signature) but unsigned, for tests that never verify it. */
export function unsignedJwt(claims: ServiceAccountClaims): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.fake-signature`;
}

function classify(method: string, path: string): FakeKubeOperation | 'other' {
  if (method === 'POST' && TOKEN_PATH.test(path)) return 'tokenCreate';
  if (method === 'GET' && SECRET_PATH.test(path)) return 'secretGet';
  if (method === 'POST' && SECRETS_PATH.test(path)) return 'secretCreate';
  return 'other';
}

function statusReply(fault: Fault, details?: { name: string; kind: string }): { status: number; body: unknown } {
  return {
    status: fault.status,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: fault.message ?? `injected ${fault.status}`,
      reason: fault.reason ?? REASONS[fault.status] ?? 'Unknown',
      ...(details === undefined ? {} : { details }),
      code: fault.status,
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringRecord(value: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function encodeData(data: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('base64')]));
}

/** A UID that stays the same for the same ServiceAccount across requests, as a real one would. */
function stableUid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
