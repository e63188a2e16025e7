/**
 * Keeps the fake honest: one real Vault dev server and one test/vault-server/ fake, set up alike (mounts, policy,
 * roles, a PKI root and role, a database role, Kubernetes and JWT auth), get the same requests — every route the
 * fake serves, its failures included — and must answer with the same status codes, media types and response shapes
 * (keys and JSON types, not values). A difference fails the test unless KNOWN_DIFFERENCES lists it with the reason
 * it does not matter to the provider; an entry that no longer happens fails it too, so the table stays true.
 * Where real Vault answers otherwise in a way the provider relies on, the fake is what gets fixed.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { startTestVault, type TestVault } from '../../vault-server/index.js';
import { ServiceAccountJwtIssuer } from '../../vault-server/jwt-issuer.js';
import { Postgres } from '../harness/postgres.js';
import { compareShapes, shapeOf, type Shape, type ShapeDifference } from '../harness/shape.js';
import { TokenReviewServer } from '../harness/token-review.js';
import { RealVault } from '../harness/vault-dev.js';

const ROOT_TOKEN = 'differential-root-token';
/** Set to a file name to keep every pair of answers (one JSON line per request) for a closer look. */
const DUMP = process.env['VCP_DIFFERENTIAL_DUMP'];

const POLICY = `
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
path "kv/*" { capabilities = ["read", "list"] }
path "database/creds/web" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
`;

interface KnownDifference {
  /** The request (an id of STEPS), or a pattern of ids. */
  readonly id: string | RegExp;
  /** Where in the answer: `status`, `content-type`, a JSON path under `body` (`body.data.keys[]`), or a pattern. */
  readonly at: string | RegExp;
  /** What each side had, as the failure report prints it; left out, anything. */
  readonly real?: string;
  readonly fake?: string;
  /** Why it does not matter to the provider. */
  readonly why: string;
}

const ENTERPRISE = 'the fake plays Vault Enterprise, whose namespaces the provider supports (vaultNamespace); OSS has none';
const BODY = /^body(\.|$)/;

/**
 * Every difference real Vault shows that the fake keeps on purpose, with the reason it does not matter to the
 * provider. Everything else real Vault answered otherwise was fixed in the fake (see test/vault-server/*.test.ts).
 */
const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  { id: /^kv[12] read: namespace header on OSS$/, at: 'status', real: '200', fake: '404', why: `${ENTERPRISE}: OSS ignores the X-Vault-Namespace header and serves the root namespace, the fake has no namespace team-a` },
  { id: /^kv[12] read: namespace header on OSS$/, at: BODY, why: 'follows from the status above' },
  { id: 'namespace create on OSS', at: 'status', real: '404', fake: '200', why: `${ENTERPRISE}: the fake creates it` },
  { id: 'namespace create on OSS', at: BODY, why: 'follows from the status above' },
  { id: /^kv[12] (metadata )?list LIST$/, at: 'status', real: '200', fake: '400', why: "Node's HTTP parser refuses the LIST verb; the provider (like Vault's Go client) lists with GET ?list=true, compared above" },
  { id: /^kv[12] (metadata )?list LIST$/, at: /^(content-type|body)$/, why: 'follows from the status above: the fake\'s parser answers before any handler' },
  { id: 'kv1 read: HEAD', at: 'status', real: '403', fake: '200', why: 'the provider never sends HEAD to Vault (its methods are GET, POST, PUT and LIST); the fake answers a HEAD like a GET' },
  { id: 'kv1 read: OPTIONS', at: 'status', real: '403', fake: '405', why: 'the provider never sends OPTIONS; real Vault checks the token first' },
  { id: 'lookup-self root', at: 'body.data.issue_time', real: 'string', fake: 'absent', why: 'the provider never holds a root token' },
  { id: /^kv2 metadata read/, at: /^body\.data\.(last_updated_by|versions\.\d+\.(created_by|deleted_by))$/, why: 'the provider reads data/, never metadata/; the fake keeps no record of who wrote a version' },
  { id: 'pki sign', at: 'status', real: '400', fake: '404', why: 'the fake does not implement pki/sign (no CSR handling): no fast test signs a CSR' },
  { id: 'pki role read', at: /^body\.data\./, why: 'the provider never reads a PKI role; the fake reports the fields of its role model only' },
  { id: 'db role read', at: 'body.data.creation_statements[]', real: 'array<string>', fake: 'array<>', why: 'the fake has no SQL to run: it keeps no statements' },
  { id: 'k8s role read', at: 'status', real: '200', fake: '404', why: 'the fake has no config API for its auth methods (tests set roles up through its helpers); the provider only logs in' },
  { id: 'k8s role read', at: BODY, why: 'follows from the status above' },
  { id: /^(sys alone|outside \/v1)$/, at: 'status', real: '307', fake: '404', why: "Go's ServeMux redirects /v1/sys to /v1/sys/ and unknown paths to /ui/; the provider builds /v1/<mount>/<path> URLs only" },
  { id: /^(sys alone|outside \/v1)$/, at: /^(content-type|body)$/, why: 'follows from the status above' },
];

function isKnown(k: KnownDifference, id: string, d: ShapeDifference): boolean {
  const matches = (want: string | RegExp, got: string): boolean => (typeof want === 'string' ? want === got : want.test(got));
  return matches(k.id, id) && matches(k.at, d.at) && (k.real === undefined || k.real === d.real) && (k.fake === undefined || k.fake === d.fake);
}

type TokenName = 'root' | 'web' | 'jwt' | 'child' | 'orphan' | 'doomed' | 'bogus';

/** One of the two Vaults, with what earlier answers left for later requests (tokens, lease ids). */
interface Side {
  readonly name: 'real' | 'fake';
  readonly address: string;
  readonly tokens: Map<TokenName, string>;
  readonly leases: string[];
  seal(): Promise<void>;
  unseal(): Promise<void>;
}

