/**
 * Answering queries: UDP datagrams and RFC 7766 TCP streams, per-source rate limiting, and
 * forwarding of names outside the zone to the upstream resolver. Counts everything it does.
 */
import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type * as net from 'node:net';
import type { Counter, PluginContext } from '@rustynet/plugin-api';
import { safeClose, type ListenerHandlers } from './listener.js';
import type { DnsMagicOptions } from './options.js';
import type { TokenBucketLimiter } from './rate-limit.js';
import { TcpConnectionTable } from './tcp-connections.js';
import { parseQuery, refused, respond, servfail, type ParsedQuery, type Transport, type ZoneSnapshot } from './responder.js';

/** Counters kept by one plugin instance (also exported as metrics). */
export interface DnsMagicStats {
  /** Answers sent, by RCODE name (forwarded answers by the upstream's RCODE). */
  answers: Record<string, number>;
  /** Queries over a source's rate limit (dropped, or answered REFUSED with action `refused`). */
  rateLimited: number;
  /** Messages dropped unanswered: `short` (< 12 bytes, no header) or `response` (QR bit set). */
  dropped: { short: number; response: number };
  /** Forwarded queries: answered by the upstream, timed out, or failed (send error, busy). */
  forwarded: { answered: number; timeout: number; failed: number };
}

type Send = (bytes: Buffer) => void;

/** Largest number of bytes buffered for one TCP client before the connection is dropped. */
const TCP_MAX_BUFFERED = 1 << 20;

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/**
 * The query side of the server. It answers only while {@link active} (set once every socket is
 * bound, cleared at stop), from the zone snapshot `snapshot()` returns at that moment.
 */
export class QueryServer implements ListenerHandlers {
  /** True while the plugin serves: queries arriving otherwise are ignored. */
  active = false;
  /** The per-source rate limiter of the current run, if rate limiting is on. */
  limiter: TokenBucketLimiter | null = null;
  private readonly tcp: TcpConnectionTable;
  private readonly pendingForwards = new Set<() => void>();
  readonly counters: DnsMagicStats = {
    answers: {},
    rateLimited: 0,
    dropped: { short: 0, response: 0 },
    forwarded: { answered: 0, timeout: 0, failed: 0 },
  };
  private readonly mQueries: Counter;
  private readonly mRateLimited: Counter;
  private readonly mDropped: Counter;
  private readonly mForwarded: Counter;

  constructor(
    private readonly context: PluginContext,
    private readonly options: DnsMagicOptions,
    private readonly snapshot: () => ZoneSnapshot,
  ) {
    const m = context.metrics;
    this.mQueries = m.counter('dns_queries_total', 'DNS answers sent, by RCODE and transport', ['rcode', 'transport']);
    this.mRateLimited = m.counter('dns_rate_limited_total', 'DNS queries over the per-source rate limit', ['transport']);
    this.mDropped = m.counter('dns_dropped_total', 'DNS messages dropped unanswered (short, response)', ['reason']);
    this.mForwarded = m.counter('dns_forwarded_total', 'DNS queries forwarded upstream, by result', ['result']);
    const evicted = m.counter('dns_tcp_evicted_total', 'Idle DNS TCP connections closed to admit a new one, by limit', ['reason']);
    this.tcp = new TcpConnectionTable({ maxTotal: options.maxTcpConnections, maxPerSource: options.maxTcpConnectionsPerSource }, (reason) =>
      evicted.inc({ reason }),
    );
  }

  /** Stops answering: drops in-flight forwards and closes every TCP connection. */
  deactivate(): void {
    this.active = false;
    for (const finish of [...this.pendingForwards]) finish();
    this.tcp.destroyAll();
    this.limiter = null;
  }

