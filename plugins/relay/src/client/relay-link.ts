/**
 * The relay client's link to its relays: the relay sockets, registration (HELLO, CHALLENGE,
 * signed REGISTER) with each relay, kernel fast-path allocations (ALLOCATE), and the dispatch of
 * what the relays send (DATA to the paths, answers to waiting exchanges). Which sessions exist and
 * which one is home is relay-monitor.ts's concern.
 */
import type { Socket } from 'node:dgram';
import { isIP } from 'node:net';
import {
  RustynetError,
  type Clock,
  type Counter,
  type Endpoint,
  type Logger,
  type NetmapRelay,
  type NodeId,
  type RelayStartConfig,
} from '@rustynet/plugin-api';
import { abortError } from '@rustynet/plugin-kit';
import { MessageType, PROTOCOL_VERSION, RejectReason, SIGNATURE_SIZE, decodeData, decodeKeepalive, decodeReject } from '../protocol.js';
import type { DropCounters } from './drops.js';
import type { RelayClientOptions } from './options.js';
import { deliverProbe, sendProbe, type ProbeHandler } from './probe-channel.js';
import { TlsFallback } from './tls-fallback.js';
import { registerWithIdentity, registerWithoutIdentity, type Exchange } from './identity-handshake.js';
import { AllocationMessageType, decodeAllocation, encodeAllocation } from '../allocation.js';
import { RelayMonitor, type MonitorGauges, type Session } from './relay-monitor.js';
import { recordFailover, traceRegistration } from './tracing.js';
import { isDefiniteRefusal, refusalError } from './refusals.js';
import { openRelaySocket, sameHost } from './relay-socket.js';

export type { Session } from './relay-monitor.js';

/** A local path of one peer, as the link needs it to deliver DATA. */
export interface PathTarget {
  socket: Socket;
  backend: Endpoint;
  rxPackets: number;
}

interface Waiter {
  socket: Socket;
  relay: Endpoint;
  accept: (msg: Buffer) => unknown;
  resolve: (v: unknown) => void;
}

/** What the link needs from the plugin. */
export interface RelayLinkDeps {
  opts: RelayClientOptions;
  log: Logger;
  clock: Clock;
  drops: DropCounters;
  registrations: Counter;
  refusals: Counter;
  /** Per-relay latency, health and home gauges. */
  gauges: MonitorGauges;
  /** The open paths by peer, for DATA from the relay. */
  paths: ReadonlyMap<NodeId, PathTarget>;
  /** Receives PROBE payloads from the relay (the daemon's probe channel); absent: dropped. */
  onProbe: () => ProbeHandler;
}

/** The link of one plugin instance; {@link begin} and {@link close} bracket each run. */
export class RelayLink {
  /** Every relay's session, health and the home choice (relay-monitor.ts). */
  readonly monitor: RelayMonitor;
  /** Relays whose last registration attempt was definitely refused: relay id -> reason name. */
  readonly refused = new Map<string, string>();
  private config: RelayStartConfig | undefined;
  private readonly sockets = new Map<'udp4' | 'udp6', Socket>();
  private readonly waiters = new Set<Waiter>();
  /** Aborted by {@link close}: ends background re-registration. */
  private life: AbortController | undefined;
  private isServing = false;

  private readonly tls: TlsFallback;

  constructor(private readonly deps: RelayLinkDeps) {
    this.tls = new TlsFallback(deps.log);
    this.monitor = new RelayMonitor({
      opts: deps.opts,
      log: deps.log,
      gauges: deps.gauges,
      register: (relay, signal) => this.registerLoop(signal, 'background', [relay]),
      sendDone: this.sendDone,
      onKeepalive: () => this.onKeepalive?.(),
      onFailover: (from, to, why) => recordFailover(this.config?.nodeId, from, to, why),
    });
  }

  /** The home relay's session, if any. */
  get session(): Session | undefined {
    return this.monitor.home;
  }

  /** True while the plugin runs: background registration only happens then (set after `start`). */
  get serving(): boolean {
    return this.isServing;
  }

  set serving(on: boolean) {
    this.isServing = on;
    if (on) this.monitor.serve();
  }

