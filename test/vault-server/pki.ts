// The PKI secrets engine: a generated root (and intermediate) CA, roles, and `issue/<role>` that
// returns a real certificate and key in Vault's response shape.
import { isIP } from 'node:net';
import { badRequest, unsupportedOperation, unsupportedPath } from './vault-errors.js';
import { durationField, listField, ok, stringField } from './util.js';
import { SYSTEM_MAX_TTL_SECONDS } from './tokens.js';
import {
  authorityKeyId, certDerBase64, certPem, colonHex, createCertificate, generateKeys, privateKeyDerBase64, privateKeyPem,
  subjectKeyId, type Issuer, type KeyType, type PeculiarCertificate,
} from './x509.js';
import type { EngineRequest, SecretEngine } from './mounts.js';
import type { Reply, RequestKind } from './types.js';

export interface PkiRoleConfig {
  readonly allowedDomains: readonly string[];
  readonly allowSubdomains: boolean;
  readonly allowBareDomains?: boolean;
  readonly allowGlobDomains?: boolean;
  readonly allowAnyName?: boolean;
  /** Default true, as in Vault. */
  readonly allowLocalhost?: boolean;
  /** Default true, as in Vault. */
  readonly allowIpSans?: boolean;
  readonly maxTtlSeconds: number;
  readonly ttlSeconds?: number;
  /** Default `rsa` 2048 like Vault; `ec` (P-256) is much faster to generate. */
  readonly keyType?: KeyType;
  readonly keyBits?: number;
}

export interface PkiOptions {
  /** Issue from an intermediate under the root so `ca_chain` holds two certificates (default true). */
  readonly intermediate?: boolean;
  readonly caKeyType?: KeyType;
  readonly caTtlSeconds?: number;
}

/** Vault backdates leaf certificates by 30 s to absorb clock skew. */
const BACKDATE_MS = 30_000;

/** Paths this engine serves (with some operation): any other operation on them is a 405, as in Vault. */
const SERVED = /^(?:issue\/[^/]+|roles\/[^/]+|cert\/ca|cert\/ca_chain|ca|ca\/pem|ca_chain)$/;

/** Go's time.Duration.String() for whole seconds, which Vault's TTL warnings print: `72h0m0s`, `10m0s`, `5s`. */
function goDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  return m > 0 ? `${m}m${s}s` : `${s}s`;
}

