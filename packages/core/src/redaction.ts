/**
 * Objects that hold keys (session managers, gateways, providers' caches) print as a short
 * summary under `util.inspect` / `console.log` and serialize to a summary under
 * `JSON.stringify`, so key bytes, plaintext and phone numbers never reach logs by accident.
 */
export const inspectCustom: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

export interface Redacted {
  toJSON(): Record<string, string | number | boolean>;
}