  /** Starts a run with `config` (already validated). */
  begin(config: RelayStartConfig): void {
    this.config = config;
    this.refused.clear();
    this.monitor.begin(config.relays);
    this.life = new AbortController();
  }

  /**
   * Registers with the first relay that accepts, trying them in order, round after round with
   * exponential back-off on the plugin clock, until one registers or `signal` aborts. A run's
   * first registration uses mode `start` (see {@link registerLoop}).
   */
  register(signal: AbortSignal): Promise<void> {
    return this.registerLoop(signal, 'start');
  }

  /** Ends the run: stops keepalives and re-registration, closes the relay sockets. */
  async close(): Promise<void> {
    this.life?.abort();
    this.life = undefined;
    this.isServing = false;
    this.monitor.close();
    const closing: Promise<void>[] = [this.tls.closeAll()];
    for (const s of this.sockets.values()) closing.push(new Promise((r) => s.close(() => r())));
    this.sockets.clear();
    await Promise.all(closing);
  }

  /** Callback of socket sends: counts failures. */
  readonly sendDone = (err: Error | null): void => {
    if (err) this.deps.drops.drop('send_failed');
  };

  private async relaySocket(family: 'udp4' | 'udp6'): Promise<Socket> {
    const have = this.sockets.get(family);
    if (have) return have;
    const sock = await openRelaySocket(family, this.deps.opts.relaySocketBufferSize, this.deps.log);
    sock.on('message', (msg, rinfo) => this.onRelayMessage(sock, msg, rinfo.address, rinfo.port));
    this.sockets.set(family, sock);
    return sock;
  }

  private onRelayMessage(sock: Socket, msg: Buffer, address: string, port: number): void {
    const { drops } = this.deps;
    let s: Session | undefined;
    for (const x of this.monitor.sessions.values()) {
      if (x.socket === sock && port === x.relay.endpoint.port && sameHost(address, x.relay.endpoint.host)) s = x;
    }
    if (s !== undefined) {
      if (msg.length >= 2 && msg[0] === PROTOCOL_VERSION && msg[1] === MessageType.DATA) {
        const d = decodeData(msg);
        if (d === undefined) return drops.drop('invalid');
        const path = this.deps.paths.get(d.nodeId);
        if (path === undefined) return drops.drop('unknown_peer');
        this.monitor.heard(s, d.nodeId);
        path.rxPackets++;
        path.socket.send(msg.subarray(d.payloadOffset), path.backend.port, path.backend.host, this.sendDone);
        return;
      }
      if (msg.length >= 2 && msg[0] === PROTOCOL_VERSION && msg[1] === MessageType.PROBE) {
        const from = deliverProbe(msg, this.deps);
        if (from !== undefined) this.monitor.heard(s, from);
        return;
      }
      const seq = decodeKeepalive(msg, true);
      if (seq !== undefined) {
        this.monitor.ack(s, seq);
        return;
      }
      if (decodeReject(msg) === RejectReason.NOT_REGISTERED) {
        this.deps.log.info({ relay: s.relay.id }, 'relay forgot our session; registering again');
        this.monitor.lost(s, 'the relay answered NOT_REGISTERED');
        return;
      }
    }
    for (const w of this.waiters) {
      if (w.socket !== sock || w.relay.port !== port || !sameHost(address, w.relay.host)) continue;
      const v = w.accept(msg);
      if (v !== undefined) {
        this.waiters.delete(w);
        w.resolve(v);
        return;
      }
    }
    // A late ALLOCATED (refresh answer, or after a timed-out request) is expected, not junk.
    if (msg.length >= 2 && msg[0] === PROTOCOL_VERSION && msg[1] === AllocationMessageType.ALLOCATED) return;
    drops.drop('invalid');
  }

  /** Called once per keepalive interval of the home session (the fast path refreshes its allocations). */
  onKeepalive: (() => void) | undefined;

