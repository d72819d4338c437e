/** Datagrams the relay client drops, counted by reason and flushed to a metric. */
import type { Counter } from '@rustynet/plugin-api';

/** Client-side drop reasons (label of `relay_client_drops_total`). */
export const CLIENT_DROP_REASONS = [
  /** A datagram on a path socket not from the backend endpoint. */
  'foreign_source',
  /** A backend datagram while not registered with any relay. */
  'no_session',
  /** A backend datagram larger than the relay carries. */
  'oversize',
  /** DATA from a peer without an open path. */
  'unknown_peer',
  /** A datagram on the relay socket not from the current relay, or malformed. */
  'invalid',
  /** A socket refused a send. */
  'send_failed',
] as const;
export type ClientDropReason = (typeof CLIENT_DROP_REASONS)[number];

/** Drop counters: counted on the hot path as plain numbers, flushed to the metric now and then. */
export class DropCounters {
  readonly counts: Record<ClientDropReason, number>;
  private flushed: Record<ClientDropReason, number>;

  constructor(private readonly metric: Counter) {
    this.counts = Object.fromEntries(CLIENT_DROP_REASONS.map((r) => [r, 0])) as Record<ClientDropReason, number>;
    this.flushed = { ...this.counts };
  }

  /** Counts one dropped datagram. */
  drop(reason: ClientDropReason): void {
    this.counts[reason]++;
  }

  /** Adds what was counted since the last flush to the metric. */
  flush(): void {
    for (const r of CLIENT_DROP_REASONS) {
      const d = this.counts[r] - this.flushed[r];
      if (d > 0) this.metric.inc({ reason: r }, d);
    }
    this.flushed = { ...this.counts };
  }
}
