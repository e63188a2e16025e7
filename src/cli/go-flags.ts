/**
 * Go's flag.Parse syntax for the daemon and the `mount` subcommand, so the reference's DaemonSet starts this one
 * unchanged: `-name value`, `--name=value`; booleans never take a separate value; `--` ends the flags. Pure.
 */
import { parseGoBool } from '../config/go-syntax.js';

/** A command line we cannot run with; `message` ends with the usage text, as Go's flag package prints it. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The problem alone, without the usage text. */
  readonly problem: string;
  readonly usage: string;

  constructor(problem: string, usage: string) {
    super(`${problem}\n\n${usage}`);
    this.problem = problem;
    this.usage = usage;
  }
}

export type FlagKind = 'string' | 'bool';

export interface ScanOptions {
  /** The kind of each flag the command defines; undefined for a name it does not. */
  readonly kindOf: (name: string) => FlagKind | undefined;
  /** Carried by every UsageError. */
  readonly usage: string;
  /** A subcommand's name, for the unknown-flag message ("… not defined for mount: -x"); none for the daemon. */
  readonly command?: string;
}

/** The last value given for each flag, or 'help' when -h/-help appears before any error. */
export function scanGoFlags(argv: readonly string[], options: ScanOptions): Map<string, string> | 'help' {
  const { kindOf, usage } = options;
  const values = new Map<string, string>();
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] ?? '';
    i += 1;
    if (arg.length < 2 || !arg.startsWith('-')) {
      // Go stops here and leaves the rest as positional arguments, which the reference then ignores; a stray
      // word is far more often a mistake (a value for a boolean flag) than intended, so refuse it.
      throw new UsageError(`unexpected argument ${shownArgument(arg)}`, usage);
    }
    let body = arg.slice(1);
    if (body.startsWith('-')) {
      body = body.slice(1);
      if (body === '') {
        if (i < argv.length) throw new UsageError(`unexpected argument ${shownArgument(argv[i]!)}`, usage);
        break;
      }
    }
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new UsageError(`bad flag syntax: ${arg}`, usage);
    }
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    const kind = kindOf(name);
    if (kind === undefined) {
      if (name === 'help' || name === 'h') return 'help';
      const where = options.command === undefined ? '' : ` for ${options.command}`;
      throw new UsageError(`flag provided but not defined${where}: -${name}`, usage);
    }
    if (kind === 'bool') {
      if (inline === undefined) {
        values.set(name, 'true');
      } else {
        const b = parseGoBool(inline);
        if (b === undefined) throw new UsageError(`invalid boolean value ${JSON.stringify(inline)} for -${name}`, usage);
        values.set(name, String(b));
      }
      continue;
    }
    if (inline !== undefined) {
      values.set(name, inline);
    } else {
      // As in Go, the next argument is the value even when it starts with '-'.
      if (i >= argv.length) throw new UsageError(`flag needs an argument: -${name}`, usage);
      values.set(name, argv[i] ?? '');
      i += 1;
    }
  }
  return values;
}

/** Longer stray words are not echoed: a JWT or Vault token pasted in the wrong place would land in the pod's log. */
export const MAX_SHOWN_ARGUMENT = 24;

function shownArgument(arg: string): string {
  return arg.length <= MAX_SHOWN_ARGUMENT ? JSON.stringify(arg) : `of ${arg.length} characters (not shown: it may be a credential)`;
}
