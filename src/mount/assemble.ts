/**
 * Read results → the files and object versions of one mount, pure; where our own object keys take effect
 * (docs/secretproviderclass.md). An optional object's 404 or absent key gives no file and an absence version
 * (secrets-store-csi-driver#567, #1082); a 403, TLS or network failure still fails the mount.
 */
import { ProviderError } from '../errors.js';
import type { CredentialScope, MountConfig, ObjectConfig } from '../config/types.js';
import type { SecretResponse } from '../vault/responses.js';
import { DEFAULT_MOUNT_LIMIT_BYTES, PER_FILE_OVERHEAD_BYTES, type OutputFile } from '../output/file-set.js';
import { decodedByteLength, decodeValue, extractContent, keyMap, responseData, selectValue, valueByteLength, valueBytes, wholeResponseBytes } from './extract.js';
import { expandKeys, expandPki, expandedVersionInput, type ExpandedFile } from './expand.js';
import { renderTemplate, type TemplateSource } from './template.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { formatBytes } from '../shared/message-text.js';
import { createHmac } from 'node:crypto';
import { isPlainObject } from '../shared/plain-object.js';
import type { SecretRequest } from '../vault/client.js';

/** A read that found nothing (404), kept instead of thrown because every object needing it is optional. */
export class AbsentSecret {
  constructor(readonly error: ProviderError) {}
}

export type ReadOutcome = SecretResponse | AbsentSecret;

/**
 * Runs one distinct read; when all `objects` that need it are optional, SECRET_NOT_FOUND (404) becomes an
 * AbsentSecret. A 403, TLS or network failure is never absence: it still throws.
 */
export async function readOrAbsent(objects: readonly ObjectConfig[], read: () => Promise<SecretResponse>): Promise<ReadOutcome> {
  try {
    return await read();
  } catch (err: unknown) {
    if (err instanceof ProviderError && err.code === 'SECRET_NOT_FOUND' && objects.every((o) => o.optional === true)) {
      return new AbsentSecret(err);
    }
    throw err;
  }
}

export interface MountedFileInfo {
  readonly path: string;
  readonly bytes: number;
  readonly mode: number;
}

export interface AssembledObject {
  readonly objectName: string;
  readonly secretPath: string;
  readonly version: string;
  readonly bytes: number;
  readonly mode: number;
  readonly state: 'file' | 'absent';
  readonly files: readonly MountedFileInfo[];
}

export interface Assembled {
  readonly files: OutputFile[];
  readonly objects: AssembledObject[];
  readonly inputs: ReadonlyArray<{ readonly objectName: string; readonly secretPath: string }>;
}

/** Absence is only ever about a missing secret or key; a failure of any other kind stays a failure. */
function isAbsence(err: unknown): err is ProviderError {
  return err instanceof ProviderError && (err.code === 'SECRET_NOT_FOUND' || err.code === 'KEY_NOT_FOUND');
}

function named(err: unknown, obj: ObjectConfig): unknown {
  return err instanceof ProviderError ? err.forObject(obj.objectName, obj.secretPath === '' ? undefined : obj.secretPath) : err;
}

type Produced = { readonly kind: 'files'; readonly files: readonly ExpandedFile[]; readonly versionInput: Buffer } | { readonly kind: 'absent' };

interface FilePlan {
  readonly contents: number;
  /** Copies made while building them (strings before they are bytes, encoded text), given back once built. */
  readonly working: number;
  /** Bytes the files add to the mount's answer, as buildFileSet counts them; 0 when not known before (pki). */
  readonly answer: number;
}

/** The PEM text an `expand: pki` response holds: its files are re-encoded from it, so at most twice its size. */
function pkiInputBytes(map: Record<string, unknown>): number {
  let bytes = 0;
  for (const field of ['certificate', 'private_key', 'issuing_ca', 'ca_chain']) {
    const value = Object.hasOwn(map, field) ? map[field] : undefined;
    if (typeof value === 'string') bytes += value.length;
    else if (Array.isArray(value)) for (const entry of value) if (typeof entry === 'string') bytes += entry.length;
  }
  return bytes;
}

class MountAssembler {
  readonly #sources = new Map<string, TemplateSource>();
  readonly #byName: ReadonlyMap<string, ObjectConfig>;
  /** Failures of required template inputs: never absence, whatever the template's own `optional` says. */
  readonly #fatal = new WeakSet<Error>();
  readonly #sizes = new WeakMap<object, number>();
  #answerBytes = 0;

