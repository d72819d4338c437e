/**
 * Structured logger given to plugins (a pino-compatible subset). Key material must never be
 * logged; the daemon's logger also redacts known secret fields (`privateKey`, `*.privateKey`,
 * `secret`, `password`, `token`).
 */
export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  /** A logger whose records carry `bindings`. */
  child(bindings: Record<string, unknown>): Logger;
}
