/**
 * Read results → the files and object versions of one mount, pure. Where our own object keys (docs/configuration.md, "Beyond the
 * reference") take effect:
 *
 * - optional objects: a 404 (when every object sharing the request is optional) or an absent key/pointer skips the
 *   object — no file, and an absence version so that its later appearance changes the version. Anything else (403,
 *   TLS, network, a bad value) still fails the whole mount, as everything does in the reference.
 *   (Asked for in secrets-store-csi-driver#567 and #1082.)
 * - expand: several files under objectName/ (expand.ts); one ObjectVersion covering all of them.
 * - template: one file rendered from its own secret and other objects' values (template.ts).
 * - inputOnly: read for templates only; no file and no ObjectVersion.
 */
import { ProviderError } from '../errors.js';
import type { MountConfig, ObjectConfig } from '../config/types.js';
import type { SecretResponse } from '../vault/responses.js';
import type { OutputFile } from '../output/file-set.js';
import { decodeValue, extractContent, keyMap, responseData, selectValue, valueBytes } from './extract.js';
import { expandKeys, expandPki, expandedVersionInput, type ExpandedFile } from './expand.js';
import { renderTemplate, type TemplateSource } from './template.js';
import { requestKey } from './request-key.js';
import { absentObjectVersion, objectVersion } from './version.js';
import type { ByteLedger } from '../admission/mount-admission.js';

/** A read that found nothing (404), kept instead of thrown because every object needing it is optional. */
export class AbsentSecret {
  constructor(readonly error: ProviderError) {}
}

export type ReadOutcome = SecretResponse | AbsentSecret;

/** Objects with a Vault request of their own; a template object without secretPath has none. */
export function needsRequest(obj: ObjectConfig): boolean {
  return obj.requestPath !== '';
}

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
  /** Total bytes of the object's files (0 when absent). */
  readonly bytes: number;
  readonly mode: number;
  /** `file`: written (one file, or several for expand); `absent`: optional and not found, no file. */
  readonly state: 'file' | 'absent';
  readonly files: readonly MountedFileInfo[];
}

export interface Assembled {
  readonly files: OutputFile[];
  /** Every object but the inputOnly ones, in the SecretProviderClass's order. */
  readonly objects: AssembledObject[];
  /** inputOnly objects (template inputs), for reports; they have no file and no version. */
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

class MountAssembler {
  readonly #sources = new Map<string, TemplateSource>();
  /** Failures of required template inputs: never absence, whatever the template's own `optional` says. */
  readonly #fatal = new WeakSet<Error>();

  constructor(
    readonly config: MountConfig,
    readonly outcomes: ReadonlyMap<string, ReadOutcome>,
    /** What decoded contents and rendered templates are charged to, as they are made (admission control). */
    readonly memory: ByteLedger | undefined,
  ) {}

  /** The object's own read; an AbsentSecret throws its error (so optional handling sees SECRET_NOT_FOUND). */
  response(obj: ObjectConfig): SecretResponse {
    const outcome = this.outcomes.get(requestKey(obj));
    if (outcome === undefined) throw new ProviderError('INTERNAL', 'no read result for the object', {});
    if (outcome instanceof AbsentSecret) throw outcome.error;
    return outcome;
  }

  /** What `@name` stands for in templates: the selected value (decoded bytes with an encoding) or the key map. */
  source(name: string): TemplateSource {
    const known = this.#sources.get(name);
    if (known !== undefined) return known;
    const obj = this.config.objects.find((o) => o.objectName === name);
    // References were checked against the objects when the config was parsed.
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
          const decoded = decodeValue(valueBytes(value), obj);
          this.memory?.charge(decoded.length);
          source = { present: true, value: decoded };
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

  produce(obj: ObjectConfig): Produced {
    try {
      let files: ExpandedFile[];
      if (obj.template !== undefined) {
        const template = obj.template;
        const own = (): TemplateSource => {
          try {
            return { present: true, value: keyMap(responseData(this.response(obj))) };
          } catch (err: unknown) {
            if (!isAbsence(err)) throw err;
            return { present: false, code: err.code, reason: err.message };
          }
        };
        files = [{ name: '', contents: renderTemplate(template, { own, object: (name) => this.source(name) }) }];
      } else if (obj.expand === 'keys') {
        files = expandKeys(obj, this.response(obj));
      } else if (obj.expand === 'pki') {
        files = expandPki(this.response(obj));
      } else {
        files = [{ name: '', contents: extractContent(obj, this.response(obj)) }];
      }
      this.memory?.charge(files.reduce((sum, f) => sum + f.contents.length, 0));
      const only = files.length === 1 && files[0]!.name === '' ? files[0]!.contents : undefined;
      return { kind: 'files', files, versionInput: only ?? expandedVersionInput(files) };
    } catch (err: unknown) {
      if (obj.optional === true && isAbsence(err) && !this.#fatal.has(err)) return { kind: 'absent' };
      throw named(err, obj);
    }
  }
}

/**
 * The files and versions of a mount whose reads are done. Throws the first failing object's error, named. Every
 * object's contents are charged to `memory` as soon as they exist, so a mount over its budget stops there.
 */
export function assembleObjects(config: MountConfig, outcomes: ReadonlyMap<string, ReadOutcome>, hmacKey: Buffer, memory?: ByteLedger): Assembled {
  const assembler = new MountAssembler(config, outcomes, memory);
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