interface Call {
  /** Unique; names the request in the report and in KNOWN_DIFFERENCES. */
  readonly id: string;
  readonly method: string;
  /** After `/v1/`; a path starting with `/` is sent as it is. */
  readonly path: string | ((s: Side) => string);
  /** Default the root token; null sends none. */
  readonly token?: TokenName | null;
  readonly body?: unknown;
  /** A body sent verbatim (not JSON-encoded). */
  readonly raw?: string;
  readonly bodyOf?: (s: Side) => unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Send the token as `Authorization: Bearer`, which Vault also reads, instead of X-Vault-Token. */
  readonly bearer?: boolean;
  /** Keeps a token or lease id of this side's answer for later requests. */
  readonly keep?: (body: unknown, s: Side) => void;
}

type Step = Call | { readonly action: 'seal' | 'unseal' };

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: unknown;
  readonly shape: Shape;
}

const issuer = new ServiceAccountJwtIssuer();
const stranger = new ServiceAccountJwtIssuer({ issuer: issuer.issuer });

function saJwt(opts: { namespace?: string; sa?: string; audience?: string; ttlSeconds?: number; wrongKey?: boolean } = {}): string {
  return (opts.wrongKey === true ? stranger : issuer).signServiceAccountJwt({
    namespace: opts.namespace ?? 'prod',
    serviceAccountName: opts.sa ?? 'web',
    podName: 'web-5d8f7c9b4-abcde',
    podUid: '8a3c1f2e-5b6d-4e7f-9a0b-1c2d3e4f5a6b',
    audience: opts.audience ?? 'vault',
    ...(opts.ttlSeconds === undefined ? {} : { ttlSeconds: opts.ttlSeconds }),
  });
}

function field(body: unknown, ...path: string[]): string {
  let cur: unknown = body;
  for (const k of path) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  return typeof cur === 'string' ? cur : '';
}

const keepToken = (name: TokenName) => (body: unknown, s: Side): void => {
  const t = field(body, 'auth', 'client_token');
  if (t !== '') s.tokens.set(name, t);
};
const keepLease = (body: unknown, s: Side): void => {
  const id = field(body, 'lease_id');
  if (id !== '') s.leases.push(id);
};
const lease = (n: number) => (s: Side): string => s.leases[n] ?? `missing-lease-${n}`;
const tokenOf = (name: TokenName) => (s: Side): string => s.tokens.get(name) ?? `missing-token-${name}`;

const json = { 'Content-Type': 'application/json' };

