/**
 * The delta journal: how a netmap obtained from a signed delta is persisted. Instead of writing
 * the whole derived map (hundreds of KB for 1000 nodes) as the apply intent and the last good
 * map, the signed delta alone is appended, as one line, to `netmap-journal.jsonl` beside the last
 * good map (the journal's base) and fsynced before the data plane is touched: that line is the
 * apply intent, and once the watermark moves to its version it is part of the last good state.
 * A failed apply cuts the line off again. After {@link JOURNAL_MAX_ENTRIES} lines (or
 * {@link JOURNAL_MAX_BYTES}) the next map is persisted whole (the old way) and the journal is
 * emptied (compaction).
 *
 * After a restart the base is re-verified, then every line is re-verified and applied in order
 * (signature, base digest, operations, the result's signed digest, content): the chain stops at
 * the first line that is torn (not JSON: an append cut short by a crash or a full disk) or does
 * not verify, so only a verified prefix is ever used. Which link of the chain is the last good map
 * is the watermark's decision (`NetmapTrust.lastGood`); a link above the watermark is an
 * unfinished apply (`NetmapTrust.recordedIntent`). See docs/netmap-deltas.md.
 */
import { RustynetError, type Netmap, type SignedNetmapDelta, type StateStore } from '@rustynet/plugin-api';

/** State key of the journal (`<state dir>/netmap-journal.jsonl` in a `FileStateStore`). */
export const JOURNAL_KEY = 'netmap-journal';
/** Lines in the journal before the next map is persisted whole. */
export const JOURNAL_MAX_ENTRIES = 32;
/** Journal size (bytes) from which the next map is persisted whole. */
export const JOURNAL_MAX_BYTES = 1 << 20;

/** A state store with append-only journals (`FileStateStore`). */
export interface JournalStore extends StateStore {
  /** Appends a line and fsyncs; @returns the size afterwards. */
  appendJournal(key: string, line: string): Promise<number>;
  readJournal(key: string): Promise<string | undefined>;
  truncateJournal(key: string, size: number): Promise<void>;
  deleteJournal(key: string): Promise<void>;
}

/** True for a store that has journals. */
export function isJournalStore(store: StateStore): store is JournalStore {
  return typeof (store as Partial<JournalStore>).appendJournal === 'function';
}

/** One verified link of the chain: the base (index 0) or the map after a journal line. */
export interface ChainLink<T> {
  netmap: Netmap;
  digest: string;
  /** What the link's map is persisted as (the base envelope, or the derived map). */
  value: T;
  /** Journal size up to and including this link's line (0 for the base). */
  end: number;
}

/** Result of {@link DeltaJournal.replay}. */
export interface Replayed<T> {
  chain: ChainLink<T>[];
  /** Why the chain stopped before the journal's end (a torn line is not a problem: it never counted). */
  problem?: string;
}

/** What the journal on disk ends with. */
interface Tip {
  digest: string;
  entries: number;
  size: number;
}

/**
 * Appends, cuts back and replays the journal; knows what the persisted state (base + journal)
 * ends with, so it appends only a delta whose base is exactly that. Run it inside the daemon's
 * serialiser (one writer).
 */
export class DeltaJournal {
  /** The persisted tip; `undefined` while unknown (then nothing is appended: the map is written whole). */
  private tip: Tip | undefined;
  /** The line of the apply under way: where to cut back to, and the tip before it. */
  private pending: { digest: string; truncateTo: number; before: Tip } | undefined;

  constructor(private readonly store: JournalStore) {}

  /** True when `delta` applies to the persisted tip and the journal has room (else persist whole). */
  canAppend(delta: SignedNetmapDelta): boolean {
    const t = this.tip;
    return t !== undefined && t.digest === delta.delta.baseDigest && t.entries < JOURNAL_MAX_ENTRIES && t.size < JOURNAL_MAX_BYTES;
  }

  /** True when the journal already ends with the map of `digest` (an unfinished apply found at restart). */
  holds(digest: string): boolean {
    return this.tip?.digest === digest && this.tip.entries > 0;
  }

  /**
   * Makes the journal line of `delta` (whose result has `digest`) the apply intent: appends and
   * fsyncs it, or adopts the line already at the end ({@link holds}).
   * @throws RustynetError `STATE_WRITE_FAILED` (nothing was appended: a partial line is cut off
   *   again; when even that fails the journal is not appended to any more until the next whole write).
   */
  async append(delta: SignedNetmapDelta, digest: string, lineStart?: number): Promise<void> {
    const t = this.tip;
    if (!t) throw new RustynetError('INTERNAL', 'delta journal: append with an unknown tip');
    if (lineStart !== undefined) {
      this.pending = { digest, truncateTo: lineStart, before: { digest: delta.delta.baseDigest, entries: t.entries - 1, size: lineStart } };
      return;
    }
    let size: number;
    try {
      size = await this.store.appendJournal(JOURNAL_KEY, `${JSON.stringify(delta)}\n`);
    } catch (err) {
      await this.store.truncateJournal(JOURNAL_KEY, t.size).catch(() => (this.tip = undefined));
      throw err;
    }
    this.pending = { digest, truncateTo: t.size, before: t };
    this.tip = { digest, entries: t.entries + 1, size };
  }