  constructor(
    readonly config: MountConfig,
    readonly outcomes: ReadonlyMap<string, ReadOutcome>,
    /** What decoded contents and rendered templates are charged to, before they are made (admission control). */
    readonly memory: ByteLedger | undefined,
    /** The driver's limit for the whole answer (buildFileSet's): no object's files are built past it. */
    readonly limitBytes: number,
  ) {
    this.#byName = new Map(config.objects.map((o) => [o.objectName, o]));
  }

  /** The object's own read; an AbsentSecret throws its error (so optional handling sees SECRET_NOT_FOUND). */
  response(obj: ObjectConfig): SecretResponse {
    const outcome = this.outcomes.get(requestKey(obj));
    if (outcome === undefined) throw new ProviderError('INTERNAL', 'no read result for the object', {});
    if (outcome instanceof AbsentSecret) throw outcome.error;
    return outcome;
  }

  /** Charged before `build` runs and refused first past the driver's limit; settled on what was built. */
  #built(obj: ObjectConfig, plan: FilePlan, build: () => ExpandedFile[]): ExpandedFile[] {
    if (this.#answerBytes + plan.answer > this.limitBytes) {
      throw new ProviderError(
        'MOUNT_TOO_LARGE',
        `its files would take ${formatBytes(plan.answer)} of the mount's answer, more than the ${formatBytes(Math.max(0, this.limitBytes - this.#answerBytes))} left of the driver's ${formatBytes(this.limitBytes)} message limit; nothing was built`,
        {},
      );
    }
    const charged = plan.contents + plan.working;
    this.memory?.charge(charged);
    let files: ExpandedFile[];
    try {
      files = build();
    } catch (err: unknown) {
      this.memory?.release(charged);
      throw err;
    }
    const actual = files.reduce((sum, f) => sum + f.contents.length, 0);
    if (actual > plan.contents) this.memory?.charge(actual - plan.contents);
    this.memory?.release(charged - Math.min(actual, plan.contents));
    return files;
  }

  #fileOverhead(obj: ObjectConfig, name: string): number {
    const objectName = Buffer.byteLength(obj.objectName, 'utf8');
    return PER_FILE_OVERHEAD_BYTES + 2 * objectName + (name === '' ? 0 : 1 + Buffer.byteLength(name, 'utf8'));
  }

  /** What one selected value will take as a file (or a template input), and the copies made on the way. */
  #valuePlan(obj: ObjectConfig, value: unknown): { contents: number; working: number } {
    const raw = valueByteLength(value, this.#sizes);
    // A JSON value is marshalled to a string before it is bytes; an encoded value's bytes are read back as text, and
    // base64 first loses its line breaks (two strings), before the decoded bytes are made.
    const marshalled = typeof value === 'string' ? 0 : raw;
    if (obj.encoding === 'utf-8') return { contents: raw, working: marshalled };
    return { contents: decodedByteLength(value, obj.encoding, raw), working: marshalled + 3 * raw };
  }

  /** What `@name` stands for in templates: the selected value (decoded bytes with an encoding) or the key map. */
  source(name: string): TemplateSource {
    const known = this.#sources.get(name);
    if (known !== undefined) return known;
    const obj = this.#byName.get(name);
    if (obj === undefined) throw new ProviderError('INTERNAL', `template input "${name}" is not an object of this mount`, {});
    let source: TemplateSource;
    try {
      const data = responseData(this.response(obj));
      if (obj.expand !== undefined || (obj.secretKey === '' && obj.jsonPointer === undefined)) {
        source = { present: true, value: keyMap(data) };
      } else {
        const value = selectValue(obj, data);
        if (obj.encoding === 'utf-8') {
          source = { present: true, value };
        } else {
          // Held while the templates use it; an input is no file, so it takes no room in the answer.
          const plan = { ...this.#valuePlan(obj, value), answer: 0 };
          const [decoded] = this.#built(obj, plan, () => [{ name: '', contents: decodeValue(valueBytes(value), obj) }]);
          source = { present: true, value: decoded!.contents };
        }
      }
    } catch (err: unknown) {
      if (!isAbsence(err) || obj.optional !== true) {
        // A required input that is missing fails the mount on its own account, naming itself, even when the
        // template using it is optional: only the input's own `optional` may turn its absence into a skip.
        const failure = named(err, obj);
        if (failure instanceof Error) this.#fatal.add(failure);
        throw failure;
      }
      source = { present: false, code: err.code, reason: err.message };
    }
    this.#sources.set(name, source);
    return source;
  }

  #files(obj: ObjectConfig): ExpandedFile[] {
    if (obj.template !== undefined) {
      const own = (): TemplateSource => {
        try {
          return { present: true, value: keyMap(responseData(this.response(obj))) };
        } catch (err: unknown) {
          if (!isAbsence(err)) throw err;
          return { present: false, code: err.code, reason: err.message };
        }
      };
      // Sized from its arguments and charged inside, before anything is built.
      const room = this.limitBytes - this.#answerBytes - this.#fileOverhead(obj, '');
      const contents = renderTemplate(obj.template, { own, object: (name) => this.source(name) }, { limitBytes: Math.max(0, room), memory: this.memory });
      return [{ name: '', contents }];
    }
    const response = this.response(obj);
    if (obj.expand === 'keys') {
      const map = keyMap(responseData(response));
      let contents = 0;
      let working = 0;
      let answer = 0;
      for (const key of Object.keys(map)) {
        const plan = this.#valuePlan(obj, map[key]);
        contents += plan.contents;
        working += plan.working;
        answer += plan.contents + this.#fileOverhead(obj, key);
      }
      return this.#built(obj, { contents, working, answer }, () => expandKeys(obj, response));
    }
    if (obj.expand === 'pki') {
      const input = pkiInputBytes(keyMap(responseData(response)));
      return this.#built(obj, { contents: 2 * input, working: input, answer: 0 }, () => expandPki(response));
    }
    if (obj.secretKey === '' && obj.jsonPointer === undefined) {
      const bytes = wholeResponseBytes(response, this.#sizes);
      return this.#built(obj, { contents: bytes, working: bytes, answer: bytes + this.#fileOverhead(obj, '') }, () => [{ name: '', contents: extractContent(obj, response) }]);
    }
    const plan = this.#valuePlan(obj, selectValue(obj, responseData(response)));
    return this.#built(obj, { ...plan, answer: plan.contents + this.#fileOverhead(obj, '') }, () => [{ name: '', contents: extractContent(obj, response) }]);
  }

  produce(obj: ObjectConfig): Produced {
    try {
      const files = this.#files(obj);
      for (const file of files) this.#answerBytes += file.contents.length + this.#fileOverhead(obj, file.name);
      const only = files.length === 1 && files[0]!.name === '' ? files[0]!.contents : undefined;
      return { kind: 'files', files, versionInput: only ?? expandedVersionInput(files) };
    } catch (err: unknown) {
      if (obj.optional === true && isAbsence(err) && !this.#fatal.has(err)) return { kind: 'absent' };
      throw named(err, obj);
    }
  }
}

/** Contents are sized and charged before they are built, so a mount over a budget stops before it allocates. */
export function assembleObjects(
  config: MountConfig,
  outcomes: ReadonlyMap<string, ReadOutcome>,
  hmacKey: Buffer,
  memory?: ByteLedger,
  limitBytes: number = DEFAULT_MOUNT_LIMIT_BYTES,
): Assembled {
  const assembler = new MountAssembler(config, outcomes, memory, limitBytes);
  const files: OutputFile[] = [];
  const objects: AssembledObject[] = [];
  const inputs: Array<{ objectName: string; secretPath: string }> = [];
  for (const obj of config.objects) {
    const mode = obj.filePermission ?? config.permission;
    if (obj.inputOnly === true) {
      inputs.push({ objectName: obj.objectName, secretPath: obj.secretPath });
      continue;
    }
    const produced = assembler.produce(obj);
    if (produced.kind === 'absent') {
      const version = absentObjectVersion(hmacKey, obj);
      objects.push({ objectName: obj.objectName, secretPath: obj.secretPath, version, bytes: 0, mode, state: 'absent', files: [] });
      continue;
    }
    const info: MountedFileInfo[] = [];
    for (const file of produced.files) {
      const path = file.name === '' ? obj.objectName : `${obj.objectName}/${file.name}`;
      files.push({ path, mode, contents: file.contents, objectName: obj.objectName });
      info.push({ path, bytes: file.contents.length, mode });
    }
    objects.push({
      objectName: obj.objectName,
      secretPath: obj.secretPath,
      version: objectVersion(hmacKey, obj, produced.versionInput),
      bytes: info.reduce((sum, f) => sum + f.bytes, 0),
      mode,
      state: 'file',
      files: info,
    });
  }
  return { files, objects, inputs };
}

// base64url(HMAC-SHA256(key, canonical object config ‖ content)): the config keeps equal contents from giving equal
// versions, the key keeps the version from revealing the content. Stable as long as the key is.

/** JSON with object keys sorted at every depth, so equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (isPlainObject(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = v[k];
      return sorted;
    }
    return v;
  });
}

export function canonicalObjectConfig(obj: ObjectConfig): string {
  return canonicalJson({
    objectName: obj.objectName,
    secretPath: obj.secretPath,
    secretKey: obj.secretKey,
    method: obj.method,
    secretArgs: obj.secretArgs ?? null,
    encoding: obj.encoding,
    filePermission: obj.filePermission ?? null,
    // Our own keys join only when set, so an object that uses none keeps the version it always had.
    ...(obj.optional === true ? { optional: true } : {}),
    ...(obj.jsonPointer === undefined ? {} : { jsonPointer: obj.jsonPointer }),
    ...(obj.template === undefined ? {} : { template: obj.template.source }),
    ...(obj.expand === undefined ? {} : { expand: obj.expand }),
    ...(obj.secretNamespace === undefined ? {} : { secretNamespace: obj.secretNamespace }),
  });
}

/** Differs from every version with content, and changes when the secret appears. */
export function absentObjectVersion(key: Buffer, obj: ObjectConfig): string {
  return hmacVersion(key, hmacPrefix(canonicalJson({ absent: true, config: canonicalObjectConfig(obj) })), Buffer.alloc(0));
}

export function objectVersion(key: Buffer, obj: ObjectConfig, content: Buffer): string {
  let prefix = prefixes.get(obj);
  if (prefix === undefined) {
    prefix = hmacPrefix(canonicalObjectConfig(obj));
    prefixes.set(obj, prefix);
  }
  return hmacVersion(key, prefix, content);
}

/** Built once per memoised ObjectConfig. */
const prefixes = new WeakMap<ObjectConfig, Buffer>();

/** The config, length-prefixed so no (config, content) pair can collide with another split of the same bytes. */
function hmacPrefix(canonicalConfig: string): Buffer {
  const config = Buffer.from(canonicalConfig, 'utf8');
  const prefix = Buffer.alloc(8 + config.length);
  prefix.writeBigUInt64BE(BigInt(config.length));
  config.copy(prefix, 8);
  return prefix;
}

function hmacVersion(key: Buffer, prefix: Buffer, content: Buffer): string {
  return createHmac('sha256', key).update(prefix).update(content).digest('base64url');
}

// Objects with equal method, path, query, secretArgs and secretNamespace share one request, so two objects naming
// one PKI issue get one certificate and its key. (The reference keys on path and method only.)

/** The memoised parse hands back the same ObjectConfig objects every minute: their keys are kept beside them. */
const keys = new WeakMap<ObjectConfig, string>();
const groupings = new WeakMap<readonly ObjectConfig[], readonly RequestGroup[]>();

export function requestKey(obj: ObjectConfig): string {
  let key = keys.get(obj);
  if (key === undefined) {
    // The namespace is part of what is asked: one path in two namespaces is two secrets, never one request.
    key = canonicalJson([obj.method, obj.requestPath, obj.query, obj.secretArgs ?? null, obj.secretNamespace ?? null]);
    keys.set(obj, key);
  }
  return key;
}

export interface RequestGroup {
  readonly key: string;
  /** The request itself, as the Vault client takes it. */
  readonly request: SecretRequest;
  /** The first (required, if any) object that needs this request; its name and path go into messages. */
  readonly lead: ObjectConfig;
  readonly objects: readonly ObjectConfig[];
  /** `workload` only when every object reading it says so: objects reading one request read one credential. */
  readonly credentialScope: CredentialScope;
}

/** Objects that need the same request, grouped; a template object without a secretPath needs none and is left out. */
export function groupByRequest(objects: readonly ObjectConfig[]): readonly RequestGroup[] {
  let grouped = groupings.get(objects);
  if (grouped === undefined) {
    grouped = group(objects);
    groupings.set(objects, grouped);
  }
  return grouped;
}

function group(objects: readonly ObjectConfig[]): readonly RequestGroup[] {
  const groups = new Map<string, ObjectConfig[]>();
  for (const obj of objects) {
    if (obj.requestPath === '') continue;
    const key = requestKey(obj);
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [obj]);
    else list.push(obj);
  }
  // A required object leads when there is one, so a failure that fails the mount names an object it fails for.
  return [...groups].map(([key, list]) => {
    const lead = list.find((o) => o.optional !== true) ?? list[0]!;
    const request: SecretRequest = {
      method: lead.method,
      requestPath: lead.requestPath,
      query: lead.query,
      body: lead.secretArgs,
      ...(lead.secretNamespace === undefined ? {} : { namespace: lead.secretNamespace }),
    };
    const credentialScope = list.every((o) => o.credentialScope === 'workload') ? 'workload' : 'pod';
    return { key, request, lead, objects: list, credentialScope };
  });
}
