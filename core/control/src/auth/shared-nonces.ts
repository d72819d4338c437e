/**
 * Request nonces, checked once per signed node request (see ControlService.authenticate):
 * 1. the instance's in-memory {@link ReplayCache} (cheap, both engines);
 * 2. on PostgreSQL, where several instances share the database, the `request_nonces` table
 *    (migration 0005): one `INSERT ... ON CONFLICT DO NOTHING` per request, atomic through the
 *    primary key (identity key, nonce). No row inserted means another instance (or this one)
 *    already accepted that nonce: `nonce-replayed`, the same refusal as the memory check.
 *    The insert runs outside the write lock (store/transaction.ts), so polls never queue behind
 *    admin changes.
 * Fail closed: when the row cannot be recorded (database unreachable, an error, no answer within
 * {@link NONCE_RECORD_TIMEOUT_MS}) the request is refused with `STORAGE_FAILED` (HTTP 507, the
 * status on which daemons fail over to another instance); it is never accepted unrecorded.
 * Rows live {@link NONCE_TTL_MS} (twice the freshness window, like the memory cache); after a
 * record, at most every {@link NONCE_PRUNE_EVERY_MS}, expired rows are deleted in the background
 * in batches of {@link NONCE_PRUNE_BATCH} (dialect-neutral `DELETE ... WHERE (key, nonce) IN
 * (SELECT ... LIMIT n)`); a full batch lets the next record prune again at once.
 * SQLite keeps the memory cache only: one process serves a SQLite database (docs/control.md).
 */
import type { Kysely } from 'kysely';
import { RustynetError, type Logger } from '@rustynet/plugin-api';
import type { DatabaseEngine } from '../db/open.js';
import type { ControlDatabase } from '../db/schema.js';
import { authFailed, toRustynetError } from '../errors.js';
import { ReplayCache } from './replay-cache.js';
import { REQUEST_FRESHNESS_MS } from './request-signature.js';

/** How long a nonce is remembered, in memory and in the table (ms): twice the freshness window. */
export const NONCE_TTL_MS = 2 * REQUEST_FRESHNESS_MS;
/** Least time between two background prunes of the table (ms). */
export const NONCE_PRUNE_EVERY_MS = 15_000;
/** Most expired rows one prune deletes. */
export const NONCE_PRUNE_BATCH = 1_000;
/** Longest wait for the database to record a nonce before the request is refused (ms). */
export const NONCE_RECORD_TIMEOUT_MS = 5_000;

/** Options of {@link SharedNonceTable}. */
export interface SharedNonceOptions {
  /** Row lifetime (ms); default {@link NONCE_TTL_MS}. */
  ttlMs?: number;
  /** Least time between prunes (ms); default {@link NONCE_PRUNE_EVERY_MS}. */
  pruneEveryMs?: number;
  /** Rows per prune; default {@link NONCE_PRUNE_BATCH}. */
  pruneBatch?: number;
  /** Record deadline (ms); default {@link NONCE_RECORD_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Where prune failures are reported. */
  logger?: Logger;
}

