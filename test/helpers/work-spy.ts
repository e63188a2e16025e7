/**
 * Counts the work a pure function does on a text, for tests that must not time anything: how many characters each
 * regex run was given (every RegExp method — test, exec, match, matchAll, replace, split, search — goes through
 * RegExp.prototype.exec once it is replaced), how many characters String.prototype.indexOf searches covered, and
 * how many single looks (charCodeAt, startsWith) a hand-written scanner took. The originals are back in place when
 * `fn` returns or throws.
 */

export interface Work<T> {
  readonly result: T;
  /** The length of the input of each regex run, in order. */
  readonly regexInputs: readonly number[];
  /** indexOf calls, and the characters they searched in all (from the start position to the hit or the end). */
  readonly indexOfCalls: number;
  readonly indexOfChars: number;
  /** charCodeAt and startsWith calls. */
  readonly looks: number;
}

export function countWork<T>(fn: () => T): Work<T> {
  const exec = Object.getOwnPropertyDescriptor(RegExp.prototype, 'exec')!;
  const indexOf = Object.getOwnPropertyDescriptor(String.prototype, 'indexOf')!;
  const originalExec = exec.value as (this: RegExp, input: string) => RegExpExecArray | null;
  const originalIndexOf = indexOf.value as (this: string, search: string, position?: number) => number;
  const charCodeAt = Object.getOwnPropertyDescriptor(String.prototype, 'charCodeAt')!;
  const startsWith = Object.getOwnPropertyDescriptor(String.prototype, 'startsWith')!;
  const originalCharCodeAt = charCodeAt.value as (this: string, index: number) => number;
  const originalStartsWith = startsWith.value as (this: string, search: string, position?: number) => boolean;
  let looks = 0;
  const regexInputs: number[] = [];
  let indexOfCalls = 0;
  let indexOfChars = 0;
  Object.defineProperty(RegExp.prototype, 'exec', {
    ...exec,
    value: function spiedExec(this: RegExp, input: string): RegExpExecArray | null {
      regexInputs.push(String(input).length);
      return originalExec.call(this, input);
    },
  });
  Object.defineProperty(String.prototype, 'indexOf', {
    ...indexOf,
    value: function spiedIndexOf(this: string, search: string, position?: number): number {
      const text = String(this);
      const from = Math.max(0, Math.min(text.length, position ?? 0));
      const found = originalIndexOf.call(text, search, from);
      indexOfCalls++;
      indexOfChars += (found === -1 ? text.length : found + search.length) - from;
      return found;
    },
  });
  Object.defineProperty(String.prototype, 'charCodeAt', {
    ...charCodeAt,
    value: function spiedCharCodeAt(this: string, index: number): number {
      looks++;
      return originalCharCodeAt.call(this, index);
    },
  });
  Object.defineProperty(String.prototype, 'startsWith', {
    ...startsWith,
    value: function spiedStartsWith(this: string, search: string, position?: number): boolean {
      looks++;
      return originalStartsWith.call(this, search, position);
    },
  });
  try {
    return { result: fn(), regexInputs, indexOfCalls, indexOfChars, looks };
  } finally {
    Object.defineProperty(RegExp.prototype, 'exec', exec);
    Object.defineProperty(String.prototype, 'indexOf', indexOf);
    Object.defineProperty(String.prototype, 'charCodeAt', charCodeAt);
    Object.defineProperty(String.prototype, 'startsWith', startsWith);
  }
}