  /**
   * Asks the home relay for an allocation port for `peer` (kernel fast path, docs/relay.md).
   * @returns the relay's endpoint with the allocation port, or undefined (no session, the relay
   *   answered 0, or no answer within `attemptTimeoutMs`: the relay has no fast path).
   */
  async allocate(peer: NodeId, backendPort: number, signal: AbortSignal, preferred?: number): Promise<Endpoint | undefined> {
    const s = this.session;
    if (s === undefined) return undefined;
    const msg = encodeAllocation(AllocationMessageType.ALLOCATE, backendPort, peer, preferred);
    try {
      const port = await this.exchange(
        s.socket,
        s.relay.endpoint,
        msg,
        (m) => {
          const a = decodeAllocation(m, AllocationMessageType.ALLOCATED);
          return a !== undefined && a.peer === peer ? a.port : undefined;
        },
        signal,
      );
      return port > 0 && this.session === s ? { host: s.relay.endpoint.host, port } : undefined;
    } catch (err) {
      if (signal.aborted) throw err;
      return undefined;
    }
  }

  /**
   * Re-sends ALLOCATE without waiting (keeps the relay's allocation and its kernel pair alive;
   * after a relay restart, `preferred` asks for the same port again, so the backend's endpoint stays valid).
   */
  refreshAllocation(peer: NodeId, backendPort: number, preferred?: number): void {
    const s = this.session;
    if (s !== undefined)
      s.socket.send(
        encodeAllocation(AllocationMessageType.ALLOCATE, backendPort, peer, preferred),
        s.relay.endpoint.port,
        s.relay.endpoint.host,
        this.sendDone,
      );
  }

  /** Sends a PROBE to `peer` through its session ({@link RelayMonitor.route}); false without one (nothing queued). */
  sendProbe(peer: NodeId, payload: Uint8Array): boolean {
    const s = this.monitor.route(peer);
    return s !== undefined && sendProbe(s, peer, payload, this.sendDone);
  }