/** The `request_nonces` table: nonces shared by every instance on the database. */
export class SharedNonceTable {
  private lastPrune = 0;
  private pruning: Promise<void> | undefined;
  private closed = false;
  private readonly ttlMs: number;
  private readonly pruneEveryMs: number;
  private readonly pruneBatch: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly db: Kysely<ControlDatabase>,
    private readonly opts: SharedNonceOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? NONCE_TTL_MS;
    this.pruneEveryMs = opts.pruneEveryMs ?? NONCE_PRUNE_EVERY_MS;
    this.pruneBatch = opts.pruneBatch ?? NONCE_PRUNE_BATCH;
    this.timeoutMs = opts.timeoutMs ?? NONCE_RECORD_TIMEOUT_MS;
  }

  /**
   * Records that `identityKey` used `nonce` at `now` (Unix ms). True when the row is new; false
   * when it was already there (a replay, whatever instance saw it first).
   * @throws RustynetError `STORAGE_FAILED` (`details.reason` `nonce-unrecorded`) when the
   *   database does not record it: the caller must refuse the request.
   */
  async record(identityKey: string, nonce: string, now = Date.now()): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RustynetError('TIMEOUT', `no answer from the database within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    let inserted: bigint;
    try {
      const insert = this.db
        .insertInto('request_nonces')
        .values({ identity_key: identityKey, nonce, expires_at: now + this.ttlMs })
        .onConflict((oc) => oc.columns(['identity_key', 'nonce']).doNothing())
        .executeTakeFirst();
      // A late answer after the deadline only stores a nonce of a request that was refused.
      insert.catch(() => undefined);
      inserted = (await Promise.race([insert, deadline])).numInsertedOrUpdatedRows ?? 0n;
    } catch (err) {
      throw unrecorded(err);
    } finally {
      clearTimeout(timer);
    }
    this.maybePrune(now);
    return inserted > 0n;
  }

  private maybePrune(now: number): void {
    if (this.closed || this.pruning !== undefined || now - this.lastPrune < this.pruneEveryMs) return;
    this.lastPrune = now;
    this.pruning = this.prune(now)
      .then((n) => {
        // A full batch: more may be waiting, so the next record prunes again.
        if (n >= this.pruneBatch) this.lastPrune = 0;
      })
      .catch((err: unknown) => {
        this.opts.logger?.warn({ code: toRustynetError(err).code, err: String(err) }, 'pruning expired request nonces failed');
      })
      .finally(() => {
        this.pruning = undefined;
      });
  }

  /**
   * Deletes up to one batch of rows expired at `now` (Unix ms); returns how many.
   * @throws the driver's error (the background caller logs it).
   */
  async prune(now = Date.now()): Promise<number> {
    const expired = this.db
      .selectFrom('request_nonces')
      .select(['identity_key', 'nonce'])
      .where('expires_at', '<=', now)
      .limit(this.pruneBatch)
      .$asTuple('identity_key', 'nonce');
    const r = await this.db
      .deleteFrom('request_nonces')
      .where((eb) => eb(eb.refTuple('identity_key', 'nonce'), 'in', expired))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** The background prune running now, if any (tests and close wait for it). */
  idle(): Promise<void> {
    return this.pruning ?? Promise.resolve();
  }

  /** Stops pruning and waits for a running prune. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}

function unrecorded(err: unknown): RustynetError {
  const e = toRustynetError(err);
  return new RustynetError('STORAGE_FAILED', `cannot record the request nonce in the shared database, request refused: ${e.message}`, {
    cause: err,
    details: { reason: 'nonce-unrecorded', ...(typeof e.details?.['cause'] === 'string' && { cause: e.details['cause'] }) },
  });
}

/** Both checks: the memory cache, then (PostgreSQL) the shared table. */
export class RequestNonces {
  private readonly memory = new ReplayCache(NONCE_TTL_MS);
  /** The shared table, on PostgreSQL; undefined on SQLite. */
  readonly shared: SharedNonceTable | undefined;

  constructor(database: { db: Kysely<ControlDatabase>; engine: DatabaseEngine }, logger?: Logger) {
    this.shared = database.engine === 'postgres' ? new SharedNonceTable(database.db, { ...(logger && { logger }) }) : undefined;
  }

  /**
   * Accepts `nonce` of `identityKey` once across every instance on the database.
   * @throws RustynetError `AUTH_FAILED` (`nonce-replayed`), `STORAGE_FAILED` (not recorded).
   */
  async use(identityKey: string, nonce: string, now = Date.now()): Promise<void> {
    if (!this.memory.add(`${identityKey}:${nonce}`, now)) throw replayed();
    if (this.shared !== undefined && !(await this.shared.record(identityKey, nonce, now))) throw replayed();
  }

  /** Waits for a running prune and stops pruning. */
  async close(): Promise<void> {
    await this.shared?.close();
  }
}

function replayed(): RustynetError {
  return authFailed('nonce-replayed', 'request nonce already used (replay)');
}
