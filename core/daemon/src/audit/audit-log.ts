import { appendFile, mkdir, readFile, chmod, rename } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { AUDIT_GENESIS, auditRecordHash, type AuditEventType, type AuditRecord } from './audit-record.js';
import { signAuditHead, writeAuditHead, type AuditSigner } from './audit-head.js';
import { verifyAuditLog, type AuditVerification } from './audit-verify.js';

export { AUDIT_GENESIS, auditRecordHash, type AuditEventType, type AuditRecord } from './audit-record.js';

/** The head file of an audit log: `audit.log` -> `audit.head`, else `<path>.head`. */
export function auditHeadPathOf(logPath: string): string {
  return logPath.endsWith('.log') ? `${logPath.slice(0, -4)}.head` : `${logPath}.head`;
}

/** Outcome of {@link AuditLog.checkAtStartup}. */
export interface AuditStartupCheck {
  /** ISO time of the check. */
  at: string;
  verification: AuditVerification;
  /** Set when the check failed: where the broken log (and head) were moved; a new segment began. */
  movedTo?: { log: string; head: string };
}

/**
 * Append-only audit log of JSON lines (file mode 0600). Each record carries the SHA-256 hash of
 * the previous one, so deleting, reordering or editing a record breaks the chain. With a signer
 * (the node's identity key, {@link attachSigner}), every append also replaces the signed head
 * (`audit.head`, see {@link AuditHead}) atomically, so truncation and a rewrite from some record
 * onwards are detected too ({@link verifyAuditLog}). Appends are serialised.
 */
export class AuditLog {
  private last: { seq: number; hash: string } | undefined;
  /** `at` of the last record this instance appended (for a head written later). */
  private lastAt: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private modeChecked = false;
  private signer: { node: string; signer: AuditSigner } | undefined;
  /** Appends queued and not yet started. */
  private waiting = 0;
  /** The head file beside the log. */
  readonly headPath: string;

  constructor(
    readonly path: string,
    private readonly now: () => number = Date.now,
    opts: {
      headPath?: string;
      /** Called when a head written after the answer ({@link appendHeadLater}) fails; the next head covers its records. */
      onHeadError?: (err: unknown) => void;
    } = {},
  ) {
    this.headPath = opts.headPath ?? auditHeadPathOf(path);
    this.onHeadError = opts.onHeadError;
  }

  private readonly onHeadError: ((err: unknown) => void) | undefined;

  /** Signs the head with `signer` from now on (call before {@link checkAtStartup}). */
  attachSigner(node: string, signer: AuditSigner): void {
    this.signer = { node, signer };
  }

  /** Runs `fn` in the append queue. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

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

  /**
   * Verifies the log against its head (with the signer's key; without a signer, the chain only)
   * before anything is appended. A broken log is not fatal: the log and head are renamed to
   * `<name>.broken-<time>` (kept as evidence) and a new chain segment begins with an
   * `audit.segment` record naming the reason. The caller logs the outcome loudly.
   */
  checkAtStartup(): Promise<AuditStartupCheck> {
    return this.enqueue(async () => {
      const at = new Date(this.now()).toISOString();
      const signer = this.signer;
      const verification = await verifyAuditLog(this.path, {
        ...(signer && { headPath: this.headPath, publicKey: signer.signer.publicKey(), requireHead: true }),
      });
      if (verification.ok) return { at, verification };
      const stamp = at.replace(/[:.]/g, '-');
      const movedTo = { log: `${this.path}.broken-${stamp}`, head: `${this.headPath}.broken-${stamp}` };
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await rename(this.path, movedTo.log).catch(ignoreMissing);
      await rename(this.headPath, movedTo.head).catch(ignoreMissing);
      this.last = { seq: 0, hash: AUDIT_GENESIS };
      await this.write('audit.segment', {
        reason: verification.reason ?? 'unknown',
        brokenAt: verification.brokenAt ?? null,
        previousLog: basename(movedTo.log),
        previousRecords: verification.records,
      });
      return { at, verification, movedTo };
    });
  }

  /**
   * Appends one record and re-signs the head; resolves with the record once written. In a burst
   * of queued appends only the last one writes the head (it covers the others).
   */
  append(type: AuditEventType, data: Record<string, unknown> = {}): Promise<AuditRecord> {
    this.waiting++;
    return this.enqueue(() => {
      this.waiting--;
      return this.write(type, data, this.waiting === 0);
    });
  }

  /** Resolves when everything queued so far (records, heads) is done; never rejects. */
  async flush(): Promise<void> {
    await this.enqueue(() => Promise.resolve());
  }

  /**
   * Like {@link append}, but resolves once the record is in the log: the signed head covering it
   * is written next in the same queue (before any later record), off the caller's path. A crash
   * in between leaves an unsigned tail, exactly as a crash inside {@link append} can. A failed
   * head write goes to `onHeadError`; the next head covers the record.
   * @throws Error from the record append (as {@link append}).
   */
  appendHeadLater(type: AuditEventType, data: Record<string, unknown> = {}): Promise<AuditRecord> {
    this.waiting++;
    const p = this.enqueue(() => {
      this.waiting--;
      return this.write(type, data, false);
    });
    this.enqueue(async () => {
      // A record queued meanwhile signs (or schedules) the head covering this one too.
      if (this.waiting > 0 || !this.signer || !this.last || this.lastAt === undefined) return;
      const { node, signer } = this.signer;
      await writeAuditHead(this.headPath, signAuditHead({ node, seq: this.last.seq, hash: this.last.hash, at: this.lastAt }, signer));
    }).catch((err: unknown) => this.onHeadError?.(err));
    return p;
  }

  private async write(type: AuditEventType, data: Record<string, unknown>, signHead = true): Promise<AuditRecord> {
    const last = await this.init();
    const body = {
      seq: last.seq + 1,
      at: new Date(this.now()).toISOString(),
      type,
      data: JSON.parse(JSON.stringify(data)) as Record<string, unknown>,
      prev: last.hash,
    };
    const record: AuditRecord = { ...body, hash: auditRecordHash(body) };
    await appendFile(this.path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    // New files are created 0600; an existing file's mode is fixed once per instance.
    if (!this.modeChecked) {
      await chmod(this.path, 0o600);
      this.modeChecked = true;
    }
    this.last = { seq: record.seq, hash: record.hash };
    this.lastAt = record.at;
    if (this.signer && signHead) {
      // A crash between the append and this write leaves one unsigned record: verification
      // reports it as `unsignedTail`, and the next append's head covers it.
      const head = signAuditHead({ node: this.signer.node, seq: record.seq, hash: record.hash, at: record.at }, this.signer.signer);
      await writeAuditHead(this.headPath, head);
    }
    return record;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
