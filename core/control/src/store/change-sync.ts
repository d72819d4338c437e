/**
 * Keeps one control-plane instance in step with changes it did not make itself: another
 * instance on the same PostgreSQL database, or a restore (`rustynet control restore`) run
 * beside a running server. Two ways, so neither is a single point of failure:
 * - PostgreSQL: LISTEN on the change channel; every committed version is announced at once.
 * - Both engines: a cheap periodic read of the stored version (every `intervalMs`), which
 *   also covers a dropped LISTEN connection (re-established on the next tick).
 * `onNewer` runs when the stored version is above the one the instance serves.
 */
import type { Logger } from '@rustynet/plugin-api';
import type { OpenDatabase } from '../db/open.js';
import { toRustynetError } from '../errors.js';
import type { ControlStore } from './control-store.js';

/** Default period of the version check (ms). */
export const DEFAULT_SYNC_INTERVAL_MS = 1_000;

/** Runs the LISTEN connection and the periodic check. */
export class ChangeSync {
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private listening = false;
  private stopped = false;
  private busy = false;
  private lastError = '';

  constructor(
    private readonly database: OpenDatabase,
    private readonly store: ControlStore,
    private readonly served: () => number,
    private readonly onNewer: () => Promise<unknown>,
    private readonly logger: Logger,
    private readonly intervalMs = DEFAULT_SYNC_INTERVAL_MS,
  ) {}

  /** Starts both mechanisms (the LISTEN connection in the background). */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.listen();
  }

  private async listen(): Promise<void> {
    if (this.database.listen === undefined || this.listening || this.stopped) return;
    this.listening = true;
    try {
      const stop = await this.database.listen(
        () => void this.check(),
        (err) => {
          this.logger.warn({ err: err.message }, 'change notifications lost; polling the version until they return');
          this.listening = false;
          const old = this.unlisten;
          this.unlisten = undefined;
          void old?.();
        },
      );
      if (this.stopped) await stop();
      else this.unlisten = stop;
    } catch (err) {
      this.listening = false;
      this.logger.warn({ err: String(err) }, 'cannot listen for change notifications; polling the version');
    }
  }

  private async tick(): Promise<void> {
    if (!this.listening) void this.listen();
    await this.check();
  }

  /** Reads the stored version and calls `onNewer` when it is ahead of the served one. */
  async check(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if ((await this.store.storedVersion()) > this.served()) await this.onNewer();
      if (this.lastError !== '') this.logger.info({}, 'database reachable again');
      this.lastError = '';
    } catch (err) {
      // One line per distinct failure, not one per tick.
      if (String(err) !== this.lastError) {
        this.logger.warn({ code: toRustynetError(err).code, err: String(err) }, 'reading the stored version failed');
      }
      this.lastError = String(err);
    } finally {
      this.busy = false;
    }
  }

  /** Stops both. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.();
  }
}
