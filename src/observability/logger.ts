/** The one pino root logger; redact.ts is the second line of defence for sensitive fields. */
import { pino, type Logger, type DestinationStream } from 'pino';
import { redactLine } from './redact.js';
import { systemClock, type Clock } from '../shared/clock.js';

export const LogLevels = ['trace', 'debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LogLevels)[number];

/** Lines are gathered up to this many bytes before a write to stdout… */
export const LOG_BUFFER_BYTES = 4096;
/** …and written at most this long after the first line of a batch, so an idle provider's last lines are not held back. */
export const LOG_FLUSH_INTERVAL_MS = 1_000;

interface Flushable {
  flush(cb?: (err?: Error | null) => void): void;
}

/** Flushed LOG_FLUSH_INTERVAL_MS after the first waiting line: no timer while idle (sonic-boom's periodicFlush never stops). */
export class BatchedDestination implements DestinationStream, Flushable {
  readonly #inner: DestinationStream & Flushable;
  readonly #intervalMs: number;
  readonly #timer: Clock['after'];
  #cancelFlush: (() => void) | undefined;

  constructor(inner: DestinationStream & Flushable, intervalMs = LOG_FLUSH_INTERVAL_MS, timer: Clock['after'] = systemClock.after) {
    this.#inner = inner;
    this.#intervalMs = intervalMs;
    this.#timer = timer;
  }

  get flushPending(): boolean {
    return this.#cancelFlush !== undefined;
  }

  write(line: string): void {
    this.#inner.write(line);
    if (this.#cancelFlush !== undefined) return;
    this.#cancelFlush = this.#timer(this.#intervalMs, () => {
      this.#cancelFlush = undefined;
      try {
        this.#inner.flush();
      } catch {
        // Destroyed (the process is exiting): its exit handler has written everything.
      }
    });
  }

  flush(cb?: (err?: Error | null) => void): void {
    this.#inner.flush(cb);
  }
}

/** Buffered (a write per line was a tenth of a republish's CPU); flushed on exit, so a SIGKILL loses at most a second. */
function bufferedStdout(): DestinationStream {
  return new BatchedDestination(pino.destination({ dest: 1, minLength: LOG_BUFFER_BYTES, sync: false }));
}

/** For the start and shutdown lines, which operators and supervisors wait for. */
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
