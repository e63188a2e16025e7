// ACL policies: the HCL/JSON subset tests write, and Vault's path-matching and priority rules.
import { CAPABILITIES, type Capability, type Operation } from './types.js';
import { isJsonObject } from './util.js';

export interface PathRule {
  readonly pattern: string;
  readonly capabilities: ReadonlySet<Capability>;
}

export interface Policy {
  readonly name: string;
  readonly raw: string;
  readonly rules: readonly PathRule[];
}

export class PolicyParseError extends Error {
  override readonly name = 'PolicyParseError';
}

type Tok = { t: 'str'; v: string } | { t: 'ident'; v: string } | { t: 'num'; v: string } | { t: 'punct'; v: string };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new PolicyParseError('unterminated comment');
      i = end + 2;
      continue;
    }
    if (c === '"') {
      let v = '';
      i++;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === '\\' && i + 1 < src.length) { v += src[i + 1]; i += 2; continue; }
        v += src[i];
        i++;
      }
      if (i >= src.length) throw new PolicyParseError('unterminated string');
      i++;
      out.push({ t: 'str', v });
      continue;
    }
    if ('{}[]=,:'.includes(c)) { out.push({ t: 'punct', v: c }); i++; continue; }
    const m = /^[A-Za-z_][A-Za-z0-9_.-]*|^-?\d+(?:\.\d+)?/.exec(src.slice(i));
    if (!m) throw new PolicyParseError(`unexpected character ${JSON.stringify(c)}`);
    out.push({ t: /^[-\d]/.test(m[0]) ? 'num' : 'ident', v: m[0] });
    i += m[0].length;
  }
  return out;
}

type HclValue = string | number | boolean | HclValue[] | { [k: string]: HclValue };

class HclParser {
  private pos = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok | undefined { return this.toks[this.pos]; }
  private next(): Tok {
    const t = this.toks[this.pos++];
    if (!t) throw new PolicyParseError('unexpected end of policy');
    return t;
  }
  private expect(v: string): void {
    const t = this.next();
    if (t.t !== 'punct' || t.v !== v) throw new PolicyParseError(`expected ${JSON.stringify(v)}, got ${JSON.stringify(t.v)}`);
  }

  /** Top level: a sequence of `path "x" { ... }` blocks (other blocks are parsed and ignored). */
  parseRules(): PathRule[] {
    const rules: PathRule[] = [];
    while (this.peek()) {
      const key = this.next();
      if (key.t !== 'ident') throw new PolicyParseError(`unexpected token ${JSON.stringify(key.v)}`);
      const labels: string[] = [];
      while (this.peek()?.t === 'str') labels.push(this.next().v);
      if (this.peek()?.t === 'punct' && this.peek()?.v === '=') this.next();
      const body = this.parseValue();
      if (key.v !== 'path') continue;
      if (labels.length !== 1 || !isHclObject(body)) throw new PolicyParseError('path block needs one quoted path and a body');
      rules.push(ruleFrom(labels[0]!, body));
    }
    return rules;
  }

  private parseValue(): HclValue {
    const t = this.next();
    if (t.t === 'str') return t.v;
    if (t.t === 'num') return Number(t.v);
    if (t.t === 'ident') return t.v === 'true' ? true : t.v === 'false' ? false : t.v;
    if (t.v === '[') {
      const items: HclValue[] = [];
      while (!(this.peek()?.t === 'punct' && this.peek()?.v === ']')) {
        items.push(this.parseValue());
        if (this.peek()?.t === 'punct' && this.peek()?.v === ',') this.next();
      }
      this.expect(']');
      return items;
    }
    if (t.v === '{') {
      const obj: { [k: string]: HclValue } = {};
      while (!(this.peek()?.t === 'punct' && this.peek()?.v === '}')) {
        const k = this.next();
        if (k.t === 'punct') throw new PolicyParseError(`unexpected ${JSON.stringify(k.v)} in block`);
        const sep = this.peek();
        if (sep?.t === 'punct' && (sep.v === '=' || sep.v === ':')) this.next();
        obj[k.v] = this.parseValue();
        if (this.peek()?.t === 'punct' && this.peek()?.v === ',') this.next();
      }
      this.expect('}');
      return obj;
    }
    throw new PolicyParseError(`unexpected ${JSON.stringify(t.v)}`);
  }
}

