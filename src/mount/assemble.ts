/**
 * Read results → the files and object versions of one mount, pure; where our own object keys take effect
 * (docs/secretproviderclass.md). An optional object's 404 or absent key gives no file and an absence version
 * (secrets-store-csi-driver#567, #1082); a 403, TLS or network failure still fails the mount.
 */
import { ProviderError } from '../errors.js';
import type { MountConfig, ObjectConfig } from '../config/types.js';
import type { SecretResponse } from '../vault/responses.js';
import { DEFAULT_MOUNT_LIMIT_BYTES, PER_FILE_OVERHEAD_BYTES, type OutputFile } from '../output/file-set.js';
import { decodedByteLength, decodeValue, extractContent, keyMap, responseData, selectValue, valueByteLength, valueBytes, wholeResponseBytes } from './extract.js';
import { expandKeys, expandPki, expandedVersionInput, type ExpandedFile } from './expand.js';
import { renderTemplate, type TemplateSource } from './template.js';
import { absentObjectVersion, objectVersion, requestKey } from './version.js';
import type { ByteLedger } from '../admission/mount-admission.js';
import { formatBytes } from '../shared/message-text.js';

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
