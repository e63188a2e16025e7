/**
 * Offline validation of Kubernetes manifests, two ways:
 * - the OpenAPI schemas compiled into kubernetes-models (types, formats, required fields, enums), and
 * - a strict field check: each document becomes a TypeScript object literal typed with its kubernetes-models
 *   interface (or one of ../deploy/extra-types.ts), and TypeScript's excess-property check names any field the
 *   type does not have — the misspelling or misplacement a schema validator lets through, since Kubernetes schemas
 *   allow unknown fields and the API server only drops them.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { isObject } from './kustomize.js';

export interface TypeRef {
  /** Module specifier, as imported from test/deploy/. */
  readonly module: string;
  readonly name: string;
  /** Check as a strategic merge patch of the type: fields optional, unknown fields still refused. */
  readonly patch?: boolean;
}

export interface CheckedDocument {
  /** For messages: file and document index. */
  readonly source: string;
  readonly doc: unknown;
  readonly type: TypeRef;
}

const EXTRA_TYPES = './extra-types';
const KUBERNETES_MODELS_GROUPS = new Set(['v1', 'apps/v1', 'batch/v1', 'policy/v1', 'rbac.authorization.k8s.io/v1', 'storage.k8s.io/v1', 'networking.k8s.io/v1']);

/** The type a Kubernetes document is checked against, from its apiVersion and kind; undefined when unknown. */
export function kubeType(doc: unknown): TypeRef | undefined {
  if (!isObject(doc) || typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string' || !/^[A-Z][A-Za-z]+$/.test(doc.kind)) return undefined;
  if (doc.apiVersion === 'secrets-store.csi.x-k8s.io/v1' && doc.kind === 'SecretProviderClass') return { module: EXTRA_TYPES, name: 'ISecretProviderClass' };
  if (!KUBERNETES_MODELS_GROUPS.has(doc.apiVersion)) return undefined;
  return { module: `kubernetes-models/${doc.apiVersion}/${doc.kind}`, name: `I${doc.kind}` };
}

export const extraType = (name: 'IKustomization' | 'IVaultHelmValues' | 'IDriverHelmValues'): TypeRef => ({ module: EXTRA_TYPES, name });

/** Schema validation with kubernetes-models' compiled validators. Returns the problems, empty when valid. */
export async function schemaProblems(doc: unknown, source: string): Promise<string[]> {
  const type = kubeType(doc);
  if (type === undefined) return [`${source}: no schema for this apiVersion/kind`];
  if (type.module === EXTRA_TYPES) return [];
  const mod = (await import(type.module)) as Record<string, unknown>;
  const Model = mod[type.name.slice(1)] as (new (data: unknown) => { validate(): void }) | undefined;
  if (Model === undefined) return [`${source}: kubernetes-models has no ${type.name.slice(1)}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (err: unknown) {
    return [`${source}: ${err instanceof Error ? err.message : String(err)}`];
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));
const VIRTUAL = join(HERE, '..', 'deploy', '__manifests__.ts');

/**
 * Type-checks every document against its type in one TypeScript program. Returns the problems (source and
 * TypeScript's message, which names the unknown field and often suggests the right one), empty when all fit.
 */
export function strictFieldProblems(docs: readonly CheckedDocument[]): string[] {
  const imports = new Map<string, Set<string>>();
  const lines: string[] = [];
  const ranges: Array<{ from: number; to: number; source: string }> = [];
  for (const d of docs) {
    const names = imports.get(d.type.module) ?? new Set<string>();
    names.add(d.type.name);
    imports.set(d.type.module, names);
    if (d.type.patch === true) imports.set(EXTRA_TYPES, (imports.get(EXTRA_TYPES) ?? new Set<string>()).add('PatchOf'));
  }
  for (const [module, names] of imports) lines.push(`import type { ${[...names].join(', ')} } from '${module}';`);
  docs.forEach((d, i) => {
    const body = JSON.stringify(d.doc, null, 2).split('\n');
    const from = lines.length;
    const type = d.type.patch === true ? `PatchOf<${d.type.name}>` : d.type.name;
    lines.push(`export const doc${i}: ${type} = ${body[0]}`, ...body.slice(1));
    lines[lines.length - 1] += ';';
    ranges.push({ from, to: lines.length - 1, source: d.source });
  });
  const text = lines.join('\n');

  const options: ts.CompilerOptions = {
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    name === VIRTUAL ? ts.createSourceFile(name, text, languageVersion, true) : getSourceFile(name, languageVersion, onError, shouldCreate);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === VIRTUAL || fileExists(name);
  const program = ts.createProgram([VIRTUAL], options, host);
  const source = program.getSourceFile(VIRTUAL)!;
  const problems: string[] = [];
  for (const diag of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
    const message = ts.flattenDiagnosticMessageText(diag.messageText, ' ');
    const line = diag.start === undefined ? -1 : source.getLineAndCharacterOfPosition(diag.start).line;
    const range = ranges.find((r) => line >= r.from && line <= r.to);
    problems.push(`${range?.source ?? '(imports)'}: ${message}`);
  }
  return problems;
}