  /** The apply of the pending line was committed (watermark moved): @returns false when there is none for `digest`. */
  commit(digest: string): boolean {
    if (this.pending?.digest !== digest) return false;
    this.pending = undefined;
    return true;
  }

  /**
   * Cuts the pending line off again (its apply failed or was rolled back). Never throws: a failure
   * is returned (the line then stays as an unfinished apply above the watermark, like an apply
   * intent that could not be deleted) and nothing more is appended until the next whole write.
   */
  async rollback(): Promise<unknown> {
    const p = this.pending;
    if (!p) return undefined;
    this.pending = undefined;
    try {
      await this.store.truncateJournal(JOURNAL_KEY, p.truncateTo);
      this.tip = p.before;
      return undefined;
    } catch (err) {
      this.tip = undefined;
      return err;
    }
  }

  /**
   * The map of `digest` was persisted whole as the base: empties the journal. A failure is not
   * fatal (a stale line never verifies against the new base), but nothing is appended until an
   * empty journal is confirmed.
   */
  async reset(digest: string): Promise<void> {
    this.pending = undefined;
    try {
      await this.store.deleteJournal(JOURNAL_KEY);
      this.tip = { digest, entries: 0, size: 0 };
    } catch {
      this.tip = undefined;
    }
  }

  /**
   * Cheap pre-check for an unfinished apply (nothing verified): true when the journal's last
   * complete line names a version above `version` (lines are appended in rising versions), or
   * when that line or the journal cannot be read (the replay then decides).
   */
  async mayEndAbove(version: number | undefined): Promise<boolean> {
    let text: string;
    try {
      text = (await this.store.readJournal(JOURNAL_KEY)) ?? '';
    } catch {
      return true;
    }
    const lines = text.split('\n').slice(0, -1);
    const last = lines[lines.length - 1];
    if (last === undefined) return false;
    if (version === undefined) return true;
    try {
      const v = (JSON.parse(last) as { delta?: { version?: unknown } } | null)?.delta?.version;
      return typeof v !== 'number' || v > version;
    } catch {
      return true;
    }
  }

  /**
   * Re-verifies the journal on top of `base` (already verified): each complete line is parsed
   * and given to `apply` with the link before it; lines whose version is not above the previous
   * link (left from before the last whole write) are skipped. Stops at a torn line or at the first
   * line `apply` refuses. Afterwards the journal is known to end with the chain's last link; when
   * it holds anything else (a torn or refused rest, stale lines) nothing is appended to it: the
   * next map is persisted whole, which empties it.
   * @param apply verifies a signed delta against the previous link (throws when it does not verify).
   */
  async replay<T>(base: ChainLink<T>, apply: (line: unknown, prev: ChainLink<T>) => Omit<ChainLink<T>, 'end'>): Promise<Replayed<T>> {
    const chain = [base];
    let text: string | undefined;
    try {
      text = await this.store.readJournal(JOURNAL_KEY);
    } catch (err) {
      this.tip = undefined;
      return { chain, problem: `journal unreadable: ${String(err)}` };
    }
    let problem: string | undefined;
    let offset = 0;
    let skipped = 0;
    for (const line of (text ?? '').split('\n').slice(0, -1)) {
      const prev = chain[chain.length - 1];
      const start = offset;
      offset += Buffer.byteLength(line, 'utf8') + 1;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        offset = start;
        break;
      }
      const version = (parsed as { delta?: { version?: unknown } } | null)?.delta?.version;
      if (typeof version === 'number' && version <= prev.netmap.version && chain.length === 1) {
        skipped++;
        continue;
      }
      try {
        chain.push({ ...apply(parsed, prev), end: offset });
      } catch (err) {
        problem = `journal line ${chain.length + skipped} does not verify: ${err instanceof Error ? err.message : String(err)}`;
        offset = start;
        break;
      }
    }
    const last = chain[chain.length - 1];
    // A rest that did not verify (or stale lines before the chain) must not stay in front of new lines.
    const clean = offset === Buffer.byteLength(text ?? '', 'utf8') && skipped === 0;
    this.tip = clean ? { digest: last.digest, entries: chain.length - 1, size: last.end } : undefined;
    return { chain, ...(problem !== undefined && { problem }) };
  }
}