/** The requests, in order; later ones use tokens and leases that earlier ones obtained. */
const STEPS: readonly Step[] = [
  // --- sys: health and status, unauthenticated -------------------------------------------------------------------
  { id: 'health', method: 'GET', path: 'sys/health', token: null },
  { id: 'health HEAD', method: 'HEAD', path: 'sys/health', token: null },
  { id: 'health activecode', method: 'GET', path: 'sys/health?activecode=299&standbyok=true', token: null },
  { id: 'seal-status', method: 'GET', path: 'sys/seal-status', token: null },
  { id: 'leader', method: 'GET', path: 'sys/leader', token: null },
  { id: 'init', method: 'GET', path: 'sys/init', token: null },

  // --- auth: kubernetes login and its failures ---------------------------------------------------------------------
  { id: 'k8s login', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt() }), keep: keepToken('web') },
  { id: 'k8s login again', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt() }), keep: keepToken('doomed') },
  { id: 'k8s login with a token sent along', method: 'POST', path: 'auth/kubernetes/login', token: 'bogus', bodyOf: () => ({ role: 'web', jwt: saJwt() }) },
  { id: 'k8s login: unknown role', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'nope', jwt: saJwt() }) },
  { id: 'k8s login: no role', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ jwt: saJwt() }) },
  { id: 'k8s login: no jwt', method: 'POST', path: 'auth/kubernetes/login', token: null, body: { role: 'web' } },
  { id: 'k8s login: wrong service account', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ sa: 'other' }) }) },
  { id: 'k8s login: wrong namespace', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ namespace: 'dev' }) }) },
  { id: 'k8s login: wrong audience', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ audience: 'other' }) }) },
  { id: 'k8s login: bad signature', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ wrongKey: true }) }) },
  { id: 'k8s login: expired jwt', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ ttlSeconds: -3600 }) }) },
  { id: 'k8s login: not a jwt', method: 'POST', path: 'auth/kubernetes/login', token: null, body: { role: 'web', jwt: 'not-a-jwt' } },
  { id: 'k8s login: GET', method: 'GET', path: 'auth/kubernetes/login', token: null },
  { id: 'login: unmounted auth method', method: 'POST', path: 'auth/nope/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt() }) },
  { id: 'k8s role read', method: 'GET', path: 'auth/kubernetes/role/web' },

  // --- auth: jwt login and its failures -----------------------------------------------------------------------------
  { id: 'jwt login', method: 'POST', path: 'auth/jwt/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt() }), keep: keepToken('jwt') },
  { id: 'jwt login: unknown role', method: 'POST', path: 'auth/jwt/login', token: null, bodyOf: () => ({ role: 'nope', jwt: saJwt() }) },
  { id: 'jwt login: no role', method: 'POST', path: 'auth/jwt/login', token: null, bodyOf: () => ({ jwt: saJwt() }) },
  { id: 'jwt login: no jwt', method: 'POST', path: 'auth/jwt/login', token: null, body: { role: 'web' } },
  { id: 'jwt login: wrong subject', method: 'POST', path: 'auth/jwt/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ sa: 'other' }) }) },
  { id: 'jwt login: wrong audience', method: 'POST', path: 'auth/jwt/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ audience: 'other' }) }) },
  { id: 'jwt login: bad signature', method: 'POST', path: 'auth/jwt/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ wrongKey: true }) }) },
  { id: 'jwt login: expired jwt', method: 'POST', path: 'auth/jwt/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt({ ttlSeconds: -3600 }) }) },
  { id: 'jwt login: not a jwt', method: 'POST', path: 'auth/jwt/login', token: null, body: { role: 'web', jwt: 'not-a-jwt' } },

  // --- auth/token ----------------------------------------------------------------------------------------------------
  { id: 'lookup-self', method: 'GET', path: 'auth/token/lookup-self', token: 'web' },
  { id: 'lookup-self POST', method: 'POST', path: 'auth/token/lookup-self', token: 'web' },
  { id: 'lookup-self jwt token', method: 'GET', path: 'auth/token/lookup-self', token: 'jwt' },
  { id: 'lookup-self root', method: 'GET', path: 'auth/token/lookup-self' },
  { id: 'lookup-self bogus token', method: 'GET', path: 'auth/token/lookup-self', token: 'bogus' },
  { id: 'lookup-self no token', method: 'GET', path: 'auth/token/lookup-self', token: null },
  { id: 'renew-self', method: 'PUT', path: 'auth/token/renew-self', token: 'web', body: { increment: '1h' } },
  { id: 'renew-self no body', method: 'PUT', path: 'auth/token/renew-self', token: 'web' },
  { id: 'renew-self GET', method: 'GET', path: 'auth/token/renew-self', token: 'web' },
  { id: 'renew-self root', method: 'PUT', path: 'auth/token/renew-self' },
  { id: 'lookup-self after renew', method: 'GET', path: 'auth/token/lookup-self', token: 'web' },
  { id: 'token lookup', method: 'POST', path: 'auth/token/lookup', bodyOf: (s) => ({ token: tokenOf('web')(s) }) },
  { id: 'token lookup: bogus', method: 'POST', path: 'auth/token/lookup', body: { token: 'hvs.bogus' } },
  { id: 'token create', method: 'POST', path: 'auth/token/create', body: { policies: ['web'], ttl: '1h' }, keep: keepToken('child') },
  { id: 'token create-orphan', method: 'POST', path: 'auth/token/create-orphan', body: { policies: ['web'], ttl: '1h' }, keep: keepToken('orphan') },
  { id: 'token create: not a subset', method: 'POST', path: 'auth/token/create', token: 'web', body: { policies: ['root'] } },
  { id: 'lookup-self child', method: 'GET', path: 'auth/token/lookup-self', token: 'child' },
  { id: 'token revoke', method: 'POST', path: 'auth/token/revoke', bodyOf: (s) => ({ token: tokenOf('orphan')(s) }) },
  { id: 'lookup-self revoked by another', method: 'GET', path: 'auth/token/lookup-self', token: 'orphan' },
  { id: 'revoke-self', method: 'PUT', path: 'auth/token/revoke-self', token: 'doomed' },
  { id: 'lookup-self after revoke-self', method: 'GET', path: 'auth/token/lookup-self', token: 'doomed' },
  { id: 'revoke-self again', method: 'PUT', path: 'auth/token/revoke-self', token: 'doomed' },
  { id: 'token: unknown path', method: 'GET', path: 'auth/token/nonsense' },

  // --- KV v1 ----------------------------------------------------------------------------------------------------------
  { id: 'kv1 write', method: 'PUT', path: 'kv/app', body: { password: 'p1', port: 5432, nested: { a: 'x', b: [1, 2] } } },
  { id: 'kv1 write POST', method: 'POST', path: 'kv/dir/inner', body: { value: 'v' } },
  { id: 'kv1 write with a query string', method: 'PUT', path: 'kv/query?extra=from-query', body: { a: 'b' } },
  { id: 'kv1 write: query string only', method: 'PUT', path: 'kv/query-only?only=from-query' },
  { id: 'kv1 write: empty body', method: 'PUT', path: 'kv/empty', body: {} },
  { id: 'kv1 write: trailing slash', method: 'PUT', path: 'kv/dir/', body: { a: 'b' } },
  { id: 'kv1 write: not JSON', method: 'PUT', path: 'kv/bad', raw: 'not json', headers: json },
  { id: 'kv1 write: a JSON array', method: 'PUT', path: 'kv/bad', raw: '[1,2]', headers: json },
  { id: 'kv1 write: denied', method: 'PUT', path: 'kv/app', token: 'web', body: { password: 'x' } },
  { id: 'kv1 read', method: 'GET', path: 'kv/app', token: 'web' },
  { id: 'kv1 read written with a query string', method: 'GET', path: 'kv/query', token: 'web' },
  { id: 'kv1 read written with a query string only', method: 'GET', path: 'kv/query-only', token: 'web' },
  { id: 'kv1 read with a query string', method: 'GET', path: 'kv/app?version=3', token: 'web' },
  { id: 'kv1 read: bearer token', method: 'GET', path: 'kv/app', token: 'web', bearer: true },
  { id: 'kv1 read: HEAD', method: 'HEAD', path: 'kv/app', token: 'web' },
  { id: 'kv1 read: OPTIONS', method: 'OPTIONS', path: 'kv/app', token: 'web' },
  { id: 'kv1 read: missing', method: 'GET', path: 'kv/missing', token: 'web' },
  { id: 'kv1 read: no token', method: 'GET', path: 'kv/app', token: null },
  { id: 'kv1 read: bogus token', method: 'GET', path: 'kv/app', token: 'bogus' },
  { id: 'kv1 read: child token', method: 'GET', path: 'kv/app', token: 'child' },
  { id: 'kv1 read: jwt token', method: 'GET', path: 'kv/app', token: 'jwt' },
  { id: 'kv1 read: revoked token', method: 'GET', path: 'kv/app', token: 'doomed' },
  { id: 'kv1 read: namespace header root', method: 'GET', path: 'kv/app', token: 'web', headers: { 'X-Vault-Namespace': 'root' } },
  { id: 'kv1 read: namespace header on OSS', method: 'GET', path: 'kv/app', token: 'web', headers: { 'X-Vault-Namespace': 'team-a' } },
  { id: 'kv1 read: namespace path prefix on OSS', method: 'GET', path: 'team-a/kv/app', token: 'web' },
  { id: 'kv1 list ?list=true', method: 'GET', path: 'kv/?list=true', token: 'web' },
  { id: 'kv1 list ?list=true without slash', method: 'GET', path: 'kv/dir?list=true', token: 'web' },
  { id: 'kv1 list LIST', method: 'LIST', path: 'kv/', token: 'web' },
  { id: 'kv1 list: nothing there', method: 'GET', path: 'kv/none/?list=true', token: 'web' },
  { id: 'kv1 delete', method: 'DELETE', path: 'kv/query' },
  { id: 'kv1 read deleted', method: 'GET', path: 'kv/query', token: 'web' },

  // --- KV v2 (the dev server's secret/) ---------------------------------------------------------------------------
  { id: 'kv2 write', method: 'POST', path: 'secret/data/app', body: { data: { password: 'p1', port: 5432, nested: { a: 'x' } } } },
  { id: 'kv2 write cas', method: 'POST', path: 'secret/data/app', body: { data: { password: 'p2', port: 5432 }, options: { cas: 1 } } },
  { id: 'kv2 write cas mismatch', method: 'POST', path: 'secret/data/app', body: { data: { password: 'p3' }, options: { cas: 1 } } },
  { id: 'kv2 write: no data', method: 'POST', path: 'secret/data/app', body: { password: 'p' } },
  { id: 'kv2 write: trailing slash', method: 'POST', path: 'secret/data/dir/', body: { data: { a: 'b' } } },
  { id: 'kv2 write with a query string', method: 'PUT', path: 'secret/data/query?extra=1', body: { data: { a: 'b' } } },
  { id: 'kv2 write PUT', method: 'PUT', path: 'secret/data/dir/inner', body: { data: { a: 'b' } } },
  { id: 'kv2 write: denied', method: 'POST', path: 'secret/data/app', token: 'web', body: { data: { a: 'b' } } },
  { id: 'kv2 read', method: 'GET', path: 'secret/data/app', token: 'web' },
  { id: 'kv2 read version', method: 'GET', path: 'secret/data/app?version=1', token: 'web' },
  { id: 'kv2 read version 0', method: 'GET', path: 'secret/data/app?version=0', token: 'web' },
  { id: 'kv2 read: no such version', method: 'GET', path: 'secret/data/app?version=99', token: 'web' },
  { id: 'kv2 read: bad version', method: 'GET', path: 'secret/data/app?version=x', token: 'web' },
  { id: 'kv2 read: missing', method: 'GET', path: 'secret/data/missing', token: 'web' },
  { id: 'kv2 read: v1-style path', method: 'GET', path: 'secret/app' },
  { id: 'kv2 read: v1-style path, web token', method: 'GET', path: 'secret/app', token: 'web' },
  { id: 'kv2 read: namespace header on OSS', method: 'GET', path: 'secret/data/app', token: 'web', headers: { 'X-Vault-Namespace': 'team-a' } },
  { id: 'kv2 list data path', method: 'GET', path: 'secret/data/?list=true' },
  { id: 'kv2 metadata read', method: 'GET', path: 'secret/metadata/app', token: 'web' },
  { id: 'kv2 metadata read: missing', method: 'GET', path: 'secret/metadata/missing', token: 'web' },
  { id: 'kv2 metadata list', method: 'GET', path: 'secret/metadata/?list=true', token: 'web' },
  { id: 'kv2 metadata list LIST', method: 'LIST', path: 'secret/metadata/dir', token: 'web' },
  { id: 'kv2 metadata list: nothing there', method: 'GET', path: 'secret/metadata/none/?list=true', token: 'web' },
  { id: 'kv2 metadata write', method: 'POST', path: 'secret/metadata/app', body: { max_versions: 5, custom_metadata: { team: 'a' } } },
  { id: 'kv2 read with custom metadata', method: 'GET', path: 'secret/data/app', token: 'web' },
  { id: 'kv2 metadata read with custom metadata', method: 'GET', path: 'secret/metadata/app' },
  { id: 'kv2 patch', method: 'PATCH', path: 'secret/data/app', body: { data: { port: null, extra: 'e' } }, headers: { 'Content-Type': 'application/merge-patch+json' } },
  { id: 'kv2 delete versions', method: 'POST', path: 'secret/delete/app', body: { versions: [1] } },
  { id: 'kv2 read deleted version', method: 'GET', path: 'secret/data/app?version=1', token: 'web' },
  { id: 'kv2 undelete', method: 'POST', path: 'secret/undelete/app', body: { versions: [1] } },
  { id: 'kv2 destroy', method: 'POST', path: 'secret/destroy/app', body: { versions: [1] } },
  { id: 'kv2 read destroyed version', method: 'GET', path: 'secret/data/app?version=1', token: 'web' },
  { id: 'kv2 delete versions: none given', method: 'POST', path: 'secret/delete/app', body: {} },
  { id: 'kv2 delete latest', method: 'DELETE', path: 'secret/data/app' },
  { id: 'kv2 read deleted latest', method: 'GET', path: 'secret/data/app', token: 'web' },
  { id: 'kv2 config read', method: 'GET', path: 'secret/config' },
  { id: 'kv2 config write', method: 'POST', path: 'secret/config', body: { max_versions: 10 } },
  { id: 'kv2 metadata delete', method: 'DELETE', path: 'secret/metadata/app' },
  { id: 'kv2 read after metadata delete', method: 'GET', path: 'secret/data/app', token: 'web' },

  // --- PKI ---------------------------------------------------------------------------------------------------------
  { id: 'pki issue', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'a.prod.svc', ttl: '1h' } },
  { id: 'pki issue PUT', method: 'PUT', path: 'pki/issue/web', token: 'web', body: { common_name: 'a.prod.svc' } },
  { id: 'pki issue: common_name in the query string only', method: 'PUT', path: 'pki/issue/web?common_name=q.prod.svc', token: 'web' },
  { id: 'pki issue: query string and body', method: 'POST', path: 'pki/issue/web?alt_names=evil.example.com', token: 'web', body: { common_name: 'b.prod.svc' } },
  { id: 'pki issue: ttl over the max', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'c.prod.svc', ttl: '100h' } },
  { id: 'pki issue der', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'a.prod.svc', format: 'der' } },
  { id: 'pki issue pem_bundle', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'a.prod.svc', format: 'pem_bundle' } },
  { id: 'pki issue pkcs8', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'a.prod.svc', private_key_format: 'pkcs8' } },
  { id: 'pki issue: name not allowed', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'evil.example.com' } },
  { id: 'pki issue: alt name not allowed', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'a.prod.svc', alt_names: 'x.example.com' } },
  { id: 'pki issue: bad ip san', method: 'POST', path: 'pki/issue/web', token: 'web', body: { common_name: 'a.prod.svc', ip_sans: 'not-an-ip' } },
  { id: 'pki issue: no common_name', method: 'POST', path: 'pki/issue/web', token: 'web', body: {} },
  { id: 'pki issue: unknown role', method: 'POST', path: 'pki/issue/nope', body: { common_name: 'a.prod.svc' } },
  { id: 'pki issue: GET', method: 'GET', path: 'pki/issue/web' },
  { id: 'pki issue: denied', method: 'GET', path: 'pki/issue/web', token: 'web' },
  { id: 'pki sign', method: 'POST', path: 'pki/sign/web', body: { csr: 'not a csr', common_name: 'a.prod.svc' } },
  { id: 'pki ca/pem', method: 'GET', path: 'pki/ca/pem', token: null },
  { id: 'pki ca_chain', method: 'GET', path: 'pki/ca_chain', token: null },
  { id: 'pki ca', method: 'GET', path: 'pki/ca', token: null },
  { id: 'pki cert/ca', method: 'GET', path: 'pki/cert/ca', token: null },
  { id: 'pki cert/ca with a token', method: 'GET', path: 'pki/cert/ca', token: 'web' },
  { id: 'pki cert/ca_chain', method: 'GET', path: 'pki/cert/ca_chain', token: null },
  { id: 'pki role read', method: 'GET', path: 'pki/roles/web' },
  { id: 'pki role read: missing', method: 'GET', path: 'pki/roles/nope' },

  // --- database and leases ---------------------------------------------------------------------------------------
  { id: 'db creds', method: 'GET', path: 'database/creds/web', token: 'web', keep: keepLease },
  { id: 'db creds again', method: 'GET', path: 'database/creds/web', token: 'web', keep: keepLease },
  { id: 'db creds root', method: 'GET', path: 'database/creds/web', keep: keepLease },
  { id: 'db creds: unknown role', method: 'GET', path: 'database/creds/nope' },
  { id: 'db creds: denied', method: 'GET', path: 'database/creds/nope', token: 'web' },
  { id: 'db creds: PUT', method: 'PUT', path: 'database/creds/web', token: 'web' },
  { id: 'db roles list', method: 'GET', path: 'database/roles?list=true' },
  { id: 'db role read', method: 'GET', path: 'database/roles/web' },
  { id: 'db role read: missing', method: 'GET', path: 'database/roles/nope' },
  { id: 'lease lookup', method: 'PUT', path: 'sys/leases/lookup', token: 'web', bodyOf: (s) => ({ lease_id: lease(0)(s) }) },
  { id: 'lease lookup: unknown', method: 'PUT', path: 'sys/leases/lookup', body: { lease_id: 'database/creds/web/nope' } },
  { id: 'lease lookup: no id', method: 'PUT', path: 'sys/leases/lookup', body: {} },
  { id: 'lease lookup: GET', method: 'GET', path: 'sys/leases/lookup' },
  { id: 'lease renew', method: 'PUT', path: 'sys/leases/renew', token: 'web', bodyOf: (s) => ({ lease_id: lease(0)(s), increment: 600 }) },
  { id: 'lease renew sys/renew', method: 'PUT', path: 'sys/renew', token: 'web', bodyOf: (s) => ({ lease_id: lease(0)(s) }) },
  { id: 'lease renew in the URL', method: 'PUT', path: (s) => `sys/leases/renew/${lease(0)(s)}` },
  { id: 'lease lookup after renew', method: 'PUT', path: 'sys/leases/lookup', token: 'web', bodyOf: (s) => ({ lease_id: lease(0)(s) }) },
  { id: 'lease renew: unknown', method: 'PUT', path: 'sys/leases/renew', body: { lease_id: 'database/creds/web/nope' } },
  { id: 'lease renew: no id', method: 'PUT', path: 'sys/leases/renew', body: {} },
  { id: 'lease revoke', method: 'PUT', path: 'sys/leases/revoke', bodyOf: (s) => ({ lease_id: lease(0)(s) }) },
  { id: 'lease lookup after revoke', method: 'PUT', path: 'sys/leases/lookup', bodyOf: (s) => ({ lease_id: lease(0)(s) }) },
  { id: 'lease revoke sys/revoke in the URL', method: 'PUT', path: (s) => `sys/revoke/${lease(1)(s)}` },
  { id: 'lease revoke: unknown', method: 'PUT', path: 'sys/leases/revoke', body: { lease_id: 'database/creds/web/nope' } },
  { id: 'lease revoke: denied', method: 'PUT', path: 'sys/leases/revoke', token: 'web', bodyOf: (s) => ({ lease_id: lease(2)(s) }) },
  { id: 'lease revoke-prefix', method: 'PUT', path: 'sys/leases/revoke-prefix/database/creds/web' },
  { id: 'lease lookup after revoke-prefix', method: 'PUT', path: 'sys/leases/lookup', bodyOf: (s) => ({ lease_id: lease(2)(s) }) },

  // --- sys: mounts, policies, capabilities ---------------------------------------------------------------------------
  { id: 'mounts', method: 'GET', path: 'sys/mounts' },
  { id: 'mounts: denied', method: 'GET', path: 'sys/mounts', token: 'web' },
  { id: 'mount read', method: 'GET', path: 'sys/mounts/secret' },
  { id: 'mount read kv1', method: 'GET', path: 'sys/mounts/kv' },
  { id: 'mount read: missing', method: 'GET', path: 'sys/mounts/nope' },
  { id: 'mount create kv2', method: 'POST', path: 'sys/mounts/extra', body: { type: 'kv', options: { version: '2' } } },
  { id: 'mount create: in use', method: 'POST', path: 'sys/mounts/extra', body: { type: 'kv', options: { version: '2' } } },
  { id: 'mount create: unknown type', method: 'POST', path: 'sys/mounts/other', body: { type: 'no-such-engine' } },
  { id: 'mount create: no type', method: 'POST', path: 'sys/mounts/other', body: {} },
  { id: 'mount delete', method: 'DELETE', path: 'sys/mounts/extra' },
  { id: 'mount create database', method: 'POST', path: 'sys/mounts/extra-db', body: { type: 'database' } },
  { id: 'mount create pki', method: 'POST', path: 'sys/mounts/extra-pki', body: { type: 'pki' } },
  { id: 'mount read database', method: 'GET', path: 'sys/mounts/extra-db' },
  { id: 'mount delete database', method: 'DELETE', path: 'sys/mounts/extra-db' },
  { id: 'mount delete pki', method: 'DELETE', path: 'sys/mounts/extra-pki' },
  { id: 'auth methods', method: 'GET', path: 'sys/auth' },
  { id: 'ui mounts', method: 'GET', path: 'sys/internal/ui/mounts/secret', token: 'web' },
  { id: 'ui mounts with a path', method: 'GET', path: 'sys/internal/ui/mounts/secret/data/app', token: 'web' },
  { id: 'ui mounts kv1', method: 'GET', path: 'sys/internal/ui/mounts/kv/app', token: 'web' },
  { id: 'ui mounts: no access', method: 'GET', path: 'sys/internal/ui/mounts/database', token: 'jwt' },
  { id: 'ui mounts: nothing mounted', method: 'GET', path: 'sys/internal/ui/mounts/nope', token: 'web' },
  { id: 'policies list', method: 'GET', path: 'sys/policies/acl?list=true' },
  { id: 'policies GET', method: 'GET', path: 'sys/policies/acl' },
  { id: 'policy read', method: 'GET', path: 'sys/policies/acl/web' },
  { id: 'policy read default', method: 'GET', path: 'sys/policies/acl/default' },
  { id: 'policy read: missing', method: 'GET', path: 'sys/policies/acl/nope' },
  { id: 'policy write', method: 'PUT', path: 'sys/policies/acl/extra', body: { policy: 'path "kv/*" { capabilities = ["read"] }' } },
  { id: 'policy write: bad HCL', method: 'PUT', path: 'sys/policies/acl/broken', body: { policy: 'path "kv/*" {' } },
  { id: 'policy write: empty', method: 'PUT', path: 'sys/policies/acl/broken', body: {} },
  { id: 'policy write: root', method: 'PUT', path: 'sys/policies/acl/root', body: { policy: 'path "kv/*" { capabilities = ["read"] }' } },
  { id: 'policy delete', method: 'DELETE', path: 'sys/policies/acl/extra' },
  { id: 'policy delete default', method: 'DELETE', path: 'sys/policies/acl/default' },
  { id: 'policy: denied', method: 'GET', path: 'sys/policies/acl/web', token: 'web' },
  { id: 'legacy policy list', method: 'GET', path: 'sys/policy' },
  { id: 'legacy policy read', method: 'GET', path: 'sys/policy/web' },
  { id: 'legacy policy write', method: 'PUT', path: 'sys/policy/legacy', body: { rules: 'path "kv/*" { capabilities = ["read"] }' } },
  { id: 'legacy policy read written', method: 'GET', path: 'sys/policy/legacy' },
  { id: 'legacy policy delete', method: 'DELETE', path: 'sys/policy/legacy' },
  { id: 'capabilities-self', method: 'POST', path: 'sys/capabilities-self', token: 'web', body: { paths: ['secret/data/app', 'kv/app', 'sys/mounts'] } },
  { id: 'capabilities-self root', method: 'POST', path: 'sys/capabilities-self', body: { paths: ['secret/data/app'] } },
  { id: 'capabilities-self: no paths', method: 'POST', path: 'sys/capabilities-self', token: 'web', body: {} },
  { id: 'namespaces list on OSS', method: 'GET', path: 'sys/namespaces?list=true' },
  { id: 'namespace read on OSS', method: 'GET', path: 'sys/namespaces/team-a' },
  // Last of the namespace requests: the fake creates it, and nothing after this uses team-b.
  { id: 'namespace create on OSS', method: 'PUT', path: 'sys/namespaces/team-b', body: {} },
  { id: 'sys alone', method: 'GET', path: 'sys' },
  { id: 'sys: unknown path', method: 'GET', path: 'sys/nonsense' },

  // --- paths nobody serves ---------------------------------------------------------------------------------------
  { id: 'unmounted path', method: 'GET', path: 'nomount/x' },
  { id: 'unmounted path, web token', method: 'GET', path: 'nomount/x', token: 'web' },
  { id: 'unmounted path, no token', method: 'GET', path: 'nomount/x', token: null },
  { id: 'unmounted write', method: 'PUT', path: 'nomount/x', body: { a: 'b' } },
  { id: 'v1 root', method: 'GET', path: '' },
  { id: 'outside /v1', method: 'GET', path: '/v2/sys/health', token: null },

  // --- sealed ---------------------------------------------------------------------------------------------------
  { action: 'seal' },
  { id: 'sealed: health', method: 'GET', path: 'sys/health', token: null },
  { id: 'sealed: health sealedcode', method: 'GET', path: 'sys/health?sealedcode=200', token: null },
  { id: 'sealed: seal-status', method: 'GET', path: 'sys/seal-status', token: null },
  { id: 'sealed: kv read', method: 'GET', path: 'kv/app', token: 'web' },
  { id: 'sealed: login', method: 'POST', path: 'auth/kubernetes/login', token: null, bodyOf: () => ({ role: 'web', jwt: saJwt() }) },
  { id: 'sealed: lookup-self', method: 'GET', path: 'auth/token/lookup-self', token: 'web' },
  { action: 'unseal' },
  { id: 'unsealed: kv read', method: 'GET', path: 'kv/app', token: 'web' },
];

