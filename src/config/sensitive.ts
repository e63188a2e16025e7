/** A credential that prints `[redacted]` in JSON, string conversion and util.inspect; only logins `reveal()` it. */
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

export class Sensitive {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
