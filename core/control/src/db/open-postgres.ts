/**
 * Opens the control plane's PostgreSQL database (the `pg` driver behind Kysely's
 * PostgresDialect) for `--database postgres://...`. Several control-plane instances may share
 * one database: writes run SERIALIZABLE with retries (see store/transaction.ts), migrations
 * take Kysely's advisory lock, and every committed change is announced with
 * `NOTIFY rustynet_control` so the other instances refresh at once.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { RustynetError } from '@rustynet/plugin-api';
import type { ControlDatabase } from './schema.js';

/** The LISTEN/NOTIFY channel on which committed versions are announced. */
export const CHANGE_CHANNEL = 'rustynet_control';

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

/**
 * The URL without its password, for logs and errors.
 * @throws RustynetError `INVALID_INPUT` (field `database`) when it does not parse.
 */
export function redactUrl(spec: string): string {
  let u: URL;
  try {
    u = new URL(spec);
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', 'database: not a valid postgres:// URL', { field: 'database', cause });
  }
  if (u.password !== '') u.password = '***';
  return u.toString();
}

/** A Kysely over a `pg` pool, and a way to listen for change announcements. */
export interface PostgresHandle {
  db: Kysely<ControlDatabase>;
  /**
   * Starts listening on {@link CHANGE_CHANNEL} on a dedicated connection; `onChange` runs on
   * each announcement, `onError` when the connection breaks (the caller's periodic sync covers
   * the gap). Returns the function that stops listening.
   */
  listen: (onChange: () => void, onError: (err: Error) => void) => Promise<() => Promise<void>>;
}

/** Creates the pool (no connection is made until the first query). */
export function postgresHandle(url: string, poolSize = 10): PostgresHandle {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000 });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db = new Kysely<ControlDatabase>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    listen: async (onChange, onError) => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
      let stopped = false;
      client.on('notification', (n) => {
        if (n.channel === CHANGE_CHANNEL) onChange();
      });
      client.on('error', (err) => {
        if (!stopped) onError(err);
      });
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      return async () => {
        stopped = true;
        await client.end().catch(() => undefined);
      };
    },
  };
}
