import { RustynetError, isRustynetError, type ErrorCode } from '@rustynet/plugin-api';

/** Wraps any thrown value as a {@link RustynetError}, keeping it when it already is one. */
export function toRustynetError(err: unknown, fallback: ErrorCode = 'INTERNAL', plugin?: string): RustynetError {
  if (isRustynetError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RustynetError(fallback, message, { cause: err, ...(plugin !== undefined && { plugin }) });
}

/** A short readable message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
