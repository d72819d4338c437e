/** Names of the daemon's hooks. */
export type HookName = 'netmapAccepted' | 'resolvePeerEndpoint' | 'applied' | 'shutdown';

/** Outcome of one tap call. */
export type TapOutcome = 'ok' | 'veto' | 'error' | 'timeout';

/** One tap call on the hook timeline. */
export interface HookTimelineEntry {
  /** Full tap name, `<plugin>/<tap>`. */
  tap: string;
  /** Plugin that registered the tap (`daemon` for the core's own taps). */
  plugin: string;
  hook: HookName;
  /** Start time, ms since the epoch. */
  start: number;
  /** Wall time the tap took, in milliseconds. */
  durationMs: number;
  outcome: TapOutcome;
  /** Veto reason or error message. */
  detail?: string;
}

/** Default number of entries kept by a {@link HookTimeline}. */
export const DEFAULT_TIMELINE_SIZE = 1000;

/**
 * A bounded ring buffer of {@link HookTimelineEntry}s: the newest `capacity` tap calls, for logs,
 * `GET /v1/timeline` and conformance-kit diagnostics.
 */
export class HookTimeline {
  private readonly buf: HookTimelineEntry[] = [];
  private next = 0;

  constructor(readonly capacity: number = DEFAULT_TIMELINE_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('timeline capacity must be a positive integer');
  }

  record(entry: HookTimelineEntry): void {
    if (this.buf.length < this.capacity) this.buf.push(entry);
    else this.buf[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Entries oldest first. */
  entries(): HookTimelineEntry[] {
    if (this.buf.length < this.capacity) return [...this.buf];
    return [...this.buf.slice(this.next), ...this.buf.slice(0, this.next)];
  }

  get size(): number {
    return this.buf.length;
  }

  clear(): void {
    this.buf.length = 0;
    this.next = 0;
  }
}
