/** `vault-csi-provider [flags]`, or `vault-csi-provider mount …`. SIGTERM/SIGINT drain and exit 0. */
import { parseFlags, UsageError } from './cli/flags.js';
import { startProvider } from './cli/daemon.js';
import { createLogger, flushLogNow } from './observability/logger.js';
import { versionInfo } from './version.js';
import { formatVersion } from './cli/version-output.js';
import { runMountCommand } from './cli/mount-command.js';

/** How long in-flight mounts get after SIGTERM (the kubelet's default grace period is 30 s). */
const DRAIN_GRACE_MS = 20_000;

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'mount') {
    return runMountCommand(argv.slice(1), {
      stdout: (text) => void process.stdout.write(text),
      stderr: (text) => void process.stderr.write(text),
      env: process.env,
    });
  }
  let parsed;
  try {
    parsed = parseFlags(argv, process.env);
  } catch (err: unknown) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.usage}\n\nSubcommands:\n  mount\n    \tMount a SecretProviderClass into a local directory, without a cluster (vault-csi-provider mount -help).\n`);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${formatVersion(versionInfo(), parsed.format)}\n`);
    return 0;
  }
  const settings = parsed.settings;
  const logger = createLogger(settings.logLevel);
  process.on('unhandledRejection', (reason: unknown) => {
    // A daemon serving every pod of the node keeps serving; the frames are enough to find the bug.
    const frames = reason instanceof Error ? reason.stack?.split('\n').slice(1, 8).join('\n') : undefined;
    logger.error({ errorName: reason instanceof Error ? reason.name : typeof reason, frames }, 'unhandled rejection');
  });

  let provider;
  try {
    provider = await startProvider(settings, logger);
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    logger.error({ error: message }, 'failed to start');
    process.stderr.write(`vault-csi-provider: failed to start: ${message}\n`);
    return 1;
  }

  // Lines are written in batches (observability/logger.ts); the start and the start of a shutdown go out at once.
  flushLogNow(logger);
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal, inflight: provider.inflight() }, 'shutting down');
      flushLogNow(logger);
      provider
        .stop(DRAIN_GRACE_MS)
        .then(() => resolve(0))
        .catch(() => resolve(1));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let pino flush, then leave even if a keep-alive socket lingers.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`vault-csi-provider: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
