// Namespaces (a Vault Enterprise feature the provider must support): each owns its mounts, auth
// methods and policies; requests pick one with X-Vault-Namespace and/or a path prefix.
import { DEFAULT_POLICY_HCL, parsePolicy, type Policy } from './policy.js';
import { randomBase62 } from './util.js';
import type { AuthMountEntry, MountEntry } from './mounts.js';

export interface Namespace {
  /** '' for root, otherwise slash-separated without leading/trailing slashes. */
  readonly path: string;
  readonly id: string;
  readonly mounts: Map<string, MountEntry>;
  readonly authMounts: Map<string, AuthMountEntry>;
  readonly policies: Map<string, Policy>;
}

export function normalizeNamespacePath(raw: string | undefined): string {
  const trimmed = (raw ?? '').trim().replace(/^\/+|\/+$/g, '');
  return trimmed === 'root' ? '' : trimmed;
}

/** True when `child` is `parent` or lies below it. */
export function isWithin(child: string, parent: string): boolean {
  return parent === '' || child === parent || child.startsWith(`${parent}/`);
}

/** Path of `child` relative to `parent`, with a trailing slash when non-empty (`sub/`). */
export function relativeNamespace(child: string, parent: string): string {
  if (child === parent) return '';
  const rel = parent === '' ? child : child.slice(parent.length + 1);
  return `${rel}/`;
}

export class NamespaceRegistry {
  private readonly byPath = new Map<string, Namespace>();

  constructor() {
    this.byPath.set('', this.make('', 'root'));
  }

  private make(path: string, id: string): Namespace {
    const ns: Namespace = { path, id, mounts: new Map(), authMounts: new Map(), policies: new Map() };
    ns.policies.set('default', parsePolicy('default', DEFAULT_POLICY_HCL));
    return ns;
  }

  get root(): Namespace {
    return this.byPath.get('')!;
  }

  get(path: string): Namespace | undefined {
    return this.byPath.get(normalizeNamespacePath(path));
  }

  require(path: string | undefined): Namespace {
    const ns = this.get(path ?? '');
    if (!ns) throw new Error(`namespace ${JSON.stringify(path)} does not exist; call createNamespace first`);
    return ns;
  }

  /** Creates the namespace and any missing parents (`a/b` creates `a` too). */
  create(path: string): Namespace {
    const norm = normalizeNamespacePath(path);
    if (norm === '') return this.root;
    const parts = norm.split('/');
    let current = '';
    let ns = this.root;
    for (const part of parts) {
      current = current === '' ? part : `${current}/${part}`;
      const existing = this.byPath.get(current);
      if (existing) { ns = existing; continue; }
      ns = this.make(current, randomBase62(5));
      this.byPath.set(current, ns);
    }
    return ns;
  }

  all(): Namespace[] {
    return [...this.byPath.values()];
  }

  /**
   * Resolves the request namespace: the header names the base, then leading path segments that
   * name child namespaces descend further, as Vault does for `/v1/team-a/secret/...`.
   */
  resolve(headerNs: string | undefined, route: string): { ns: Namespace; route: string } | undefined {
    const base = this.get(normalizeNamespacePath(headerNs));
    if (!base) return undefined;
    let ns = base;
    let rest = route;
    for (;;) {
      const slash = rest.indexOf('/');
      const head = slash < 0 ? rest : rest.slice(0, slash);
      if (head === '' || head === 'sys' || head === 'auth') break;
      const candidate = this.byPath.get(ns.path === '' ? head : `${ns.path}/${head}`);
      if (!candidate) break;
      ns = candidate;
      rest = slash < 0 ? '' : rest.slice(slash + 1);
    }
    return { ns, route: rest };
  }
}
