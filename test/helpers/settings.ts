/**
 * The one builder of provider settings for tests: what the daemon gets from a command line and an environment, every
 * flag not given at its default from the flag table (src/cli/flags.ts). The harness, the flag tests and the
 * manifest tests all start from it, so a test never carries defaults of its own.
 */
import { parseFlags, type ProviderSettings } from '../../src/cli/flags.js';

export function settingsFrom(argv: readonly string[] = [], env: Readonly<Record<string, string | undefined>> = {}): ProviderSettings {
  const parsed = parseFlags(argv, { ...env });
  if (parsed.kind !== 'run') throw new Error(`expected settings to run with from ${JSON.stringify(argv)}, got ${parsed.kind}`);
  return parsed.settings;
}
