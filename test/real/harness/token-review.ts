/**
 * The TokenReview endpoint Vault's Kubernetes auth calls (`kubernetes_host`), served by the test until the real
 * API server of the Kubernetes suite takes its place: it verifies the ServiceAccount JWT with the issuer's public key
 * and answers as the API server does (authenticated, the ServiceAccount user, the pod in `extra`, the audiences).
 * Every review is counted, so a test can tell that Vault, not the provider, checked the token.
 */
import { createPublicKey } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { verifyJwt, audienceOf } from '../../vault-server/jwt-verify.js';
import type { JsonObject } from '../../vault-server/types.js';

interface ReviewSpec {
  readonly token?: string;
  readonly audiences?: readonly string[];
}

export class TokenReviewServer {
  /** TokenReviews answered so far. */
  reviews = 0;
  address = '';
  private readonly server: Server;

  private constructor(publicKeyPem: string, issuer: string) {
    const key = createPublicKey(publicKeyPem);
    this.server = createServer((req, res) => {
      void handle(req, res, key, issuer).then(() => this.reviews++);
    });
  }

  static async start(publicKeyPem: string, issuer: string): Promise<TokenReviewServer> {
    const self = new TokenReviewServer(publicKeyPem, issuer);
    self.server.listen(0, '127.0.0.1');
    await once(self.server, 'listening');
    const a = self.server.address();
    self.address = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
    return self;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

async function handle(req: IncomingMessage, res: ServerResponse, key: ReturnType<typeof createPublicKey>, issuer: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
    reply(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    return;
  }
  const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: ReviewSpec };
  const token = review.spec?.token ?? '';
  const wanted = review.spec?.audiences ?? [];
  const result = verifyJwt(token, { keys: [key], nowMs: Date.now(), issuer, requireTimeClaim: false });
  const base = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: review.spec };
  if (!result.ok) {
    reply(201, { ...base, status: { authenticated: false, error: `invalid bearer token: ${result.error}` } });
    return;
  }
  const audiences = audienceOf(result.claims);
  const granted = wanted.length === 0 ? audiences : wanted.filter((a) => audiences.includes(a));
  if (wanted.length > 0 && granted.length === 0) {
    reply(201, { ...base, status: { authenticated: false, error: 'token audiences do not intersect the requested audiences' } });
    return;
  }
  const k8s = (result.claims['kubernetes.io'] ?? {}) as JsonObject;
  const pod = (k8s['pod'] ?? {}) as JsonObject;
  const sa = (k8s['serviceaccount'] ?? {}) as JsonObject;
  reply(201, {
    ...base,
    status: {
      authenticated: true,
      user: {
        username: str(result.claims['sub']),
        uid: str(sa['uid']),
        groups: ['system:serviceaccounts', `system:serviceaccounts:${str(k8s['namespace'])}`, 'system:authenticated'],
        ...(pod['name'] === undefined
          ? {}
          : { extra: { 'authentication.kubernetes.io/pod-name': [str(pod['name'])], 'authentication.kubernetes.io/pod-uid': [str(pod['uid'])] } }),
      },
      audiences: granted,
    },
  });
}
