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

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level: level === 'off' ? 'silent' : level,
      base: { service: 'vault-csi-provider' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactLine },
    },
    destination,
  );
}

export type { Logger };
