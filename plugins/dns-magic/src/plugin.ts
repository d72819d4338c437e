import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import { isIP, isIPv6, type AddressInfo } from 'node:net';
import * as net from 'node:net';
import {
  RustynetError,
  invalidInput,
  type CallOptions,
  type Counter,
  type DnsCapabilities,
  type DnsPlugin,
  type DnsStartConfig,
  type DnsZoneData,
  type Endpoint,
  type Gauge,
  type PluginContext,
} from '@rustynet/plugin-api';
import type { DnsMagicOptions } from './options.js';
import { TokenBucketLimiter } from './rate-limit.js';
import { parseQuery, refused, respond, servfail, type ParsedQuery, type Transport, type ZoneSnapshot } from './responder.js';
import { compileZone, emptyZone } from './zone.js';

/** Capabilities of this plugin; equal to the manifest's. */
export const DNS_MAGIC_CAPABILITIES: DnsCapabilities = Object.freeze({ aaaa: true, forwarder: true, rateLimit: true });

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

interface Listener {
  endpoint: Endpoint;
  udp: dgram.Socket;
  tcp: net.Server;
}

type Send = (bytes: Buffer) => void;

/** Largest number of bytes buffered for one TCP client before the connection is dropped. */
const TCP_MAX_BUFFERED = 1 << 20;

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

function nextSerial(prev: number | undefined, nowMs: number): number {
  const now = Math.floor(nowMs / 1000) >>> 0;
  if (prev === undefined) return now || 1;
  // RFC 1982: serials only move forward; use the clock when it is ahead, else prev + 1.
  const inc = (prev + 1) >>> 0;
  return ((now - prev) | 0) > 0 ? now : inc || 1;
}

/**
 * Magic DNS: an authoritative server for the mesh zone (see docs/dns.md for every rule).
 *
 * Life cycle: `createPlugin` builds it without touching the system; `start` binds UDP and TCP on
 * every `listen` endpoint; `update` swaps the zone data atomically (the next query sees the new
 * data, queries in progress finish on the old); `stop` closes every socket.
 */
export class DnsMagicPlugin implements DnsPlugin {
  readonly kind = 'dns' as const;

  private state: 'stopped' | 'starting' | 'running' | 'stopping' = 'stopped';
  private transition: Promise<void> = Promise.resolve();
  private snapshot: ZoneSnapshot;
  private listeners: Listener[] = [];
  private readonly tcpSockets = new Set<net.Socket>();
  private readonly pendingForwards = new Set<() => void>();
  private limiter: TokenBucketLimiter | null = null;
  private readonly counters: DnsMagicStats = {
    answers: {},
    rateLimited: 0,
    dropped: { short: 0, response: 0 },
    forwarded: { answered: 0, timeout: 0, failed: 0 },
  };
  private readonly mQueries: Counter;
  private readonly mRateLimited: Counter;
  private readonly mDropped: Counter;
  private readonly mForwarded: Counter;
  private readonly mNodes: Gauge;

  constructor(
    private readonly context: PluginContext,
    private readonly options: DnsMagicOptions,
  ) {
    this.snapshot = {
      zone: emptyZone(options.zone),
      serial: nextSerial(undefined, context.clock.now()),
      ttl: options.ttl,
      negativeTtl: options.negativeTtl,
    };
    const m = context.metrics;
    this.mQueries = m.counter('dns_queries_total', 'DNS answers sent, by RCODE and transport', ['rcode', 'transport']);
    this.mRateLimited = m.counter('dns_rate_limited_total', 'DNS queries over the per-source rate limit', ['transport']);
    this.mDropped = m.counter('dns_dropped_total', 'DNS messages dropped unanswered (short, response)', ['reason']);
    this.mForwarded = m.counter('dns_forwarded_total', 'DNS queries forwarded upstream, by result', ['result']);
    this.mNodes = m.gauge('dns_zone_nodes', 'Nodes in the served zone');
  }

  capabilities(): DnsCapabilities {
    return { ...DNS_MAGIC_CAPABILITIES };
  }

  /** The endpoints actually bound (ports resolved when `listen` asked for port 0). */
  listening(): Endpoint[] {
    return this.listeners.map((l) => ({ ...l.endpoint }));
  }

  /** A copy of this instance's counters. */
  stats(): DnsMagicStats {
    return structuredClone(this.counters);
  }

  /** The zone apex and SOA serial currently served. */
  zoneInfo(): { zone: string; serial: number; nodes: number } {
    return { zone: this.snapshot.zone.zone, serial: this.snapshot.serial, nodes: this.snapshot.zone.nodeCount };
  }

