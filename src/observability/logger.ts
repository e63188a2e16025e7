/**
 * The one pino root logger; components take children (`logger.child({ component: 'server' })`).
 *
 * Nothing sensitive is ever passed to a log call by our code; redact.ts censors field names that could hold a JWT,
 * a Vault token or file contents as a second line of defence.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { redactLine } from './redact.js';

export const LogLevels = ['trace', 'debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LogLevels)[number];

/** Lines are gathered up to this many bytes before a write to stdout… */
export const LOG_BUFFER_BYTES = 4096;
/** …and written at least this often, so an idle provider's last lines are not held back for long. */
export const LOG_FLUSH_INTERVAL_MS = 1_000;

/**
 * stdout, buffered: at one line per Mount plus its audit line, a write(2) per line was about a tenth of a
 * republish's CPU (`npm run bench`). Buffered lines are written on exit (pino's destination flushes synchronously
 * when the process exits, a crash included); a SIGKILL loses at most the last second.
 */
function bufferedStdout(): DestinationStream {
  const stream = pino.destination({ dest: 1, minLength: LOG_BUFFER_BYTES, sync: false });
  setInterval(() => {
    try {
      stream.flush();
    } catch {
      // Nothing to flush, or a write in progress: the next tick tries again.
    }
  }, LOG_FLUSH_INTERVAL_MS).unref();
  return stream;
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level: level === 'off' ? 'silent' : level,
      base: { service: 'vault-csi-provider' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactLine },
    },
    destination ?? bufferedStdout(),
  );
}

export type { Logger };
