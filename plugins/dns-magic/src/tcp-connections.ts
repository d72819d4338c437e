/**
 * The open DNS-over-TCP connections and who gets a slot when they run out. RFC 7766 section 6.2
 * lets a server close idle connections to free resources; this table does so instead of refusing
 * newcomers, so that thousands of idle connections (from one source or many) cannot lock real
 * queries out: a new connection evicts the longest-idle one of its own source when that source
 * is at `maxPerSource`, else the longest-idle one overall when the server is at `maxTotal`.
 */
import type * as net from 'node:net';

/** Why a connection was closed to make room (label of `dns_tcp_evicted_total`). */
export type EvictReason = 'source_limit' | 'total_limit';

interface Entry {
  source: string;
  /** Last read or write, ms (monotonic). */
  lastActive: number;
}

/** Options of {@link TcpConnectionTable}. */
export interface TcpConnectionLimits {
  /** Open connections in total. */
  maxTotal: number;
  /** Open connections from one source address. */
  maxPerSource: number;
}

/** Open TCP connections with their source and last activity; evicts to admit newcomers. */
export class TcpConnectionTable {
  private readonly entries = new Map<net.Socket, Entry>();
  private readonly perSource = new Map<string, number>();

  constructor(
    private readonly limits: TcpConnectionLimits,
    private readonly onEvict: (reason: EvictReason) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Open connections. */
  get size(): number {
    return this.entries.size;
  }

  /** Connections open from `source`. */
  countFrom(source: string): number {
    return this.perSource.get(source) ?? 0;
  }

  /**
   * Admits `sock` from `source`, first closing (destroying) the longest-idle connection of the
   * same source when it is at its limit, else the longest-idle one overall when the table is full.
   */
  admit(sock: net.Socket, source: string): void {
    if (this.countFrom(source) >= this.limits.maxPerSource) this.evict((e) => e.source === source, 'source_limit');
    else if (this.entries.size >= this.limits.maxTotal) this.evict(() => true, 'total_limit');
    this.entries.set(sock, { source, lastActive: this.now() });
    this.perSource.set(source, this.countFrom(source) + 1);
  }

  /** Records activity on `sock` (a query read or an answer written). */
  touch(sock: net.Socket): void {
    const e = this.entries.get(sock);
    if (e) e.lastActive = this.now();
  }

  /** Forgets `sock` (it closed). */
  remove(sock: net.Socket): void {
    const e = this.entries.get(sock);
    if (!e) return;
    this.entries.delete(sock);
    const n = this.countFrom(e.source) - 1;
    if (n > 0) this.perSource.set(e.source, n);
    else this.perSource.delete(e.source);
  }

  /** Closes every connection. */
  destroyAll(): void {
    for (const s of [...this.entries.keys()]) s.destroy();
    this.entries.clear();
    this.perSource.clear();
  }

  private evict(match: (e: Entry) => boolean, reason: EvictReason): void {
    let oldest: net.Socket | undefined;
    let at = Infinity;
    for (const [s, e] of this.entries) {
      if (match(e) && e.lastActive < at) {
        oldest = s;
        at = e.lastActive;
      }
    }
    if (!oldest) return;
    this.remove(oldest);
    oldest.destroy();
    this.onEvict(reason);
  }
}
