/**
 * The key of object versions: `--hmac-key-file`, a Kubernetes Secret, or (outside a cluster only) a random key with
 * a warning, since versions then change on restart.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { errnoCode, ProviderError } from '../errors.js';

export interface HmacKeySource {
  /** The key; fetched or created once and then kept in memory. */
  getKey(): Promise<Buffer>;
  /** Where the key comes from, for the start-up log line. */
  readonly description: string;
}

/** A minimum so a mistyped file (an empty line, a short word) cannot weaken every version. */
export const MIN_HMAC_KEY_BYTES = 16;

export class FileHmacKeySource implements HmacKeySource {
  readonly description: string;
  readonly #path: string;
  #key: Promise<Buffer> | undefined;

  constructor(path: string) {
    this.#path = path;
    this.description = `file ${path}`;
  }

  getKey(): Promise<Buffer> {
    this.#key ??= this.#load();
    return this.#key;
  }

  async #load(): Promise<Buffer> {
    let raw: Buffer;
    try {
      raw = await readFile(this.#path);
    } catch (err: unknown) {
      this.#key = undefined;
      throw new ProviderError('LOCAL_FILE_ERROR', `cannot read --hmac-key-file "${this.#path}" (${errnoCode(err) ?? 'error'})`, {
        parameter: 'hmac-key-file',
      });
    }
    // A trailing newline from `echo` or a Secret edited by hand is not part of the key.
    const key = Buffer.from(raw.toString('latin1').replace(/\r?\n$/, ''), 'latin1');
    if (key.length < MIN_HMAC_KEY_BYTES) {
      this.#key = undefined;
      throw new ProviderError('LOCAL_FILE_ERROR', `--hmac-key-file "${this.#path}" holds ${key.length} bytes; at least ${MIN_HMAC_KEY_BYTES} are needed`, {
        parameter: 'hmac-key-file',
      });
    }
    return key;
  }
}

export class RandomHmacKeySource implements HmacKeySource {
  readonly description = 'a random key for this process (object versions change when it restarts)';
  readonly #key = randomBytes(32);

  getKey(): Promise<Buffer> {
    return Promise.resolve(this.#key);
  }
}
