import { isParleyError } from '../errors.js';
import type { Unbranded } from '../privacy/branded.js';

/**
 * A structured, non-personal field of a log line: ids the gateway made up (business id,
 * message id), codes, counts, durations, levels. The types refuse branded personal data
 * (`PhoneNumber`, `Pseudonym`, `DeviceId`, `MessageContent`); the gateway never passes
 * content, keys, phone numbers or pseudonyms, and error messages only as their code.
 */
export type LogValue = Unbranded<string> | Unbranded<number> | boolean | undefined;

export interface LogFields {
  readonly [field: string]: LogValue;
}

/**
 * Where the gateway reports notable events (errors, retries, drops, integrity changes). Plug
 * in any logging library: `{ debug: (m, f) => pino.debug(f, m), … }`.
 */
export interface GatewayLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export type LogLevel = keyof GatewayLogger;

/** Calls the logger; a logger that throws never breaks the gateway's work. */
export function logTo(
  logger: GatewayLogger | undefined,
  level: LogLevel,
  message: string,
  fields?: LogFields,
): void {
  if (!logger) return;
  try {
    logger[level](message, fields);
  } catch {
    // Logging is best-effort.
  }
}

/**
 * The code of an error, for a log line. Never its message: an error from the transport, the
 * directory or a handler is the caller's and may carry anything.
 */
export function errorCode(error: unknown): string {
  return isParleyError(error) ? error.code : 'ERR_EXTERNAL';
}
