/**
 * A credential from the nodePublishSecretRef (an AppRole secret ID, a password, a client key), held so that it
 * cannot reach a log line, an error or a metric by accident: JSON, string conversion and util.inspect all print
 * `[redacted]`. Only the login builders (src/auth/login-request.ts) and the credential digest call `reveal()`.
 */
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
