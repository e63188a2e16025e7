/**
 * What one SecretProviderClass (with the pod's volumeAttributes on top) may ask of the daemon that serves every
 * namespace on the node. Each step that reads author input checks its cap before it starts, and runs in time linear
 * in what the cap lets through, so no tenant can stall the event loop or grow the heap with a small manifest
 * (issue 19, classes 1–3). Each cap is a daemon flag; the defaults are well above every realistic
 * SecretProviderClass and keep each step to about 50 ms of one thread at the cap (docs/benchmark.md, "Author
 * input at the caps").
 */

export interface InputLimits {
  /** UTF-8 bytes of the `objects` parameter (`--max-objects-bytes`). */
  readonly objectsBytes: number;
  /**
   * YAML tokens of the `objects` parameter (every key, value, indicator, line break and indentation; a block scalar
   * is one), and YAML nodes once its aliases are expanded (`--max-objects-tokens`). The YAML parser's work is per
   * token, so this, not the byte count, is what bounds it.
   */
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

/**
 * Measured in docs/benchmark.md ("Author input at the caps"): the largest SecretProviderClass in examples/, the
 * tests and the docs is far below each, and each step at its cap stays near 50 ms on the CI machine.
 */
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

/**
 * The recursion of the YAML library and of our own walks grows with the nesting, so the depth flag cannot be raised
 * to where one mount would exhaust the stack.
 */
export const MAX_OBJECTS_DEPTH = 256;

/** `(--max-template-bytes=65536)`: how a refusal names the cap and its value. */
export function capText(limits: InputLimits, cap: keyof InputLimits): string {
  return `--${INPUT_LIMIT_FLAGS[cap]}=${limits[cap]}`;
}
