/**
 * What one SecretProviderClass may ask of the daemon every namespace shares: each step checks its cap first and is
 * linear in what it lets through (issue 19, classes 1–3; docs/benchmark.md#author-input-at-the-caps).
 */

export interface InputLimits {
  /** UTF-8 bytes of the `objects` parameter (`--max-objects-bytes`). */
  readonly objectsBytes: number;
  /** YAML tokens, and nodes once aliases are expanded: the parser's work is per token, not per byte. */
  readonly objectsTokens: number;
  /** Lists and maps nested in each other, the list of objects being the first level (`--max-objects-depth`). */
  readonly objectsDepth: number;
  /** YAML aliases (`*name`, `<<: *name`) in the `objects` parameter (`--max-objects-aliases`). */
  readonly objectsAliases: number;
  /** Objects one mount may list (`--max-objects-per-mount`). */
  readonly objectsPerMount: number;
  /** UTF-8 bytes of one object's `template` (`--max-template-bytes`). */
  readonly templateBytes: number;
  /** Actions (`{{ … }}`) in one template (`--max-template-actions`). */
  readonly templateActions: number;
  /** Arguments of one action, helper excluded (`--max-template-arguments`). */
  readonly templateArguments: number;
}

/** The flag that sets each cap, for messages (`--max-objects-bytes`) and the flags table. */
export const INPUT_LIMIT_FLAGS: Readonly<Record<keyof InputLimits, string>> = {
  objectsBytes: 'max-objects-bytes',
  objectsTokens: 'max-objects-tokens',
  objectsDepth: 'max-objects-depth',
  objectsAliases: 'max-objects-aliases',
  objectsPerMount: 'max-objects-per-mount',
  templateBytes: 'max-template-bytes',
  templateActions: 'max-template-actions',
  templateArguments: 'max-template-arguments',
};

export const DEFAULT_INPUT_LIMITS: InputLimits = {
  objectsBytes: 128 * 1024,
  objectsTokens: 16_384,
  objectsDepth: 32,
  objectsAliases: 128,
  objectsPerMount: 256,
  templateBytes: 64 * 1024,
  templateActions: 1024,
  templateArguments: 32,
};

/** Recursion grows with nesting: the depth flag cannot be raised to where one mount would exhaust the stack. */
export const MAX_OBJECTS_DEPTH = 256;

/** `(--max-template-bytes=65536)`: how a refusal names the cap and its value. */
export function capText(limits: InputLimits, cap: keyof InputLimits): string {
  return `--${INPUT_LIMIT_FLAGS[cap]}=${limits[cap]}`;
}
