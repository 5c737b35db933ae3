/**
 * Logging with pino: JSON lines on stderr when stderr is not a TTY, pretty lines otherwise.
 * Every key that can hold a secret is redacted; prompts are truncated by callers ({@link truncateForLog}).
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths pino replaces with `[Redacted]` wherever they occur (see pino docs/redaction.md). */
export const REDACTED_PATHS = [
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.Authorization',
  '*.headers.Authorization',
  'config.providers.*.apiKey',
];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: string;
  /** Where lines go; default stderr. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
  /** Pretty-print for people; default: when stderr is a TTY and no destination is given. */
  pretty?: boolean;
}

/** Create the root logger. */
export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? (options.destination === undefined && process.stderr.isTTY === true);
  const base = { level: options.level, redact: { paths: REDACTED_PATHS, censor: '[Redacted]' }, base: null };
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } },
    });
  }
  return pino(base, options.destination ?? pino.destination(2));
}

/** A prompt shortened for logs: at most `maxLength` characters. Never log base64 image data at all. */
export function truncateForLog(text: string, maxLength = 80): string {
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
}
