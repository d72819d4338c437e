/**
 * Opens the control plane's database: SQLite (default; better-sqlite3 behind Kysely, in WAL
 * mode with full fsync) or PostgreSQL (`postgres://...`, see open-postgres.ts). Runs the same
 * migrations on both and makes sure the `meta` row exists.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { inspect } from 'node:util';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { RustynetError } from '@rustynet/plugin-api';
import { toRustynetError } from '../errors.js';
import { migrationProvider } from './migrations.js';
import { isPostgresUrl, postgresHandle, redactUrl } from './open-postgres.js';
import type { ControlDatabase } from './schema.js';

/** File name of the database inside the data directory. */
export const DB_FILE = 'control.db';

/** The two storage engines. */
export type DatabaseEngine = 'sqlite' | 'postgres';

/** An open database. */
export interface OpenDatabase {
  db: Kysely<ControlDatabase>;
  engine: DatabaseEngine;
  /** Where it is, for logs: the SQLite file, or the PostgreSQL URL without its password. */
  location: string;
  /**
   * PostgreSQL only: listens for changes committed by any instance (see open-postgres.ts).
   * Returns the function that stops listening.
   */
  listen?: (onChange: () => void, onError: (err: Error) => void) => Promise<() => Promise<void>>;
  /** Closes the database (SQLite: checkpoints the WAL; PostgreSQL: ends the pool). */
  close(): Promise<void>;
}

/** A random ULA /48 prefix `fdxx:xxxx:xxxx::` (RFC 4193 style: 40 random bits). */
export function randomUlaPrefix(): string {
  const b = randomBytes(5);
  const h = (i: number): string => (b[i] ?? 0).toString(16).padStart(2, '0');
  return `fd${h(0)}:${h(1)}${h(2)}:${h(3)}${h(4)}::`;
}

function restrictMode(path: string): void {
  if (existsSync(path)) chmodSync(path, 0o600);
}

/**
 * Opens the database `spec`: a `postgres://` URL, or else the path of a SQLite file.
 * @throws as {@link openDatabase} / {@link openPostgresDatabase}.
 */
export function openDatabaseSpec(spec: string): Promise<OpenDatabase> {
  return isPostgresUrl(spec) ? openPostgresDatabase(spec) : openDatabase(spec);
}

/**
 * Opens the PostgreSQL database at `url` (the database must exist; the tables are created by
 * the migrations). Concurrent starts of several instances are safe: Kysely's migrator takes an
 * advisory lock, and the `meta` row is inserted with ON CONFLICT DO NOTHING.
 * @throws RustynetError `STORAGE_FAILED` (unreachable, refused), `INVALID_INPUT` (bad URL),
 *   `INTERNAL` (a migration failed).
 */
export async function openPostgresDatabase(url: string): Promise<OpenDatabase> {
  const location = redactUrl(url);
  const handle = postgresHandle(url);
  const close = (): Promise<void> => handle.db.destroy();
  try {
    await prepare(handle.db);
  } catch (err) {
    await close().catch(() => undefined);
    const e = toRustynetError(err);
    if (e.code !== 'INTERNAL' || e.message.startsWith('database migration')) throw e;
    throw new RustynetError('STORAGE_FAILED', `database ${location}: ${e.message}`, { field: 'database', cause: err });
  }
  return { db: handle.db, engine: 'postgres', location, listen: handle.listen, close };
}

/** Migrates and makes sure the `meta` row exists. */
async function prepare(db: Kysely<ControlDatabase>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new RustynetError('INTERNAL', `database migration ${failed} failed: ${error instanceof Error ? error.message : inspect(error)}`, {
      cause: error,
    });
  }
  await db
    .insertInto('meta')
    .values({
      id: 1,
      version: 0,
      issued_at: 0,
      ula_prefix: randomUlaPrefix(),
      next_host: 1,
      acl: null,
      canary_acl: null,
      canary_tag: null,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/**
 * Opens the SQLite database at `path` (mode 0600, as are its -wal and -shm files).
 * @throws RustynetError `STORAGE_FAILED` when the file cannot be created or migrated,
 *   `INTERNAL` when a migration fails for another reason.
 */
export async function openDatabase(path: string): Promise<OpenDatabase> {
  let sqlite: Database.Database;
  try {
    closeSync(openSync(path, 'a', 0o600));
    restrictMode(path);
    sqlite = new Database(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
  } catch (err) {
    throw toRustynetError(err);
  }
  const db = new Kysely<ControlDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  const close = async (): Promise<void> => {
    await db.destroy();
  };
  try {
    await prepare(db);
    for (const suffix of ['-wal', '-shm']) restrictMode(path + suffix);
  } catch (err) {
    await close().catch(() => undefined);
    throw toRustynetError(err);
  }
  return { db, engine: 'sqlite', location: path, close };
}