async function send(side: Side, call: Call): Promise<Answer> {
  const path = typeof call.path === 'function' ? call.path(side) : call.path;
  const url = path.startsWith('/') ? `${side.address}${path}` : `${side.address}/v1/${path}`;
  const headers: Record<string, string> = {};
  if (call.token !== null) {
    const name = call.token ?? 'root';
    const token = name === 'bogus' ? 'hvs.bogus-token-nobody-issued' : tokenOf(name)(side);
    if (call.bearer === true) headers['Authorization'] = `Bearer ${token}`;
    else headers['X-Vault-Token'] = token;
  }
  const body = call.raw ?? (call.bodyOf !== undefined ? JSON.stringify(call.bodyOf(side)) : call.body === undefined ? undefined : JSON.stringify(call.body));
  if (body !== undefined && call.raw === undefined) headers['Content-Type'] = 'application/json';
  Object.assign(headers, call.headers);
  try {
    const res = await fetch(url, { method: call.method, headers, ...(body === undefined ? {} : { body }), redirect: 'manual' });
    const text = await res.text();
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    let parsed: unknown;
    let shape: Shape = { kind: 'empty' };
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
        shape = shapeOf(parsed);
      } catch {
        parsed = text;
        shape = { kind: 'text' };
      }
    }
    call.keep?.(parsed, side);
    return { status: res.status, contentType, body: parsed, shape };
  } catch (err: unknown) {
    // No HTTP answer at all (the connection was closed): status 0, and the error as the "body".
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return { status: 0, contentType: '', body: `${String(err)}${cause}`, shape: { kind: 'text' } };
  }
}