  /**
   * Binds UDP and TCP on every endpoint (port 0: one free port shared by UDP and TCP). An
   * endpoint whose `port` is absent uses the `port` option (default 53).
   * @throws RustynetError `ALREADY_RUNNING`; `INVALID_INPUT` (field `listen`, `listen[i].host`,
   *   `listen[i].port`); `ABORTED`; `DNS_FAILED` when a socket cannot be bound (port in use,
   *   address not on this host, no permission; `details.errno`). On error nothing stays bound.
   */
  async start(config: DnsStartConfig, options?: CallOptions): Promise<void> {
    if (this.state !== 'stopped') throw new RustynetError('ALREADY_RUNNING', 'the DNS server is already running');
    const endpoints = this.validateListen(config);
    if (options?.signal?.aborted) throw new RustynetError('ABORTED', 'start aborted');
    this.state = 'starting';
    const run = (async () => {
      const bound: Listener[] = [];
      try {
        for (const ep of endpoints) {
          if (options?.signal?.aborted) throw new RustynetError('ABORTED', 'start aborted');
          bound.push(await this.bind(ep));
        }
      } catch (err) {
        await Promise.all(bound.map((l) => closeListener(l)));
        this.state = 'stopped';
        throw err;
      }
      this.listeners = bound;
      const rl = this.options.rateLimit;
      this.limiter = rl ? new TokenBucketLimiter(rl.qps, rl.burst, rl.maxSources) : null;
      this.state = 'running';
      this.context.logger.info({ listen: this.listening(), zone: this.snapshot.zone.zone }, 'magic DNS serving');
    })();
    this.transition = run.catch(() => undefined);
    await run;
  }

  /** Closes every socket and drops in-flight forwards. Idempotent; never throws `NOT_RUNNING`. */
  async stop(_options?: CallOptions): Promise<void> {
    await this.transition;
    if (this.state === 'stopped') return;
    if (this.state === 'stopping') {
      await this.transition;
      return;
    }
    this.state = 'stopping';
    const run = (async () => {
      for (const finish of [...this.pendingForwards]) finish();
      for (const s of this.tcpSockets) s.destroy();
      this.tcpSockets.clear();
      await Promise.all(this.listeners.map((l) => closeListener(l)));
      this.listeners = [];
      this.limiter = null;
      this.state = 'stopped';
      this.context.logger.info({}, 'magic DNS stopped');
    })();
    this.transition = run.catch(() => undefined);
    await run;
  }

  /**
   * Validates `zone` completely, then replaces the served data in one assignment (no restart,
   * no window where a query sees half of it). The SOA serial increases.
   * @throws RustynetError `NOT_RUNNING`; `INVALID_INPUT` naming the field (`zone`,
   *   `nodes[i].id`, `nodes[i].name`, `nodes[i].addresses[j]`), with nothing changed.
   */
  async update(zone: DnsZoneData, options?: CallOptions): Promise<void> {
    if (this.state !== 'running') throw new RustynetError('NOT_RUNNING', 'the DNS server is not running');
    const compiled = compileZone(zone);
    if (options?.signal?.aborted) throw new RustynetError('ABORTED', 'update aborted');
    this.snapshot = {
      zone: compiled,
      serial: nextSerial(this.snapshot.serial, this.context.clock.now()),
      ttl: this.options.ttl,
      negativeTtl: this.options.negativeTtl,
    };
    this.mNodes.set(compiled.nodeCount);
    for (const c of compiled.conflicts) {
      this.context.logger.warn(c, `DNS name "${c.name}" is claimed by several nodes; it resolves to ${c.winner}`);
    }
    this.context.logger.debug({ zone: compiled.zone, nodes: compiled.nodeCount, serial: this.snapshot.serial }, 'zone updated');
  }