  onUdpMessage(udp: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!this.active || rinfo.port === 0) return;
    this.handle(msg, rinfo.address, 'udp', (bytes) => {
      try {
        udp.send(bytes, rinfo.port, rinfo.address, () => undefined);
      } catch {
        // socket closed by stop() meanwhile
      }
    });
  }

  onTcpConnection(sock: net.Socket): void {
    if (!this.active) {
      sock.destroy();
      return;
    }
    const source = sock.remoteAddress ?? 'unknown';
    // At a limit, the longest-idle connection (of this source, else of all) makes room.
    this.tcp.admit(sock, source);
    sock.setNoDelay(true);
    sock.setTimeout(this.options.tcpIdleTimeoutMs, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('close', () => this.tcp.remove(sock));
    const send: Send = (bytes) => {
      if (sock.destroyed || !sock.writable) return;
      if (sock.writableLength > TCP_MAX_BUFFERED) {
        sock.destroy();
        return;
      }
      const len = Buffer.alloc(2);
      len.writeUInt16BE(bytes.length, 0);
      sock.write(Buffer.concat([len, bytes]));
      this.tcp.touch(sock);
    };
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // RFC 7766: each message has a two-byte length prefix; a connection may carry many.
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        if (!this.active) return;
        this.tcp.touch(sock);
        this.handle(msg, source, 'tcp', send);
      }
    });
  }

  private countAnswer(rcode: string, transport: Transport): void {
    this.counters.answers[rcode] = (this.counters.answers[rcode] ?? 0) + 1;
    this.mQueries.inc({ rcode, transport });
  }

  /** Rate limit, answer, count. Never throws. */
  private handle(msg: Buffer, source: string, transport: Transport, send: Send): void {
    try {
      const limiter = this.limiter;
      if (limiter && !limiter.take(source, this.context.clock.now())) {
        this.counters.rateLimited++;
        this.mRateLimited.inc({ transport });
        if (this.options.rateLimit?.action === 'refused') {
          const p = parseQuery(msg);
          const out = 'kind' in p ? p : refused(p, transport);
          if (out.kind === 'reply') {
            this.countAnswer(out.rcode, transport);
            send(out.bytes);
          }
        }
        return;
      }
      const out = respond(msg, this.snapshot(), transport, this.options.forwarder !== null);
      if (out.kind === 'drop') {
        this.counters.dropped[out.reason]++;
        this.mDropped.inc({ reason: out.reason });
      } else if (out.kind === 'reply') {
        this.countAnswer(out.rcode, transport);
        send(out.bytes);
      } else {
        this.forward(out.query, msg, transport, send);
      }
    } catch (err) {
      this.context.logger.error({ err: String(err) }, 'DNS query handling failed');
    }
  }

  /** Forwards the raw query over UDP with a fresh random id; SERVFAIL on timeout or error. */
  private forward(q: ParsedQuery, msg: Buffer, transport: Transport, send: Send): void {
    const fwd = this.options.forwarder;
    if (!fwd) return;
    const fail = (result: 'timeout' | 'failed'): void => {
      this.counters.forwarded[result]++;
      this.mForwarded.inc({ result });
      if (!this.active) return;
      const out = servfail(q, transport);
      if (out.kind === 'reply') {
        this.countAnswer(out.rcode, transport);
        send(out.bytes);
      }
    };
    if (this.pendingForwards.size >= fwd.maxInflight) {
      fail('failed');
      return;
    }
    const upstreamId = randomInt(0, 65536);
    const query = Buffer.from(msg);
    query.writeUInt16BE(upstreamId, 0);
    const sock = dgram.createSocket(isIPv6(fwd.host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (reply: Buffer | null, result: 'answered' | 'timeout' | 'failed'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.pendingForwards.delete(cancel);
      safeClose(sock);
      if (reply === null || result !== 'answered') {
        fail(result === 'answered' ? 'failed' : result);
        return;
      }
      this.counters.forwarded.answered++;
      this.mForwarded.inc({ result: 'answered' });
      if (!this.active) return;
      reply.writeUInt16BE(q.id, 0);
      const rcode = (reply[3] ?? 0) & 0xf;
      this.countAnswer(RCODE_NAMES[rcode] ?? `RCODE_${rcode}`, transport);
      send(reply);
    };
    const cancel = (): void => {
      done = true;
      clearTimeout(timer);
      this.pendingForwards.delete(cancel);
      safeClose(sock);
    };
    const timer = setTimeout(() => finish(null, 'timeout'), fwd.timeoutMs);
    this.pendingForwards.add(cancel);
    sock.on('error', () => finish(null, 'failed'));
    sock.on('message', (m: Buffer) => {
      // The socket is connected, so only the upstream's address and port reach here.
      if (m.length < 12 + q.question.length || m.readUInt16BE(0) !== upstreamId || ((m[2] ?? 0) & 0x80) === 0) return;
      if (m.readUInt16BE(4) !== 1 || !m.subarray(12, 12 + q.question.length).equals(q.question)) return;
      finish(Buffer.from(m), 'answered');
    });
    sock.connect(fwd.port, fwd.host, () => {
      if (done) return;
      sock.send(query, (err) => {
        if (err) finish(null, 'failed');
      });
    });
  }
}