function globToRegex(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

export class PkiEngine implements SecretEngine {
  readonly type = 'pki';
  private readonly roles = new Map<string, PkiRoleConfig>();

  private constructor(
    private readonly root: Issuer,
    private readonly issuing: Issuer,
    private readonly chain: readonly PeculiarCertificate[],
  ) {}

  static async create(nowMs: number, name: string, options: PkiOptions = {}): Promise<PkiEngine> {
    const caType = options.caKeyType ?? 'ec';
    const caTtl = (options.caTtlSeconds ?? 10 * 365 * 86400) * 1000;
    const rootKey = await generateKeys(caType);
    const rootCert = await createCertificate({
      commonName: `${name} Root CA`, notBefore: new Date(nowMs - BACKDATE_MS), notAfter: new Date(nowMs + caTtl),
      key: rootKey, isCa: true,
    });
    const root: Issuer = { cert: rootCert, key: rootKey };
    if (options.intermediate === false) return new PkiEngine(root, root, [rootCert]);
    const intKey = await generateKeys(caType);
    const intCert = await createCertificate({
      commonName: `${name} Intermediate CA`, notBefore: new Date(nowMs - BACKDATE_MS), notAfter: new Date(nowMs + caTtl - 60_000),
      key: intKey, issuer: root, isCa: true, pathLength: 0,
    });
    return new PkiEngine(root, { cert: intCert, key: intKey }, [intCert, rootCert]);
  }

  /** Root CA PEM: what a client must trust to verify issued certificates. */
  get rootCaPem(): string {
    return certPem(this.root.cert);
  }

  get issuingCaPem(): string {
    return certPem(this.issuing.cert);
  }

  setRole(name: string, role: PkiRoleConfig): void {
    this.roles.set(name, role);
  }

  kindOf(_method: string, subPath: string): RequestKind | undefined {
    return subPath.startsWith('issue/') || subPath.startsWith('sign/') ? 'issue' : undefined;
  }

  isUnauthenticated(subPath: string): boolean {
    return ['ca', 'ca/pem', 'ca_chain', 'cert/ca', 'cert/ca_chain'].includes(subPath);
  }

  /** The `data` of cert/ca and cert/ca_chain (Vault's unauthenticated certificate reads). */
  private caCertData(withChain: boolean): Record<string, unknown> {
    const ca = this.issuing.cert;
    return {
      authority_key_id: colonHex(authorityKeyId(ca) ?? subjectKeyId(ca) ?? ''),
      ...(withChain ? { ca_chain: `${this.chain.map(certPem).join('\n')}\n` } : {}),
      certificate: this.issuingCaPem,
      revocation_time: 0,
      revocation_time_rfc3339: '',
    };
  }

  async handle(req: EngineRequest): Promise<Reply> {
    const sub = req.subPath;
    if (sub === 'ca/pem' && req.op === 'read') return { status: 200, body: `${this.issuingCaPem}\n`, headers: { 'content-type': 'application/pem-certificate-chain' } };
    // Vault labels the PEM chain `application/pkix-cert`, and serves `ca` as DER under that type.
    if (sub === 'ca_chain' && req.op === 'read') return { status: 200, body: `${this.chain.map(certPem).join('\n')}\n`, headers: { 'content-type': 'application/pkix-cert' } };
    if (sub === 'ca' && req.op === 'read') return { status: 200, body: Buffer.from(this.issuing.cert.rawData), headers: { 'content-type': 'application/pkix-cert' } };
    if (sub === 'cert/ca' && req.op === 'read') return ok({ data: this.caCertData(false) });
    if (sub === 'cert/ca_chain' && req.op === 'read') return ok({ data: this.caCertData(true) });
    if (sub.startsWith('issue/') && (req.op === 'create' || req.op === 'update')) return this.issue(req, sub.slice('issue/'.length));
    if (sub.startsWith('roles/') && req.op === 'read') {
      const role = this.roles.get(sub.slice('roles/'.length));
      if (!role) return { status: 404, body: { errors: [] } };
      return ok({ data: { allowed_domains: role.allowedDomains, allow_subdomains: role.allowSubdomains, max_ttl: role.maxTtlSeconds,
        ttl: role.ttlSeconds ?? 0, key_type: role.keyType ?? 'rsa', key_bits: role.keyBits ?? (role.keyType === 'ec' ? 256 : 2048) }, mount_type: 'pki' });
    }
    // e.g. a GET of issue/<role> (a SecretProviderClass without `method: PUT`): Vault says 405, not 404.
    return SERVED.test(sub) ? unsupportedOperation() : unsupportedPath();
  }

  private nameAllowed(role: PkiRoleConfig, name: string): boolean {
    if (role.allowAnyName) return true;
    const lower = name.toLowerCase();
    if ((role.allowLocalhost ?? true) && (lower === 'localhost' || lower === 'localdomain')) return true;
    for (const domain of role.allowedDomains.map((d) => d.toLowerCase())) {
      if (role.allowBareDomains && lower === domain) return true;
      if (role.allowSubdomains && lower.endsWith(`.${domain}`)) return true;
      if (role.allowGlobDomains && domain.includes('*') && globToRegex(domain).test(lower)) return true;
    }
    return false;
  }

  private async issue(req: EngineRequest, roleName: string): Promise<Reply> {
    const role = this.roles.get(roleName);
    if (!role) return badRequest(`unknown role: ${roleName}`);
    // The request data is the body: Vault reads no query string on a write (core.ts says why).
    const input = { ...req.body };
    const cn = stringField(input, 'common_name');
    if (cn === '') {
      return badRequest('the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false');
    }
    if (!this.nameAllowed(role, cn)) return badRequest(`common name ${cn} not allowed by this role`);
    const altNames = listField(input, 'alt_names');
    for (const alt of altNames) {
      if (!this.nameAllowed(role, alt)) return badRequest(`subject alternate name ${alt} not allowed by this role`);
    }
    const ipSans = listField(input, 'ip_sans');
    if (ipSans.length > 0 && !(role.allowIpSans ?? true)) {
      return badRequest(`IP Subject Alternative Names are not allowed in this role, but was provided ${ipSans.join(',')}`);
    }
    for (const ip of ipSans) if (isIP(ip) === 0) return badRequest(`the value ${JSON.stringify(ip)} is not a valid IP address`);
    const format = stringField(input, 'format') || 'pem';
    if (!['pem', 'der', 'pem_bundle'].includes(format)) return badRequest(`unknown format for 'format' parameter: ${format}`);
    const keyFormat = stringField(input, 'private_key_format') || 'der';
    if (!['der', 'pem', 'pkcs8'].includes(keyFormat)) return badRequest(`unknown private_key_format: ${keyFormat}`);

    const warnings: string[] = [];
    // Without a ttl (asked or the role's), Vault starts from the mount's default, the system's 768h.
    let ttl = durationField(input, 'ttl') ?? role.ttlSeconds ?? SYSTEM_MAX_TTL_SECONDS;
    if (role.maxTtlSeconds > 0 && ttl > role.maxTtlSeconds) {
      warnings.push(`TTL "${goDuration(ttl)}" is longer than permitted maxTTL "${goDuration(role.maxTtlSeconds)}", so maxTTL is being used`);
      ttl = role.maxTtlSeconds;
    }
    const notAfter = new Date(req.now + ttl * 1000);
    if (notAfter.getTime() > this.issuing.cert.notAfter.getTime()) {
      return badRequest(`cannot satisfy request, as TTL would result in notAfter of ${notAfter.toISOString()} that is beyond the expiration of the CA certificate at ${this.issuing.cert.notAfter.toISOString()}`);
    }

    const keyType = role.keyType ?? 'rsa';
    const key = await generateKeys(keyType, role.keyBits);
    const excludeCn = input['exclude_cn_from_sans'] === true || input['exclude_cn_from_sans'] === 'true';
    const isEmail = cn.includes('@');
    const dnsNames = [...new Set([...(excludeCn || isEmail ? [] : [cn]), ...altNames.filter((n) => !n.includes('@'))])];
    const emails = [...new Set([...(isEmail && !excludeCn ? [cn] : []), ...altNames.filter((n) => n.includes('@'))])];
    const cert = await createCertificate({
      commonName: cn, notBefore: new Date(req.now - BACKDATE_MS), notAfter, key, issuer: this.issuing,
      dnsNames, emails, ipAddresses: ipSans,
    });

    const der = format === 'der';
    const encodeCert = (c: PeculiarCertificate): string => (der ? certDerBase64(c) : certPem(c));
    const keyText = der
      ? await privateKeyDerBase64(key, keyFormat === 'pkcs8' ? 'pkcs8' : 'traditional')
      : (await privateKeyPem(key, keyFormat === 'pkcs8' ? 'pkcs8' : 'traditional')).trim();
    let certificate = encodeCert(cert);
    if (format === 'pem_bundle') certificate = [keyText, certificate, certPem(this.issuing.cert)].join('\n');
    return ok({
      data: {
        authority_key_id: colonHex(subjectKeyId(this.issuing.cert) ?? ''),
        ca_chain: this.chain.map(encodeCert),
        certificate,
        expiration: Math.floor(cert.notAfter.getTime() / 1000),
        issuing_ca: encodeCert(this.issuing.cert),
        private_key: keyText,
        private_key_type: keyType,
        serial_number: colonHex(cert.serialNumber),
      },
      warnings,
      mount_type: 'pki',
    });
  }
}
