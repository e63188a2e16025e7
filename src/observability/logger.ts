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
/** …and written at most this long after the first line of a batch, so an idle provider's last lines are not held back. */
export const LOG_FLUSH_INTERVAL_MS = 1_000;

interface Flushable {
  flush(cb?: (err?: Error | null) => void): void;
}

/**
 * Lines gathered by `inner` (which writes a batch once it holds LOG_BUFFER_BYTES), flushed LOG_FLUSH_INTERVAL_MS
 * after the first line since the last flush: a timer only while something waits to be written, where sonic-boom's
 * periodicFlush wakes the process every interval for ever.
 */
export class BatchedDestination implements DestinationStream, Flushable {
  readonly #inner: DestinationStream & Flushable;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(inner: DestinationStream & Flushable, intervalMs = LOG_FLUSH_INTERVAL_MS) {
    this.#inner = inner;
    this.#intervalMs = intervalMs;
  }

  /** Whether a flush is scheduled (tests). */
  get flushPending(): boolean {
    return this.#timer !== undefined;
  }

  write(line: string): void {
    this.#inner.write(line);
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.#inner.flush();
      } catch {
        // Destroyed (the process is exiting): its exit handler has written everything.
      }
    }, this.#intervalMs);
    this.#timer.unref();
  }

  flush(cb?: (err?: Error | null) => void): void {
    this.#inner.flush(cb);
  }
}

/**
 * stdout, buffered: at one line per Mount plus its audit line, a write(2) per line was about a tenth of a
 * republish's CPU (`npm run bench`). Buffered lines are written on exit (pino's destination flushes synchronously
 * when the process exits, a crash included); a SIGKILL loses at most the last second.
 */
function bufferedStdout(): DestinationStream {
  return new BatchedDestination(pino.destination({ dest: 1, minLength: LOG_BUFFER_BYTES, sync: false }));
}

/**
 * Writes out the lines buffered so far without waiting for the next periodic flush: for the start and shutdown
 * lines, which operators and supervisors wait for. A write already in progress is waited for, then the rest goes.
 */
export function flushLogNow(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as Partial<Flushable> | undefined;
  if (typeof stream?.flush !== 'function') return;
  const flushable = stream as Flushable;
  try {
    flushable.flush(() => {
      try {
        flushable.flush();
      } catch {
        // Destroyed meanwhile (the process is exiting): the exit handler has written everything.
      }
    });
  } catch {
    // Destroyed: nothing left to write.
  }
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