  private validateListen(config: DnsStartConfig): Endpoint[] {
    if (typeof config !== 'object' || config === null || !Array.isArray(config.listen) || config.listen.length === 0) {
      throw invalidInput('listen', 'must be a non-empty array of {host, port}');
    }
    const seen = new Set<string>();
    return config.listen.map((e: unknown, i) => {
      if (typeof e !== 'object' || e === null) throw invalidInput(`listen[${i}]`, 'must be an object {host, port}');
      const ep = e as Partial<Endpoint>;
      if (typeof ep.host !== 'string' || isIP(ep.host) === 0 || ep.host.includes('%')) {
        throw invalidInput(`listen[${i}].host`, 'must be an IPv4 or IPv6 literal');
      }
      const port = ep.port === undefined ? this.options.port : ep.port;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
        throw invalidInput(`listen[${i}].port`, 'must be an integer in 0..65535');
      }
      const key = `${ep.host}|${port}`;
      if (port !== 0 && seen.has(key)) throw invalidInput(`listen[${i}]`, 'duplicate endpoint');
      seen.add(key);
      return { host: ep.host, port };
    });
  }

  private async bind(ep: Endpoint): Promise<Listener> {
    const v6 = isIPv6(ep.host);
    const attempts = ep.port === 0 ? 20 : 1;
    let lastErr: unknown;
    for (let i = 0; i < attempts; i++) {
      const udp = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: ep.host, port: ep.port, exclusive: true }, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        safeClose(udp);
        throw bindError(ep, 'udp', err);
      }
      const port = (udp.address() as AddressInfo).port;
      const tcp = net.createServer((sock) => this.onTcpConnection(sock));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ host: ep.host, port, ipv6Only: v6, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        safeClose(udp);
        tcp.close();
        lastErr = err;
        if (ep.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw bindError({ host: ep.host, port }, 'tcp', err);
      }
      const endpoint = { host: ep.host, port };
      udp.on('message', (msg, rinfo) => this.onUdpMessage(udp, msg, rinfo));
      udp.on('error', (err) => this.context.logger.warn({ err: String(err), endpoint }, 'DNS UDP socket error'));
      tcp.on('error', (err) => this.context.logger.warn({ err: String(err), endpoint }, 'DNS TCP server error'));
      return { endpoint, udp, tcp };
    }
    throw bindError(ep, 'tcp', lastErr);
  }

  private onUdpMessage(udp: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.state !== 'running' || rinfo.port === 0) return;
    this.handle(msg, rinfo.address, 'udp', (bytes) => {
      try {
        udp.send(bytes, rinfo.port, rinfo.address, () => undefined);
      } catch {
        // socket closed by stop() meanwhile
      }
    });
  }

  private onTcpConnection(sock: net.Socket): void {
    if (this.state !== 'running' || this.tcpSockets.size >= this.options.maxTcpConnections) {
      sock.destroy();
      return;
    }
    this.tcpSockets.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.options.tcpIdleTimeoutMs, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('close', () => this.tcpSockets.delete(sock));
    const source = sock.remoteAddress ?? 'unknown';
    const send: Send = (bytes) => {
      if (sock.destroyed || !sock.writable) return;
      if (sock.writableLength > TCP_MAX_BUFFERED) {
        sock.destroy();
        return;
      }
      const len = Buffer.alloc(2);
      len.writeUInt16BE(bytes.length, 0);
      sock.write(Buffer.concat([len, bytes]));
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
        if (this.state !== 'running') return;
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
      const out = respond(msg, this.snapshot, transport, this.options.forwarder !== null);
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
    const fwd = this.options.forwarder!;
    const fail = (result: 'timeout' | 'failed'): void => {
      this.counters.forwarded[result]++;
      this.mForwarded.inc({ result });
      if (this.state !== 'running') return;
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
      if (this.state !== 'running') return;
      reply.writeUInt16BE(q.id, 0);
      this.countAnswer(RCODE_NAMES[reply[3]! & 0xf] ?? `RCODE_${reply[3]! & 0xf}`, transport);
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
      if (m.length < 12 + q.question.length || m.readUInt16BE(0) !== upstreamId || (m[2]! & 0x80) === 0) return;
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

function safeClose(s: dgram.Socket): void {
  try {
    s.close();
  } catch {
    // already closed
  }
}

function closeListener(l: Listener): Promise<void> {
  safeClose(l.udp);
  return new Promise((resolve) => l.tcp.close(() => resolve()));
}

function bindError(ep: Endpoint, proto: 'udp' | 'tcp', err: unknown): RustynetError {
  if (err instanceof RustynetError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
  const why =
    code === 'EADDRINUSE'
      ? 'port in use'
      : code === 'EADDRNOTAVAIL'
        ? 'address not assigned to this host/namespace'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
          : String((err as Error | undefined)?.message ?? err);
  return new RustynetError('DNS_FAILED', `cannot listen on ${proto} ${net.isIPv6(ep.host) ? `[${ep.host}]` : ep.host}:${ep.port}: ${why}`, {
    details: { errno: code, host: ep.host, port: ep.port, proto },
    cause: err,
  });
}
