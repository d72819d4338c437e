/**
 * Structured logger given to plugins (a pino-compatible subset). Key material must never be
 * logged; the daemon's logger also redacts known secret fields (`privateKey`, `*.privateKey`,
 * `secret`, `password`, `token`).
 */
export interface Logger {
  /** Logs at level trace: `obj` carries structured fields (never secrets). */
  trace(obj: object | string, msg?: string): void;
  /** Logs at level debug: `obj` carries structured fields (never secrets). */
  debug(obj: object | string, msg?: string): void;
  /** Logs at level info: `obj` carries structured fields (never secrets). */
  info(obj: object | string, msg?: string): void;
  /** Logs at level warn: `obj` carries structured fields (never secrets). */
  warn(obj: object | string, msg?: string): void;
  /** Logs at level error: `obj` carries structured fields (never secrets). */
  error(obj: object | string, msg?: string): void;
  /** A logger whose records carry `bindings`. */
  child(bindings: Record<string, unknown>): Logger;
}
