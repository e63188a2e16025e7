// HTTP(S) plumbing: listening (with optional mTLS and SNI), body parsing, fault application,
// request logging, and a close() that does not wait for idle keep-alive sockets.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { defaultFaultBody, type FaultInjector, type FaultSpec } from './faults.js';
import { redactQuery, type RequestLog } from './request-log.js';
import { normalizeNamespacePath } from './namespaces.js';
import { multiError } from './vault-errors.js';
import { isJsonObject } from './util.js';
import type { VaultCore } from './core.js';
import type { Clock, JsonObject, Reply } from './types.js';

export interface TlsOptions {
  readonly key: string;
  readonly cert: string;
  /** CA bundle that client certificates must chain to; enables requesting a client certificate. */
  readonly clientCa?: string;
  /** Reject handshakes without a valid client certificate. */
  readonly requireClientCert?: boolean;
  /** Server name → certificate served for it; the default cert is used for other names. */
  readonly sni?: Readonly<Record<string, { readonly key: string; readonly cert: string }>>;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsOptions | undefined;
}

/** Vault's default max_request_size: 32 MiB. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

class BodyError extends Error {
  constructor(readonly reply: Reply) {
    super('bad body');
  }
}

async function readBody(req: http.IncomingMessage): Promise<JsonObject> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new BodyError({ status: 413, body: { errors: [multiError(['http: request body too large'])] } });
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err: unknown) {
    throw new BodyError({ status: 400, body: { errors: [`failed to parse JSON input: ${err instanceof Error ? err.message : String(err)}`] } });
  }
  if (!isJsonObject(parsed)) throw new BodyError({ status: 400, body: { errors: ['failed to parse JSON input: expected a JSON object'] } });
  return parsed;
}

function tokenFrom(req: http.IncomingMessage): string | undefined {
  const header = req.headers['x-vault-token'];
  const direct = Array.isArray(header) ? header[0] : header;
  if (direct) return direct;
  const authz = req.headers.authorization;
  if (authz?.startsWith('Bearer ')) return authz.slice('Bearer '.length).trim() || undefined;
  return undefined;
}

function send(res: http.ServerResponse, reply: Reply, head: boolean): void {
  if (res.destroyed || res.headersSent) return;
  const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
  // Vault labels every answer of its API as JSON, a 204 without a body included.
  if (reply.status === 204) headers['content-type'] ??= 'application/json';
  let payload: string | Buffer | undefined;
  if (reply.body !== undefined && reply.status !== 204) {
    if (typeof reply.body === 'string' || Buffer.isBuffer(reply.body)) {
      payload = reply.body;
      headers['content-type'] ??= 'text/plain; charset=utf-8';
    } else {
      payload = `${JSON.stringify(reply.body)}\n`;
      headers['content-type'] ??= 'application/json';
    }
    // As Go's net/http serves Vault: a body the handler finishes within the 2048-byte write buffer gets a
    // Content-Length, a larger one goes out chunked with none (so a client cannot size it before it arrives).
    const bytes = Buffer.byteLength(payload);
    if (bytes <= GO_CHUNKING_THRESHOLD || head) headers['content-length'] = String(bytes);
  }
  res.writeHead(reply.status, headers);
  if (head || payload === undefined || Buffer.byteLength(payload) <= GO_CHUNKING_THRESHOLD) {
    res.end(head ? undefined : payload);
    return;
  }
  // In pieces, as a Go handler's encoder writes them (chunked transfer encoding, no length).
  const body = Buffer.from(payload);
  for (let at = 0; at < body.length; at += GO_CHUNK_BYTES) res.write(body.subarray(at, at + GO_CHUNK_BYTES));
  res.end();
}

/** Requests being handled right now, and the most at once since the last reset. */
export interface InFlightCount {
  current: number;
  peak: number;
}

/** The TLS side of a request for cert auth: the client's certificate chain (leaf first), or none. */
function tlsOf(req: http.IncomingMessage): { tls?: { clientCertificates: X509Certificate[] } } {
  const socket = req.socket;
  if (!(socket instanceof tls.TLSSocket)) return {};
  const chain: X509Certificate[] = [];
  let peer: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (peer !== undefined && peer.raw !== undefined && !seen.has(peer.fingerprint256)) {
    seen.add(peer.fingerprint256);
    chain.push(new X509Certificate(peer.raw));
    peer = peer.issuerCertificate;
  }
  return { tls: { clientCertificates: chain } };
}

/** net/http's bufferBeforeChunkingSize: below it a response gets a Content-Length. */
const GO_CHUNKING_THRESHOLD = 2048;
/** The size of net/http's chunk writes (its bufio.Writer). */
const GO_CHUNK_BYTES = 4096;

