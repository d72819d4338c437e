import { appendFile, mkdir, readFile, chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalJson, sha256Hex } from '../util/json.js';

/** Kinds of audit events. */
export type AuditEventType =
  | 'daemon.start'
  | 'daemon.stop'
  | 'netmap.accepted'
  | 'netmap.rejected'
  | 'apply'
  | 'apply.failed'
  | 'up'
  | 'down'
  | 'path.switch'
  /** A data-plane fault noticed by the watchdog (`source`: backend or stats). */
  | 'dataplane.fault'
  /** One restore attempt of the whole desired state (`result`: ok or failed). */
  | 'dataplane.restore'
  /** The applied netmap expired with no fresher one; the daemon failed closed. */
  | 'netmap.expired';

/** One line of the audit log. */
export interface AuditRecord {
  /** 1-based sequence number. */
  seq: number;
  /** ISO time. */
  at: string;
  type: AuditEventType;
  data: Record<string, unknown>;
  /** `hash` of the previous record; 64 zeros for the first. */
  prev: string;
  /** SHA-256 hex over the RFC 8785 canonical JSON of `{seq, at, type, data, prev}`. */
  hash: string;
}

/** `prev` of the first record. */
export const AUDIT_GENESIS = '0'.repeat(64);

function hashOf(r: Omit<AuditRecord, 'hash'>): string {
  return sha256Hex(canonicalJson({ seq: r.seq, at: r.at, type: r.type, data: r.data, prev: r.prev }));
}

/** Result of {@link verifyAuditLog}. */
export interface AuditVerification {
  ok: boolean;
  records: number;
  /** 1-based line number of the first bad record. */
  brokenAt?: number;
  reason?: string;
}

/**
 * Append-only audit log of JSON lines (file mode 0600). Each record carries the SHA-256 hash of
 * the previous one, so deleting, reordering or editing a record breaks the chain
 * ({@link verifyAuditLog}). Appends are serialised.
 */
export class AuditLog {
  private last: { seq: number; hash: string } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private modeChecked = false;

  constructor(
    readonly path: string,
    private readonly now: () => number = Date.now,
  ) {}

  private async init(): Promise<{ seq: number; hash: string }> {
    if (this.last) return this.last;
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const lastLine = lines.at(-1);
    if (lastLine) {
      const rec = JSON.parse(lastLine) as AuditRecord;
      this.last = { seq: rec.seq, hash: rec.hash };
    } else {
      this.last = { seq: 0, hash: AUDIT_GENESIS };
    }
    return this.last;
  }

  /** Appends one record; resolves with it once written. */
  append(type: AuditEventType, data: Record<string, unknown> = {}): Promise<AuditRecord> {
    const run = async (): Promise<AuditRecord> => {
      const last = await this.init();
      const body = {
        seq: last.seq + 1,
        at: new Date(this.now()).toISOString(),
        type,
        data: JSON.parse(JSON.stringify(data)) as Record<string, unknown>,
        prev: last.hash,
      };
      const record: AuditRecord = { ...body, hash: hashOf(body) };
      await appendFile(this.path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
      // New files are created 0600; an existing file's mode is fixed once per instance.
      if (!this.modeChecked) {
        await chmod(this.path, 0o600);
        this.modeChecked = true;
      }
      this.last = { seq: record.seq, hash: record.hash };
      return record;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }
}

/**
 * Verifies an audit log's hash chain: sequence numbers 1..n, each `prev` equal to the previous
 * `hash`, each `hash` recomputed.
 */
export async function verifyAuditLog(path: string): Promise<AuditVerification> {
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  let prev = AUDIT_GENESIS;
  for (let i = 0; i < lines.length; i++) {
    let rec: AuditRecord;
    try {
      rec = JSON.parse(lines[i]) as AuditRecord;
    } catch {
      return { ok: false, records: i, brokenAt: i + 1, reason: 'not JSON' };
    }
    if (rec.seq !== i + 1) return { ok: false, records: i, brokenAt: i + 1, reason: `sequence ${rec.seq}, expected ${i + 1}` };
    if (rec.prev !== prev) return { ok: false, records: i, brokenAt: i + 1, reason: 'prev does not match the previous hash' };
    if (hashOf(rec) !== rec.hash) return { ok: false, records: i, brokenAt: i + 1, reason: 'hash mismatch' };
    prev = rec.hash;
  }
  return { ok: true, records: lines.length };
}
