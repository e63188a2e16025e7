/**
 * The one pino root logger; components take children (`logger.child({ component: 'server' })`).
 *
 * Nothing sensitive is ever passed to a log call by our code; the redaction list below is a second line of
 * defence for field names that could hold a JWT, a Vault token or file contents.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export const LogLevels = ['trace', 'debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LogLevels)[number];

export const REDACTED_PATHS = [
  'token',
  'jwt',
  'contents',
  'attributes',
  'secrets',
  'authorization',
  '*.token',
  '*.jwt',
  '*.contents',
  '*.attributes',
  '*.secrets',
  'headers["x-vault-token"]',
  '*.headers["x-vault-token"]',
];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level: level === 'off' ? 'silent' : level,
      base: { service: 'vault-csi-provider' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export type { Logger };