  /** Sends `msg` and waits for a datagram from `relay` that `accept` maps to a value. */
  private exchange<T>(sock: Socket, relay: Endpoint, msg: Buffer, accept: (m: Buffer) => T | undefined, signal: AbortSignal): Promise<T> {
    const timeoutMs = this.deps.opts.attemptTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = { socket: sock, relay, accept, resolve: (v) => finish(() => resolve(v as T)) };
      const timer = setTimeout(
        () => finish(() => reject(new RustynetError('TIMEOUT', `no answer from relay ${relay.host}:${relay.port} in ${timeoutMs} ms`))),
        timeoutMs,
      );
      const onAbort = (): void => finish(() => reject(abortError(signal.reason, 'the relay call')));
      const finish = (f: () => void): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(w);
        f();
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(w);
      sock.send(msg, relay.port, relay.host, (err) => {
        if (err) finish(() => reject(new RustynetError('RELAY_FAILED', `cannot send to relay: ${err.message}`, { cause: err })));
      });
    });
  }

  private requireConfig(): RelayStartConfig {
    if (!this.config) throw new RustynetError('INTERNAL', 'relay link used before begin()');
    return this.config;
  }

  private async registerOnce(relay: NetmapRelay, signal: AbortSignal): Promise<Session> {
    const cfg = this.requireConfig();
    const opts = this.deps.opts;
    const sock = await this.relaySocket(isIP(relay.endpoint.host) === 6 ? 'udp6' : 'udp4');
    const exchange: Exchange = (msg, accept) => this.exchange(sock, relay.endpoint, msg, accept, signal);
    const sign = async (data: Uint8Array): Promise<Uint8Array> => {
      const sig = await cfg.sign(data);
      if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_SIZE) {
        throw new RustynetError('RELAY_FAILED', `sign() must return a ${SIGNATURE_SIZE}-byte Ed25519 signature`);
      }
      if (signal.aborted) throw abortError(signal.reason, 'the relay call');
      return sig;
    };
    // A relay with an identity key in the netmap must prove it (identity-handshake.ts).
    const answer =
      relay.identityKey !== undefined
        ? (await registerWithIdentity(relay, cfg.nodeId, sign, exchange)).answer
        : await registerWithoutIdentity(relay, cfg.nodeId, sign, exchange);
    if (!answer.ok) throw refusalError(relay.id, cfg.nodeId, answer.reason);
    const keepaliveMs = Math.max(100, Math.min(opts.keepaliveIntervalMs, answer.keepaliveMs || opts.keepaliveIntervalMs));
    return { relay, socket: sock, keepaliveMs, lastHeard: Date.now() };
  }

  /**
   * Tries the relays in order, round after round with exponential back-off, until one registers or
   * `signal` aborts. The back-off sleeps on the plugin clock (so tests can read it) with jitter,
   * and is pinned to its largest value after a definite refusal in the background: rules plugin-kit's
   * `retry` does not model, hence this loop.
   *
   * A definite refusal ({@link DEFINITE_REFUSALS}) is handled by `mode`:
   * - `start`: that relay is not tried again in this call; once every relay has refused, the
   *   refusal is thrown at once (RELAY_FAILED, `details.reason`) instead of waiting for the deadline.
   * - `background` (re-registration while running): logged at error level when it starts or its
   *   reason changes, counted in `relay_client_refusals_total`, and the relays are tried again at the
   *   largest back-off (`maxBackoffMs`), since a new netmap at the relay may accept the node again.
   */
  private async registerLoop(signal: AbortSignal, mode: 'start' | 'background', only?: NetmapRelay[]): Promise<void> {
    const { opts, log } = this.deps;
    let backoff = opts.initialBackoffMs;
    let lastErr: unknown;
    const relays = only ?? this.requireConfig().relays;
    const refusedNow = new Map<string, RustynetError>();
    for (;;) {
      let refusedThisRound = false;
      // UDP to every relay first; only when all failed, the relays' TLS carriers (tls-fallback.ts).
      const attempts = [
        ...relays.map((r) => ({ relay: r, tls: false })),
        ...TlsFallback.candidates(relays).map((r) => ({ relay: r, tls: true })),
      ];
      for (const { relay, tls } of attempts) {
        if (signal.aborted) throw lastErr instanceof Error ? lastErr : abortError(signal.reason, 'the relay call');
        if (mode === 'start' && refusedNow.has(relay.id)) continue;
        try {
          const s = await traceRegistration(this.requireConfig().nodeId, relay, tls ? 'tls' : 'udp', mode, async () => {
            const via = tls ? await this.tls.route(relay) : relay;
            return this.registerOnce(via, signal).catch((e: unknown) => {
              throw (tls && this.tls.refusal(relay, this.requireConfig().nodeId)) || e;
            });
          });
          this.refused.delete(relay.id);
          this.deps.registrations.inc({ relay: relay.id });
          log.info(
            { relay: relay.id, endpoint: relay.endpoint, carrier: tls ? 'tls' : 'udp', keepaliveMs: s.keepaliveMs },
            'registered with relay',
          );
          this.monitor.adopt({ ...s, relay: { ...relay, endpoint: s.relay.endpoint } });
          return;
        } catch (err) {
          if (signal.aborted) throw lastErr instanceof Error ? lastErr : err;
          lastErr = err;
          if (isDefiniteRefusal(err)) {
            const reason = String((err.details as { reason?: unknown }).reason);
            refusedThisRound = true;
            refusedNow.set(relay.id, err);
            this.deps.refusals.inc({ relay: relay.id, reason });
            const changed = this.refused.get(relay.id) !== reason;
            this.refused.set(relay.id, reason);
            if (mode === 'background' && changed) {
              log.error(
                { relay: relay.id, reason, err: err.message },
                'relay refused registration; not forwarding through it, retrying at the largest back-off',
              );
            } else {
              log.debug({ relay: relay.id, reason, err: err.message }, 'relay refused registration');
            }
          } else {
            log.debug({ relay: relay.id, err: (err as Error).message }, 'relay registration attempt failed');
          }
        }
      }
      const all = [...refusedNow.values()];
      const [first] = all;
      if (mode === 'start' && first && all.length === relays.length) {
        if (all.length === 1) throw first;
        throw new RustynetError('RELAY_FAILED', `every relay refused registration: ${all.map((e) => e.message).join('; ')}`, {
          details: { ...first.details, refusals: all.map((e) => e.details) },
          cause: first,
        });
      }
      if (mode === 'background' && refusedThisRound) backoff = opts.maxBackoffMs;
      const jitter = 0.5 + Math.random() / 2;
      try {
        await this.deps.clock.sleep(Math.round(backoff * jitter), signal);
      } catch {
        throw lastErr instanceof Error ? lastErr : abortError(signal.reason, 'the relay call');
      }
      backoff = Math.min(backoff * 2, opts.maxBackoffMs);
    }
  }
}
