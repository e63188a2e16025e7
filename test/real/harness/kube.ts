/**
 * A real Kubernetes control plane for the real suite, the way controller-runtime's envtest runs one: etcd and
 * kube-apiserver (built from their Go modules by scripts/real/build-tools.sh) on loopback ports, in a temporary
 * directory. The API server authorises with RBAC, issues ServiceAccount tokens with an RS256 key and an issuer of
 * the test's own, serves TLS with a certificate from a CA of the test's own, and trusts client certificates from
 * that CA: the admin credential is one (group system:masters), written into a kubeconfig for kubectl and helm.
 * There is no controller manager, scheduler or kubelet: objects are stored and validated, Pods never run, and
 * nothing creates a namespace's `default` ServiceAccount or cleans up after a deletion.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { certPem, createCertificate, generateKeys, privateKeyPem, type Issuer } from '../../vault-server/x509.js';
import { Child, freePort, until } from './processes.js';
import { toolPath } from './tools.js';

const execFileAsync = promisify(execFile);
const REPO = new URL('../../../', import.meta.url).pathname;

/** The directory of a module the real suite's Go modules require, in the module cache (e.g. the driver's CRDs). */
export function goModuleDir(moduleDir: string, modulePath: string): string {
  return execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', modulePath], {
    cwd: join(REPO, moduleDir),
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=readonly' },
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

export interface KubeAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A Kubernetes identity's TLS credential: PEM of a client certificate and its key. */
export interface ClientCredential {
  readonly cert: string;
  readonly key: string;
}

export interface KubeStartOptions {
  /** `--service-account-issuer`; also the default (and first) API audience. */
  readonly issuer?: string;
  /** Further `--api-audiences` besides the issuer. */
  readonly extraAudiences?: readonly string[];
  /** Extra kube-apiserver flags, e.g. a feature gate. */
  readonly apiServerFlags?: readonly string[];
  /** Record the request body of every TokenRequest in an audit log (auditEvents() reads it). */
  readonly auditTokenRequests?: boolean;
}

/** One kube-apiserver audit event (audit.k8s.io/v1), the fields the suite reads. */
export interface AuditEvent {
  readonly verb: string;
  readonly objectRef?: { readonly resource?: string; readonly subresource?: string; readonly namespace?: string; readonly name?: string };
  readonly user: { readonly username: string };
  readonly requestObject?: unknown;
  readonly responseStatus?: { readonly code?: number };
}

export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export class KubeControlPlane {
  private readonly agent: Agent;

  private constructor(
    private readonly dir: string,
    private readonly etcd: Child,
    private readonly apiServer: Child,
    /** https://127.0.0.1:<port> */
    readonly server: string,
    /** PEM of the CA that signed the serving certificate and the client certificates. */
    readonly caPem: string,
    private readonly ca: Issuer,
    private readonly admin: ClientCredential,
    /** A kubeconfig whose current context is the admin (system:masters). */
    readonly adminKubeconfig: string,
    readonly issuer: string,
    /** PEM of the public half of the ServiceAccount signing key (what a verifier of its tokens needs). */
    readonly serviceAccountPublicKeyPem: string,
  ) {
    this.agent = new Agent({ connect: { ca: caPem, cert: admin.cert, key: admin.key, servername: 'localhost' } });
  }

  static async start(options: KubeStartOptions = {}): Promise<KubeControlPlane> {
    const etcdBin = toolPath('etcd');
    const apiServerBin = toolPath('kube-apiserver');
    const dir = await mkdtemp(join(tmpdir(), 'vcp-real-kube-'));
    const issuer = options.issuer ?? DEFAULT_ISSUER;
    const file = async (name: string, contents: string, mode = 0o600): Promise<string> => {
      const path = join(dir, name);
      await writeFile(path, contents, { mode });
      return path;
    };

    // The CA of the test's own signs the serving certificate and every client certificate.
    const notBefore = new Date(Date.now() - 60_000);
    const notAfter = new Date(Date.now() + 24 * 3600_000);
    const caKey = await generateKeys('ec');
    const caCert = await createCertificate({ commonName: 'real-suite-kube-ca', key: caKey, isCa: true, notBefore, notAfter });
    const ca: Issuer = { cert: caCert, key: caKey };
    const caPem = `${certPem(caCert)}\n`;
    const servingKey = await generateKeys('ec');
    const serving = await createCertificate({
      commonName: 'kube-apiserver',
      key: servingKey,
      issuer: ca,
      notBefore,
      notAfter,
      dnsNames: ['localhost', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1'],
      serverAuth: true,
      clientAuth: false,
    });
    const admin = await clientCredential(ca, 'real-suite-admin', 'system:masters');
    // RS256: the ServiceAccount signing key is RSA, as a cluster's usually is and as Vault's JWT checks expect.
    const saKey = await generateKeys('rsa', 2048);
    const saPrivate = await privateKeyPem(saKey, 'pkcs8');
    const saPublic = createPublicKey(saPrivate).export({ type: 'spki', format: 'pem' }).toString();

    const caFile = await file('ca.crt', caPem, 0o644);
    const certFile = await file('apiserver.crt', `${certPem(serving)}\n`, 0o644);
    const keyFile = await file('apiserver.key', await privateKeyPem(servingKey, 'pkcs8'));
    const saKeyFile = await file('sa.key', saPrivate);
    const saPubFile = await file('sa.pub', saPublic, 0o644);

    const etcdClientPort = await freePort();
    const etcdPeerPort = await freePort();
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir };
    const etcd = new Child(
      'etcd',
      etcdBin,
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        // A throw-away store: no fsync, as envtest runs it.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      await until(async () => (await etcdHealthy(etcdUrl)) || !etcd.running, 'etcd to report itself healthy', 60_000);
      if (!etcd.running) throw new Error(`etcd exited:\n${etcd.log.slice(-4000)}`);
    } catch (err: unknown) {
      await etcd.stop();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }

    const auditFlags: string[] = [];
    if (options.auditTokenRequests === true) {
      const policy = await file(
        'audit-policy.yaml',
        stringify({
          apiVersion: 'audit.k8s.io/v1',
          kind: 'Policy',
          omitStages: ['RequestReceived'],
          // The request body of a TokenRequest holds no credential (its spec); the response, with the token, is not logged.
          rules: [{ level: 'Request', resources: [{ group: '', resources: ['serviceaccounts/token'] }] }, { level: 'None' }],
        }),
      );
      auditFlags.push(`--audit-policy-file=${policy}`, `--audit-log-path=${join(dir, 'audit.log')}`, '--audit-log-mode=blocking');
    }
    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const audiences = [issuer, ...(options.extraAudiences ?? [])];
    const apiServer = new Child(
      'kube-apiserver',
      apiServerBin,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${join(dir, 'certs')}`,
        `--tls-cert-file=${certFile}`,
        `--tls-private-key-file=${keyFile}`,
        `--client-ca-file=${caFile}`,
        '--authorization-mode=RBAC',
        `--service-account-issuer=${issuer}`,
        `--service-account-key-file=${saPubFile}`,
        `--service-account-signing-key-file=${saKeyFile}`,
        `--api-audiences=${audiences.join(',')}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        '--allow-privileged=true',
        '--profiling=false',
        ...auditFlags,
        ...(options.apiServerFlags ?? []),
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const adminKubeconfig = join(dir, 'admin.kubeconfig');
    const plane = new KubeControlPlane(dir, etcd, apiServer, server, caPem, ca, admin, adminKubeconfig, issuer, saPublic);
    try {
      await writeFile(adminKubeconfig, plane.kubeconfig('real-suite-admin', { clientCertificate: admin }), { mode: 0o600 });
      await until(
        async () => {
          if (!apiServer.running) throw new Error(`kube-apiserver exited:\n${apiServer.log.slice(-4000)}`);
          return (await plane.api('GET', '/readyz').catch(() => ({ status: 0 }))).status === 200;
        },
        'kube-apiserver to report /readyz',
        180_000,
      );
    } catch (err: unknown) {
      await plane.stop();
      throw err;
    }
    return plane;
  }

  /** A client certificate of this cluster's CA for the user `name`, in `group` when given. */
  clientCredential(name: string, group?: string): Promise<ClientCredential> {
    return clientCredential(this.ca, name, group);
  }

  /** A kubeconfig (YAML) for this API server, authenticating with a client certificate or a bearer token. */
  kubeconfig(user: string, auth: { clientCertificate: ClientCredential } | { token: string }, namespace?: string): string {
    const userEntry =
      'token' in auth
        ? { token: auth.token }
        : {
            'client-certificate-data': Buffer.from(auth.clientCertificate.cert).toString('base64'),
            'client-key-data': Buffer.from(auth.clientCertificate.key).toString('base64'),
          };
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'real-suite', cluster: { server: this.server, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: user, user: userEntry }],
      contexts: [{ name: user, context: { cluster: 'real-suite', user, ...(namespace === undefined ? {} : { namespace }) } }],
      'current-context': user,
    });
  }

  /** Writes a kubeconfig into the control plane's directory and returns its path. */
  async writeKubeconfig(name: string, contents: string): Promise<string> {
    const path = join(this.dir, `${name}.kubeconfig`);
    await writeFile(path, contents, { mode: 0o600 });
    return path;
  }

  /** One request to the API server as the admin, or with a bearer token; the body is parsed when it is JSON. */
  async api(method: string, path: string, body?: unknown, options: { token?: string; contentType?: string } = {}): Promise<KubeAnswer> {
    const res = await request(`${this.server}${path}`, {
      method: method as 'GET',
      dispatcher: options.token === undefined ? this.agent : this.tokenAgent,
      headers: {
        accept: 'application/json',
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(body === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON (/readyz answers "ok"): kept as text
    }
    return { status: res.statusCode, body: parsed };
  }

  /** Like api(), but fails unless the answer is 2xx. */
  async must(method: string, path: string, body?: unknown, options: { token?: string; contentType?: string } = {}): Promise<unknown> {
    const a = await this.api(method, path, body, options);
    if (a.status < 200 || a.status > 299) throw new Error(`kube-apiserver ${method} ${path}: ${a.status} ${JSON.stringify(a.body)}`);
    return a.body;
  }

  /** kubectl as the admin (or with another kubeconfig); resolves with stdout, rejects with stderr in the message. */
  async kubectl(args: readonly string[], options: { kubeconfig?: string; input?: string } = {}): Promise<string> {
    const kubectl = toolPath('kubectl');
    const child = execFileAsync(kubectl, ['--kubeconfig', options.kubeconfig ?? this.adminKubeconfig, ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: this.dir },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 120_000,
    });
    if (options.input !== undefined) {
      child.child.stdin?.end(options.input);
    }
    try {
      return (await child).stdout;
    } catch (err: unknown) {
      // `kubectl auth can-i` answers "no" on stdout with exit status 1: keep both streams.
      const e = err as { stdout?: string; stderr?: string; message?: string };
      const said = [e.stdout?.trim(), e.stderr?.trim()].filter((x) => x !== undefined && x !== '').join('\n');
      throw new Error(`kubectl ${args.join(' ')}: ${said || e.message || String(err)}`, { cause: err });
    }
  }

  /** The audit events logged so far (with auditTokenRequests). */
  async auditEvents(): Promise<AuditEvent[]> {
    const text = await readFile(join(this.dir, 'audit.log'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AuditEvent);
  }

  get apiServerLog(): string {
    return this.apiServer.log;
  }

  get running(): boolean {
    return this.apiServer.running && this.etcd.running;
  }

  /** API server first (it holds etcd's watches), then etcd, then the directory. */
  async stop(): Promise<void> {
    await this.apiServer.stop();
    await this.etcd.stop();
    await this.agent.close();
    await this.#tokenAgent?.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  #tokenAgent: Agent | undefined;

  /** Trusts the cluster's CA but presents no client certificate, so a bearer token is the only credential. */
  private get tokenAgent(): Agent {
    this.#tokenAgent ??= new Agent({ connect: { ca: this.caPem, servername: 'localhost' } });
    return this.#tokenAgent;
  }
}

async function clientCredential(ca: Issuer, name: string, group: string | undefined): Promise<ClientCredential> {
  const key = await generateKeys('ec');
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  // The API server takes the user from the CN and a group from each O.
  const cert = await createCertificate({
    commonName: name,
    ...(group === undefined ? {} : { organization: group }),
    key,
    issuer: ca,
    notBefore,
    notAfter,
    serverAuth: false,
    clientAuth: true,
  });
  return { cert: `${certPem(cert)}\n`, key: await privateKeyPem(key, 'pkcs8') };
}

async function etcdHealthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`);
    const body = (await res.json()) as { health?: unknown };
    return res.status === 200 && body.health === 'true';
  } catch {
    return false;
  }
}