function differences(real: Answer, fake: Answer): ShapeDifference[] {
  const out: ShapeDifference[] = [];
  if (real.status !== fake.status) out.push({ at: 'status', real: String(real.status), fake: String(fake.status) });
  if (real.contentType !== fake.contentType) out.push({ at: 'content-type', real: real.contentType || 'none', fake: fake.contentType || 'none' });
  out.push(...compareShapes(real.shape, fake.shape));
  return out;
}

/** For a failure report: the answer cut short, values included (nothing here is a production secret). */
function brief(a: Answer): string {
  const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body) ?? '';
  return `${a.status} ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`;
}

describe('differential: real Vault and the fake answer alike', function () {
  this.timeout(300_000);
  let real: RealVault;
  let reviews: TokenReviewServer;
  let postgres: Postgres;
  let fake: TestVault;
  let realSide: Side;
  let fakeSide: Side;

  before(async () => {
    [real, reviews, postgres, fake] = await Promise.all([
      RealVault.start({ rootToken: ROOT_TOKEN }),
      TokenReviewServer.start(issuer.publicKeyPem, issuer.issuer),
      Postgres.start(),
      startTestVault({ rootToken: ROOT_TOKEN }),
    ]);
    await configureReal(real, reviews, postgres);
    await configureFake(fake);
    realSide = {
      name: 'real', address: real.address, tokens: new Map([['root', ROOT_TOKEN]]), leases: [],
      seal: () => real.seal(), unseal: () => real.unseal(),
    };
    fakeSide = {
      name: 'fake', address: fake.address, tokens: new Map([['root', ROOT_TOKEN]]), leases: [],
      seal: () => Promise.resolve(fake.seal()), unseal: () => Promise.resolve(fake.unseal()),
    };
  });

  after(async () => {
    await fake?.close();
    await real?.stop();
    await reviews?.close();
    await postgres?.stop();
  });

  it('the shape comparison sees keys, types and array elements, and ignores values', () => {
    const a = shapeOf({ data: { keys: ['a', 'b'], n: 1, o: null }, errors: ['x'] });
    assert.deepEqual(compareShapes(a, shapeOf({ data: { keys: ['c'], n: 7, o: null }, errors: [] })), []);
    assert.deepEqual(compareShapes(a, shapeOf({ data: { keys: [1], n: '1', o: {} } })), [
      { at: 'body.data.keys[]', real: 'string', fake: 'number' },
      { at: 'body.data.n', real: 'number', fake: 'string' },
      { at: 'body.data.o', real: 'null', fake: 'object{}' },
      { at: 'body.errors', real: 'errors', fake: 'absent' },
    ]);
    assert.deepEqual(compareShapes(shapeOf({ a: [] }), shapeOf({ a: ['x'] })), [{ at: 'body.a[]', real: 'array<>', fake: 'array<string>' }]);
  });

  it('answers every request of the list with the same status and shape, or a listed difference', async () => {
    const ids = STEPS.flatMap((s) => ('id' in s ? [s.id] : []));
    assert.equal(new Set(ids).size, ids.length, 'request ids must be unique');
    const unexplained: string[] = [];
    const seen = new Set<KnownDifference>();
    let compared = 0;
    if (DUMP !== undefined) writeFileSync(DUMP, '');
    for (const step of STEPS) {
      if ('action' in step) {
        await realSide[step.action]();
        await fakeSide[step.action]();
        continue;
      }
      const r = await send(realSide, step);
      const f = await send(fakeSide, step);
      compared++;
      if (DUMP !== undefined) appendFileSync(DUMP, `${JSON.stringify({ id: step.id, real: r, fake: f })}\n`);
      const diffs = differences(r, f);
      const fresh = diffs.filter((d) => {
        const known = KNOWN_DIFFERENCES.find((k) => isKnown(k, step.id, d));
        if (known !== undefined) seen.add(known);
        return known === undefined;
      });
      if (fresh.length > 0) {
        unexplained.push(
          [
            `${step.id} (${step.method} ${typeof step.path === 'string' ? step.path : step.path(realSide)}):`,
            ...fresh.map((d) => `    ${d.at}: real ${d.real}, fake ${d.fake}`),
            `    real: ${brief(r)}`,
            `    fake: ${brief(f)}`,
          ].join('\n'),
        );
      }
    }
    const stale = KNOWN_DIFFERENCES.filter((k) => !seen.has(k)).map((k) => `${String(k.id)} ${String(k.at)}: real ${k.real ?? '*'}, fake ${k.fake ?? '*'}`);
    console.log(`      differential: ${compared} requests to each Vault, ${KNOWN_DIFFERENCES.length - stale.length} of ${KNOWN_DIFFERENCES.length} known differences seen`);
    assert.deepEqual(
      { unexplained, stale },
      { unexplained: [], stale: [] },
      `${unexplained.length} requests answered differently by the fake (fix the fake, or list the difference with its reason in KNOWN_DIFFERENCES):\n${unexplained.join('\n')}\n` +
        `${stale.length} entries of KNOWN_DIFFERENCES no longer happen (remove them):\n${stale.join('\n')}`,
    );
  });
});