function isHclObject(v: unknown): v is { [k: string]: HclValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCapability(v: string): v is Capability {
  return (CAPABILITIES as readonly string[]).includes(v);
}

function ruleFrom(pattern: string, body: Record<string, unknown>): PathRule {
  const caps = new Set<Capability>();
  const raw = body['capabilities'];
  const list = Array.isArray(raw) ? raw : [];
  for (const c of list) {
    const name = String(c).toLowerCase();
    if (!isCapability(name)) throw new PolicyParseError(`path ${JSON.stringify(pattern)}: invalid capability ${JSON.stringify(name)}`);
    caps.add(name);
  }
  // The pre-0.9 `policy = "read"` shorthand still appears in old examples; map it as Vault does.
  const legacy = body['policy'];
  if (typeof legacy === 'string') {
    const map: Record<string, Capability[]> = {
      deny: ['deny'], read: ['read', 'list'], write: ['create', 'read', 'update', 'delete', 'list'],
      sudo: ['create', 'read', 'update', 'delete', 'list', 'sudo'],
    };
    for (const c of map[legacy] ?? []) caps.add(c);
  }
  return { pattern: pattern.replace(/^\//, ''), capabilities: caps };
}

/** Parses HCL (`path "a/*" { capabilities = [...] }`) or the equivalent JSON document. */
export function parsePolicy(name: string, raw: string): Policy {
  const trimmed = raw.trim();
  if (trimmed.startsWith('{')) {
    let doc: unknown;
    try { doc = JSON.parse(trimmed); } catch (err: unknown) {
      throw new PolicyParseError(`failed to parse policy: ${err instanceof Error ? err.message : String(err)}`);
    }
    const paths = isJsonObject(doc) ? doc['path'] : undefined;
    const rules: PathRule[] = [];
    if (isJsonObject(paths)) {
      for (const [pattern, body] of Object.entries(paths)) {
        if (!isJsonObject(body)) throw new PolicyParseError(`path ${JSON.stringify(pattern)} must be an object`);
        rules.push(ruleFrom(pattern, body));
      }
    }
    return { name, raw, rules };
  }
  return { name, raw, rules: new HclParser(tokenize(raw)).parseRules() };
}

/** Who a token speaks for, as templated policies see it. */
export interface PolicyIdentity {
  readonly entityId: string;
  readonly alias?: { readonly mountAccessor: string; readonly name: string; readonly metadata: Readonly<Record<string, string>> };
}

const TEMPLATE = /\{\{\s*([^{}\s]+)\s*\}\}/g;

function templateValue(expr: string, identity: PolicyIdentity): string | undefined {
  if (expr === 'identity.entity.id') return identity.entityId === '' ? undefined : identity.entityId;
  const m = /^identity\.entity\.aliases\.([^.]+)\.(name|metadata\.(.+))$/.exec(expr);
  const alias = identity.alias;
  if (m === null || alias === undefined || alias.mountAccessor !== m[1]) return undefined;
  if (m[2] === 'name') return alias.name;
  return Object.hasOwn(alias.metadata, m[3]!) ? alias.metadata[m[3]!] : undefined;
}

/**
 * Templated policy paths (`path "database/creds/{{identity.entity.aliases.<mount accessor>.name}}"`), rendered for
 * one token's identity as Vault renders them when it builds the token's ACL: the entity ID, an alias's name and
 * its metadata. A path whose template cannot be resolved for this token is left out, as Vault skips it.
 */
export function renderPolicyTemplates(policy: Policy, identity: PolicyIdentity): Policy {
  if (!policy.rules.some((r) => r.pattern.includes('{{'))) return policy;
  const rules: PathRule[] = [];
  for (const rule of policy.rules) {
    let resolved = true;
    const pattern = rule.pattern.replace(TEMPLATE, (_, expr: string) => {
      const value = templateValue(expr, identity);
      if (value === undefined) resolved = false;
      return value ?? '';
    });
    if (resolved) rules.push({ pattern, capabilities: rule.capabilities });
  }
  return { ...policy, rules };
}

/** Vault's built-in `default` policy, reduced to the paths a login token actually uses. */
export const DEFAULT_POLICY_HCL = `
# Allow tokens to look up their own properties
path "auth/token/lookup-self" { capabilities = ["read"] }
# Allow tokens to renew themselves
path "auth/token/renew-self" { capabilities = ["update"] }
# Allow tokens to revoke themselves
path "auth/token/revoke-self" { capabilities = ["update"] }
# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" { capabilities = ["update"] }
# Allow a token to renew a lease via lease_id in the request body
path "sys/renew" { capabilities = ["update"] }
path "sys/leases/renew" { capabilities = ["update"] }
# Allow looking up lease properties
path "sys/leases/lookup" { capabilities = ["update"] }
# Allow a token to manage its own cubbyhole
path "cubbyhole/*" { capabilities = ["create", "read", "update", "delete", "list"] }
# Allow a token to look up the mount of a path (used by the CLI to find the KV version)
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }
`;

interface CompiledPattern {
  readonly pattern: string;
  readonly regex: RegExp;
  readonly exact: boolean;
  readonly glob: boolean;
  readonly plusCount: number;
  /** Index of the first `+` or `*`; later means more specific. */
  readonly firstWildcard: number;
  capabilities: Set<Capability>;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compile(pattern: string): CompiledPattern {
  const glob = pattern.endsWith('*');
  const body = glob ? pattern.slice(0, -1) : pattern;
  const segments = body.split('/');
  let plusCount = 0;
  const source = segments
    .map((seg) => {
      if (seg === '+') { plusCount++; return '[^/]*'; }
      return escapeRegex(seg);
    })
    .join('/');
  const plus = /(^|\/)\+(?=\/|$)/.exec(body);
  const plusIndex = plus ? plus.index + plus[1]!.length : -1;
  const firstWildcard = plusIndex >= 0 ? plusIndex : glob ? pattern.length - 1 : Number.POSITIVE_INFINITY;
  return {
    pattern,
    regex: new RegExp(`^${source}${glob ? '.*' : ''}$`, 's'),
    exact: !glob && plusCount === 0,
    glob,
    plusCount,
    firstWildcard,
    capabilities: new Set(),
  };
}

/** Returns >0 when a is more specific than b, following Vault's documented priority rules. */
function comparePriority(a: CompiledPattern, b: CompiledPattern): number {
  if (a.firstWildcard !== b.firstWildcard) return a.firstWildcard - b.firstWildcard;
  if (a.glob !== b.glob) return a.glob ? -1 : 1;
  if (a.plusCount !== b.plusCount) return b.plusCount - a.plusCount;
  if (a.pattern.length !== b.pattern.length) return a.pattern.length - b.pattern.length;
  return a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0;
}

/** The merged rules of a token's policies, as Vault builds one ACL per request. */
export class Acl {
  private readonly root: boolean;
  private readonly patterns = new Map<string, CompiledPattern>();

  constructor(policies: readonly Policy[], isRoot: boolean) {
    this.root = isRoot;
    for (const policy of policies) {
      for (const rule of policy.rules) {
        let compiled = this.patterns.get(rule.pattern);
        if (!compiled) {
          compiled = compile(rule.pattern);
          this.patterns.set(rule.pattern, compiled);
        }
        for (const c of rule.capabilities) compiled.capabilities.add(c);
      }
    }
  }

  /** Capabilities granted on a path; `deny` on the winning pattern wipes everything. */
  capabilities(path: string): Set<Capability> {
    if (this.root) return new Set(CAPABILITIES.filter((c) => c !== 'deny'));
    const exact = this.patterns.get(path);
    let winner: CompiledPattern | undefined = exact && exact.exact ? exact : undefined;
    if (!winner) {
      for (const p of this.patterns.values()) {
        if (p.exact || !p.regex.test(path)) continue;
        if (!winner || comparePriority(p, winner) > 0) winner = p;
      }
    }
    if (!winner || winner.capabilities.has('deny')) return new Set();
    return new Set(winner.capabilities);
  }

  /**
   * True when some rule grants something at or below `prefix` (a mount path), as Vault's hasMountAccess decides who
   * may read sys/internal/ui/mounts/<mount>: a token that can read `secret/data/x` may look up the mount `secret/`.
   */
  grantsWithin(prefix: string): boolean {
    if (this.root) return true;
    for (const p of this.patterns.values()) {
      if (p.capabilities.size === 0 || p.capabilities.has('deny')) continue;
      const body = p.glob ? p.pattern.slice(0, -1) : p.pattern;
      if (body.startsWith(prefix) || (p.glob && prefix.startsWith(body))) return true;
    }
    return false;
  }

  allows(path: string, op: Operation, needSudo = false): boolean {
    if (this.root) return true;
    const caps = this.capabilities(path);
    if (needSudo && !caps.has('sudo')) return false;
    return caps.has(op);
  }
}