export interface RunningServer {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function listen(
  options: ListenOptions,
  core: VaultCore,
  faults: FaultInjector,
  log: RequestLog,
  clock: Clock,
  inFlight: InFlightCount = { current: 0, peak: 0 },
): Promise<RunningServer> {
  const sockets = new Set<Socket>();
  const pendingDelays = new Set<() => void>();
  let closing = false;

  const delay = (ms: number): Promise<void> => new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      pendingDelays.delete(done);
      resolve();
    }
    pendingDelays.add(done);
  });

  /** Until `until` settles or the server closes. */
  const hold = (until: Promise<unknown>): Promise<void> => new Promise((resolve) => {
    function done(): void {
      pendingDelays.delete(done);
      resolve();
    }
    pendingDelays.add(done);
    until.then(done, done);
  });

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const at = clock();
    const url = new URL(req.url ?? '/', 'http://vault.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const token = tokenFrom(req);
    const nsHeader = req.headers['x-vault-namespace'];
    const headerNamespace = Array.isArray(nsHeader) ? nsHeader[0] : nsHeader;
    const rawRoute = url.pathname.startsWith('/v1/') ? url.pathname.slice('/v1/'.length) : undefined;
    const resolution = rawRoute !== undefined
      ? core.resolve(method, rawRoute, headerNamespace)
      : { ns: undefined, route: url.pathname, kind: 'other' as const };
    const namespace = resolution.ns?.path ?? normalizeNamespacePath(headerNamespace);
    let faulted = false;
    let recorded = false;
    inFlight.current++;
    if (inFlight.current > inFlight.peak) inFlight.peak = inFlight.current;
    const record = (status: number): void => {
      if (recorded) return;
      recorded = true;
      inFlight.current--;
      log.add({
        method, path: url.pathname, route: resolution.route, query: redactQuery(url.searchParams), namespace,
        hadToken: token !== undefined, status, kind: resolution.kind, faulted, at,
      });
    };
    res.on('finish', () => record(res.statusCode));
    res.on('close', () => record(res.writableFinished ? res.statusCode : 0));

    try {
      const body = await readBody(req);
      const fault: FaultSpec | undefined = faults.take(method, rawRoute ?? url.pathname, resolution.route, namespace);
      if (fault) {
        faulted = true;
        if (fault.delayMs) await delay(fault.delayMs);
        if (fault.until !== undefined) await hold(fault.until);
        if (closing) return;
        if (fault.resetConnection) {
          req.socket.destroy();
          return;
        }
        if (fault.status !== undefined) {
          const answer = fault.echoBody === true ? { errors: [`upstream failed on request ${JSON.stringify(body)}`] } : (fault.body ?? defaultFaultBody(fault.status));
          send(res, { status: fault.status, body: answer, headers: fault.headers ?? {} }, method === 'HEAD');
          return;
        }
      }
      if (rawRoute === undefined) {
        send(res, { status: 404, body: { errors: [] } }, method === 'HEAD');
        return;
      }
      const reply = await core.handle({ method, rawRoute, query: url.searchParams, headerNamespace, token, body, ...tlsOf(req) });
      send(res, reply, method === 'HEAD');
    } catch (err: unknown) {
      if (err instanceof BodyError) {
        send(res, err.reply, method === 'HEAD');
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      send(res, { status: 500, body: { errors: [multiError([`internal error: ${message}`])] } }, method === 'HEAD');
    }
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void onRequest(req, res);
  };

  let server: http.Server | https.Server;
  const t = options.tls;
  if (t) {
    const contexts = new Map<string, tls.SecureContext>();
    for (const [name, pair] of Object.entries(t.sni ?? {})) {
      // Each SNI context needs the client CA too: client certs are verified against the context in use.
      contexts.set(name.toLowerCase(), tls.createSecureContext({ key: pair.key, cert: pair.cert, ...(t.clientCa ? { ca: t.clientCa } : {}) }));
    }
    server = https.createServer({
      key: t.key,
      cert: t.cert,
      ...(t.clientCa ? { ca: t.clientCa } : {}),
      requestCert: Boolean(t.clientCa) || Boolean(t.requireClientCert),
      rejectUnauthorized: Boolean(t.requireClientCert),
      SNICallback: (servername, cb) => cb(null, contexts.get(servername.toLowerCase())),
    }, handler);
  } else {
    server = http.createServer(handler);
  }
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Handshake failures (e.g. missing client cert) are expected in tests; keep them quiet.
  server.on('tlsClientError', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  const address = `${t ? 'https' : 'http'}://${hostPart}:${port}`;

  return {
    address,
    host: options.host,
    port,
    close: () => new Promise<void>((resolve) => {
      closing = true;
      for (const done of [...pendingDelays]) done();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      if ('closeAllConnections' in server) server.closeAllConnections();
    }),
  };
}