/** Real Vault as the world of the real suite sets it up, with the policy above. */
async function configureReal(v: RealVault, reviews: TokenReviewServer, pg: Postgres): Promise<void> {
  await v.must('POST', 'sys/mounts/kv', { type: 'kv', options: { version: '1' } });
  await v.must('POST', 'sys/policies/acl/web', { policy: POLICY });
  await v.must('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
  await v.must('POST', 'pki/root/generate/internal', { common_name: 'Differential Root CA', ttl: '87600h', key_type: 'ec', key_bits: 256 });
  await v.must('POST', 'pki/roles/web', { allowed_domains: 'prod.svc', allow_subdomains: true, max_ttl: '72h', key_type: 'ec', key_bits: 256 });
  await pg.configureVault(v);
  await v.must('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
  await v.must('POST', 'auth/kubernetes/config', { kubernetes_host: reviews.address, disable_local_ca_jwt: true, issuer: issuer.issuer });
  await v.must('POST', 'auth/kubernetes/role/web', {
    bound_service_account_names: ['web'], bound_service_account_namespaces: ['prod'], audience: 'vault', token_policies: ['web'], token_ttl: '1h',
  });
  await v.must('POST', 'sys/auth/jwt', { type: 'jwt' });
  await v.must('POST', 'auth/jwt/config', { jwt_validation_pubkeys: [issuer.publicKeyPem], bound_issuer: issuer.issuer });
  await v.must('POST', 'auth/jwt/role/web', {
    role_type: 'jwt', bound_audiences: ['vault'], user_claim: 'sub', bound_subject: 'system:serviceaccount:prod:web', token_policies: ['web'], token_ttl: '1h',
  });
}

/** The fake, set up through its helpers to match: the dev server's secret/ (KV v2) included. */
async function configureFake(v: TestVault): Promise<void> {
  v.enableKv('secret', 2);
  v.enableKv('kv', 1);
  v.putPolicy('web', POLICY);
  await v.enablePki('pki', undefined, { intermediate: false, caKeyType: 'ec' });
  v.addPkiRole('pki', 'web', { allowedDomains: ['prod.svc'], allowSubdomains: true, maxTtlSeconds: 72 * 3600, keyType: 'ec', keyBits: 256 });
  v.enableDatabase('database');
  v.addDatabaseRole('database', 'web', { defaultTtlSeconds: 3600, maxTtlSeconds: 24 * 3600, dbName: 'pg' });
  v.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem], issuer: issuer.issuer });
  v.addKubernetesRole('kubernetes', 'web', {
    boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'], ttlSeconds: 3600,
  });
  v.enableJwtAuth('jwt', { publicKeysPem: [issuer.publicKeyPem], boundIssuer: issuer.issuer });
  v.addJwtRole('jwt', 'web', {
    boundAudiences: ['vault'], userClaim: 'sub', boundSubject: 'system:serviceaccount:prod:web', policies: ['web'], ttlSeconds: 3600,
  });
}

