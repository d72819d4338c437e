/**
 * The relay client plugin (kind `relay`). It registers this node with a relay server and gives
 * the local backend one loopback UDP endpoint per relayed peer: whatever the backend sends to
 * that endpoint goes to the peer through the relay, and whatever the peer sends comes out of the
 * same endpoint towards the backend. The backend only ever sees an ordinary UDP peer at
 * `127.0.0.1:<port>`, so any backend speaking UDP (WireGuard, OpenVPN) works unchanged; this is
 * the local-proxy design of NetBird's wgproxy and of Tailscale's magicsock/DERP.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RustynetError,
  invalidInput,
  isRustynetError,
  type CallOptions,
  type Counter,
  type Endpoint,
  type Logger,
  type NetmapRelay,
  type NodeId,
  type PluginContext,
  type RelayCapabilities,
  type RelayPathStatus,
  type RelayPlugin,
  type RelayStartConfig,
} from '@rustynet/plugin-api';
import {
  MAX_DATA_PAYLOAD,
  MessageType,
  PROTOCOL_VERSION,
  RejectReason,
  SIGNATURE_SIZE,
  decodeChallenge,
  decodeData,
  decodeKeepalive,
  decodeRegistered,
  decodeReject,
  encodeDataHeader,
  encodeHello,
  encodeKeepalive,
  encodeRegister,
  isNodeId,
  registerSignatureInput,
  type Challenge,
  type RejectReasonName,
} from '../protocol.js';

/** Options of the relay client (the plugin's `options` in the daemon config; see `configSchema`). */
export interface RelayClientOptions {
  /** How long to wait for each CHALLENGE / REGISTERED answer (ms). Default 1 000. */
  attemptTimeoutMs: number;
  /** First back-off after every relay failed once (ms); doubles up to `maxBackoffMs`. Default 250. */
  initialBackoffMs: number;
  /** Largest back-off between registration rounds (ms). Default 5 000. */
  maxBackoffMs: number;
  /** Upper bound of the keepalive interval (ms); the server's recommendation wins when smaller. Default 10 000. */
  keepaliveIntervalMs: number;
  /** Keepalive intervals without any answer from the relay before registering again. Default 3. */
  keepaliveMisses: number;
  /** SO_RCVBUF / SO_SNDBUF requests for the relay socket and each path socket (bytes). Default 4 MiB / 1 MiB. */
  relaySocketBufferSize: number;
  pathSocketBufferSize: number;
}

/** Defaults of {@link RelayClientOptions}. */
export const DEFAULT_CLIENT_OPTIONS: Readonly<RelayClientOptions> = Object.freeze({
  attemptTimeoutMs: 1000,
  initialBackoffMs: 250,
  maxBackoffMs: 5000,
  keepaliveIntervalMs: 10_000,
  keepaliveMisses: 3,
  relaySocketBufferSize: 4 * 1024 * 1024,
  pathSocketBufferSize: 1024 * 1024,
});

/** JSON Schema of {@link RelayClientOptions} (also the manifest's `configSchema`). */
export const relayClientConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    attemptTimeoutMs: { type: 'integer', minimum: 10, maximum: 60000 },
    initialBackoffMs: { type: 'integer', minimum: 1, maximum: 60000 },
    maxBackoffMs: { type: 'integer', minimum: 1, maximum: 600000 },
    keepaliveIntervalMs: { type: 'integer', minimum: 100, maximum: 600000 },
    keepaliveMisses: { type: 'integer', minimum: 1, maximum: 100 },
    relaySocketBufferSize: { type: 'integer', minimum: 4096, maximum: 1073741824 },
    pathSocketBufferSize: { type: 'integer', minimum: 4096, maximum: 1073741824 },
  },
} as const;

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

interface Path {
  peer: NodeId;
  socket: Socket;
  local: Endpoint;
  backend: Endpoint;
  /** DATA header naming the peer as destination. */
  header: Buffer;
  rxPackets: number;
  txPackets: number;
}

interface Session {
  relay: NetmapRelay;
  socket: Socket;
  keepaliveMs: number;
  lastHeard: number;
}

interface Waiter {
  socket: Socket;
  relay: Endpoint;
  accept: (msg: Buffer) => unknown;
  resolve: (v: unknown) => void;
}

/**
 * REJECT reasons that are a definite refusal of this node's registration: retrying with the same
 * node id and signing key cannot change the answer (only a new netmap at the relay can), so `start`
 * does not wait for its deadline. Every other failure (no answer, an expired or lost token, `BUSY`,
 * `SESSION_LIMIT`) is transient and retried with back-off. Values explain the reason to an operator.
 */
export const DEFINITE_REFUSALS: Readonly<Partial<Record<RejectReasonName, string>>> = Object.freeze({
  BAD_SIGNATURE: "the node's identity key does not match the netmap",
  UNKNOWN_NODE: "the node is not in the relay's netmap",
});

/** Name of a REJECT reason code (`reason <n>` for codes this version does not know). */
function rejectReasonName(code: number): string {
  return Object.entries(RejectReason).find(([, v]) => v === code)?.[0] ?? `reason ${code}`;
}

/** True when `err` is a definite refusal thrown by a registration attempt (see {@link DEFINITE_REFUSALS}). */
function isDefiniteRefusal(err: unknown): err is RustynetError {
  return isRustynetError(err, 'RELAY_FAILED') && (err.details as { definite?: unknown } | undefined)?.definite === true;
}

function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  const strip = (h: string): string => (h.startsWith('::ffff:') ? h.slice(7) : h);
  return strip(a) === strip(b);
}

function checkEndpoint(e: unknown, field: string): Endpoint {
  if (typeof e !== 'object' || e === null) throw invalidInput(field, 'must be {host, port}');
  const { host, port } = e as Partial<Endpoint>;
  if (typeof host !== 'string' || isIP(host) === 0) throw invalidInput(`${field}.host`, 'must be an IPv4 or IPv6 literal');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw invalidInput(`${field}.port`, 'must be an integer 1..65535');
  return { host, port };
}

function resolveOptions(raw: Readonly<Record<string, unknown>>): RelayClientOptions {
  const o: RelayClientOptions = { ...DEFAULT_CLIENT_OPTIONS };
  for (const [k, v] of Object.entries(raw ?? {})) {
    const spec = (relayClientConfigSchema.properties as Record<string, { minimum: number; maximum: number }>)[k];
    if (spec === undefined) throw new RustynetError('CONFIG_INVALID', `unknown relay option "${k}"`, { field: `options.${k}` });
    if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.minimum || v > spec.maximum) {
      throw new RustynetError('CONFIG_INVALID', `relay option "${k}" must be an integer ${spec.minimum}..${spec.maximum}`, { field: `options.${k}` });
    }
    (o as unknown as Record<string, number>)[k] = v;
  }
  return o;
}

function abortError(signal: AbortSignal): RustynetError {
  const reason: unknown = signal.reason;
  const timeout = reason instanceof Error && reason.name === 'TimeoutError';
  return new RustynetError(timeout ? 'TIMEOUT' : 'ABORTED', timeout ? 'relay call timed out' : 'relay call aborted', { cause: reason });
}

/** The relay client. Create it with `createPlugin(context)`. */
export class RelayClient implements RelayPlugin {
  readonly kind = 'relay' as const;
  private readonly opts: RelayClientOptions;
  private readonly log: Logger;
  private config: RelayStartConfig | undefined;
  private state: 'stopped' | 'starting' | 'running' = 'stopped';
  private session: Session | undefined;
  private readonly sockets = new Map<'udp4' | 'udp6', Socket>();
  private readonly paths = new Map<NodeId, Path>();
  private readonly pending = new Map<NodeId, Promise<Endpoint>>();
  private readonly waiters = new Set<Waiter>();
  private life: AbortController | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private reregistering = false;
  private seq = 0;
  private readonly drops: Record<ClientDropReason, number>;
  private flushedDrops: Record<ClientDropReason, number>;
  private readonly metrics: { registrations: Counter; drops: Counter; refusals: Counter };
  /** Relays whose last registration attempt was definitely refused: relay id -> reason name. */
  private readonly refused = new Map<string, string>();

  constructor(private readonly context: PluginContext) {
    this.opts = resolveOptions(context.options);
    this.log = context.logger.child({ plugin: context.pluginName });
    this.drops = Object.fromEntries(CLIENT_DROP_REASONS.map((r) => [r, 0])) as Record<ClientDropReason, number>;
    this.flushedDrops = { ...this.drops };
    this.metrics = {
      registrations: context.metrics.counter('relay_client_registrations_total', 'Registrations with a relay server', ['relay']),
      drops: context.metrics.counter('relay_client_drops_total', 'Datagrams the relay client dropped, by reason', ['reason']),
      refusals: context.metrics.counter('relay_client_refusals_total', 'Registrations a relay definitely refused (BAD_SIGNATURE, UNKNOWN_NODE)', ['relay', 'reason']),
    };
  }

  capabilities(): RelayCapabilities {
    return { ipv6: true, maxDatagram: MAX_DATA_PAYLOAD };
  }

  /**
   * Current relay id, client drop counters and the relays whose last registration attempt was
   * definitely refused (relay id -> reason name) (diagnostics; not part of the contract).
   */
  info(): { relay: string | null; drops: Record<ClientDropReason, number>; refused: Record<string, string> } {
    return { relay: this.session?.relay.id ?? null, drops: { ...this.drops }, refused: Object.fromEntries(this.refused) };
  }

  async start(config: RelayStartConfig, options: CallOptions = {}): Promise<void> {
    if (this.state !== 'stopped') throw new RustynetError('ALREADY_RUNNING', 'relay client already started');
    // Validate everything before touching anything.
    if (typeof config !== 'object' || config === null) throw invalidInput('config', 'must be an object');
    if (!isNodeId(config.nodeId)) throw invalidInput('nodeId', 'must be a node id (DNS label)');
    if (!Array.isArray(config.relays) || config.relays.length === 0) throw invalidInput('relays', 'must list at least one relay');
    const ids = new Set<string>();
    config.relays.forEach((r, i) => {
      if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(r.id)) {
        throw invalidInput(`relays[${i}].id`, 'must be 1..64 characters of A-Z a-z 0-9 . _ -');
      }
      if (ids.has(r.id)) throw invalidInput(`relays[${i}].id`, `duplicate relay id "${r.id}"`);
      ids.add(r.id);
      checkEndpoint(r.endpoint, `relays[${i}].endpoint`);
    });
    if (typeof config.sign !== 'function') throw invalidInput('sign', 'must be a function');
    if (options.signal?.aborted) throw abortError(options.signal);

    this.state = 'starting';
    this.config = { nodeId: config.nodeId, relays: config.relays.map((r) => ({ id: r.id, endpoint: { ...r.endpoint } })), sign: config.sign };
    this.refused.clear();
    this.life = new AbortController();
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const signals = [this.life.signal, AbortSignal.timeout(timeoutMs)];
    if (options.signal) signals.push(options.signal);
    const signal = AbortSignal.any(signals);
    const life = this.life;
    try {
      await this.registerLoop(signal, 'start');
    } catch (err) {
      const stoppedMeanwhile = life.signal.aborted;
      await this.teardown();
      if (stoppedMeanwhile) throw new RustynetError('ABORTED', 'relay client stopped while starting', { cause: err });
      if (signal.aborted && !isRustynetError(err, 'RELAY_FAILED')) {
        if (options.signal?.aborted) throw abortError(options.signal);
        throw new RustynetError('RELAY_FAILED', `no relay reachable within ${timeoutMs} ms: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
    if (life.signal.aborted) {
      await this.teardown();
      throw new RustynetError('ABORTED', 'relay client stopped while starting');
    }
    this.state = 'running';
    this.flushTimer = setInterval(() => this.flushMetrics(), 1000).unref();
  }

  async stop(_options?: CallOptions): Promise<void> {
    await this.teardown();
  }

  async openPath(request: { peer: NodeId; backendEndpoint: Endpoint }, options: CallOptions = {}): Promise<Endpoint> {
    if (this.state !== 'running') throw new RustynetError('NOT_RUNNING', 'relay client is not running');
    if (typeof request !== 'object' || request === null) throw invalidInput('request', 'must be an object');
    if (!isNodeId(request.peer)) throw invalidInput('peer', 'must be a node id (DNS label)');
    if (request.peer === this.config!.nodeId) throw invalidInput('peer', 'cannot open a relay path to this node itself');
    const backend = checkEndpoint(request.backendEndpoint, 'backendEndpoint');
    // A backend listening on the unspecified address is reached (and answers) on loopback.
    if (backend.host === '0.0.0.0') backend.host = '127.0.0.1';
    else if (backend.host === '::') backend.host = '::1';
    if (options.signal?.aborted) throw abortError(options.signal);
    const existing = this.paths.get(request.peer);
    if (existing) {
      const fam = isIP(backend.host) === 6 ? 6 : 4;
      if (isIP(existing.local.host) === fam) {
        existing.backend = backend;
        return { ...existing.local };
      }
      await this.closePath(request.peer);
    }
    const inflight = this.pending.get(request.peer);
    if (inflight) return inflight;
    const p = this.bindPath(request.peer, backend).finally(() => this.pending.delete(request.peer));
    this.pending.set(request.peer, p);
    return p;
  }

  async closePath(peer: NodeId, _options?: CallOptions): Promise<void> {
    const p = this.paths.get(peer);
    if (!p) return;
    this.paths.delete(peer);
    await new Promise<void>((resolve) => p.socket.close(() => resolve()));
  }

  async status(_options?: CallOptions): Promise<RelayPathStatus[]> {
    const relay = this.session?.relay.id ?? '';
    return [...this.paths.values()].map((p) => ({ peer: p.peer, localEndpoint: { ...p.local }, relay, rxPackets: p.rxPackets, txPackets: p.txPackets }));
  }

  // ---------------------------------------------------------------- internals

  private drop(reason: ClientDropReason): void {
    this.drops[reason]++;
  }

  private flushMetrics(): void {
    for (const r of CLIENT_DROP_REASONS) {
      const d = this.drops[r] - this.flushedDrops[r];
      if (d > 0) this.metrics.drops.inc({ reason: r }, d);
    }
    this.flushedDrops = { ...this.drops };
  }

  private async bindPath(peer: NodeId, backend: Endpoint): Promise<Endpoint> {
    const v6 = isIP(backend.host) === 6;
    const size = this.opts.pathSocketBufferSize;
    const sock = createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: size, sendBufferSize: size });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (err) => {
        sock.close();
        reject(new RustynetError('RELAY_FAILED', `cannot bind a local relay endpoint: ${err.message}`, { cause: err }));
      });
      sock.bind({ address: v6 ? '::1' : '127.0.0.1', port: 0, exclusive: true }, () => resolve());
    });
    if (this.state !== 'running') {
      sock.close();
      throw new RustynetError('NOT_RUNNING', 'relay client stopped while opening a path');
    }
    sock.removeAllListeners('error');
    sock.on('error', (err) => this.log.warn({ peer, err: err.message }, 'relay path socket error'));
    const a = sock.address();
    const path: Path = { peer, socket: sock, local: { host: a.address, port: a.port }, backend, header: encodeDataHeader(peer), rxPackets: 0, txPackets: 0 };
    sock.on('message', (msg, rinfo) => {
      // Only the backend may use this endpoint.
      if (rinfo.port !== path.backend.port || !sameHost(rinfo.address, path.backend.host)) return this.drop('foreign_source');
      const s = this.session;
      if (s === undefined) return this.drop('no_session');
      if (msg.length > MAX_DATA_PAYLOAD) return this.drop('oversize');
      path.txPackets++;
      s.socket.send([path.header, msg], s.relay.endpoint.port, s.relay.endpoint.host, this.sendDone);
    });
    this.paths.set(peer, path);
    this.log.debug({ peer, local: path.local }, 'relay path opened');
    return { ...path.local };
  }

  private readonly sendDone = (err: Error | null): void => {
    if (err) this.drop('send_failed');
  };

  private async relaySocket(family: 'udp4' | 'udp6'): Promise<Socket> {
    const have = this.sockets.get(family);
    if (have) return have;
    const size = this.opts.relaySocketBufferSize;
    const sock = createSocket({ type: family, recvBufferSize: size, sendBufferSize: size });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (err) => {
        sock.close();
        reject(new RustynetError('RELAY_FAILED', `cannot open the relay socket: ${err.message}`, { cause: err }));
      });
      sock.bind({ port: 0 }, () => resolve());
    });
    sock.removeAllListeners('error');
    sock.on('error', (err) => this.log.warn({ err: err.message }, 'relay socket error'));
    sock.on('message', (msg, rinfo) => this.onRelayMessage(sock, msg, rinfo.address, rinfo.port));
    this.sockets.set(family, sock);
    return sock;
  }

  private onRelayMessage(sock: Socket, msg: Buffer, address: string, port: number): void {
    const s = this.session;
    if (s !== undefined && s.socket === sock && port === s.relay.endpoint.port && sameHost(address, s.relay.endpoint.host)) {
      if (msg.length >= 2 && msg[0] === PROTOCOL_VERSION && msg[1] === MessageType.DATA) {
        const d = decodeData(msg);
        if (d === undefined) return this.drop('invalid');
        const path = this.paths.get(d.nodeId);
        if (path === undefined) return this.drop('unknown_peer');
        s.lastHeard = Date.now();
        path.rxPackets++;
        path.socket.send(msg.subarray(d.payloadOffset), path.backend.port, path.backend.host, this.sendDone);
        return;
      }
      if (decodeKeepalive(msg, true) !== undefined) {
        s.lastHeard = Date.now();
        return;
      }
      if (decodeReject(msg) === RejectReason.NOT_REGISTERED) {
        this.log.info({ relay: s.relay.id }, 'relay forgot our session; registering again');
        this.reregister();
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
    this.drop('invalid');
  }

  /** Sends `msg` and waits for a datagram from `relay` that `accept` maps to a value. */
  private exchange<T>(sock: Socket, relay: Endpoint, msg: Buffer, accept: (m: Buffer) => T | undefined, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = { socket: sock, relay, accept, resolve: (v) => finish(() => resolve(v as T)) };
      const timer = setTimeout(() => finish(() => reject(new RustynetError('TIMEOUT', `no answer from relay ${relay.host}:${relay.port} in ${this.opts.attemptTimeoutMs} ms`))), this.opts.attemptTimeoutMs);
      const onAbort = (): void => finish(() => reject(abortError(signal)));
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

  private async registerOnce(relay: NetmapRelay, signal: AbortSignal): Promise<Session> {
    const cfg = this.config!;
    const sock = await this.relaySocket(isIP(relay.endpoint.host) === 6 ? 'udp6' : 'udp4');
    const challenge = await this.exchange<Challenge>(sock, relay.endpoint, encodeHello(), (m) => decodeChallenge(m), signal);
    const sig = await cfg.sign(registerSignatureInput(challenge.body, cfg.nodeId, relay.id));
    if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_SIZE) {
      throw new RustynetError('RELAY_FAILED', `sign() must return a ${SIGNATURE_SIZE}-byte Ed25519 signature`);
    }
    if (signal.aborted) throw abortError(signal);
    const answer = await this.exchange<{ ok: true; keepaliveMs: number } | { ok: false; reason: number }>(
      sock,
      relay.endpoint,
      encodeRegister(challenge.body, cfg.nodeId, sig),
      (m) => {
        const r = decodeRegistered(m);
        if (r) return { ok: true, keepaliveMs: r.keepaliveIntervalMs };
        const j = decodeReject(m);
        return j === undefined || j === RejectReason.NOT_REGISTERED ? undefined : { ok: false, reason: j };
      },
      signal,
    );
    if (!answer.ok) {
      const name = rejectReasonName(answer.reason);
      const why = DEFINITE_REFUSALS[name as RejectReasonName];
      throw new RustynetError('RELAY_FAILED', `relay ${relay.id} refused registration of node ${cfg.nodeId}: ${name}${why ? ` (${why})` : ''}`, {
        details: { relay: relay.id, node: cfg.nodeId, reason: name, definite: why !== undefined },
      });
    }
    const keepaliveMs = Math.max(100, Math.min(this.opts.keepaliveIntervalMs, answer.keepaliveMs || this.opts.keepaliveIntervalMs));
    return { relay, socket: sock, keepaliveMs, lastHeard: Date.now() };
  }

  /**
   * Tries the relays in order, round after round with exponential back-off, until one registers or
   * `signal` aborts.
   *
   * A definite refusal ({@link DEFINITE_REFUSALS}) is handled by `mode`:
   * - `start`: that relay is not tried again in this call; once every relay has refused, the
   *   refusal is thrown at once (RELAY_FAILED, `details.reason`) instead of waiting for the deadline.
   * - `background` (re-registration while running): logged at error level when it starts or its
   *   reason changes, counted in `relay_client_refusals_total`, and the relays are tried again at the
   *   largest back-off (`maxBackoffMs`), since a new netmap at the relay may accept the node again.
   */
  private async registerLoop(signal: AbortSignal, mode: 'start' | 'background'): Promise<void> {
    let backoff = this.opts.initialBackoffMs;
    let lastErr: unknown;
    const relays = this.config!.relays;
    const refusedNow = new Map<string, RustynetError>();
    for (;;) {
      let refusedThisRound = false;
      for (const relay of relays) {
        if (signal.aborted) throw lastErr instanceof Error ? lastErr : abortError(signal);
        if (mode === 'start' && refusedNow.has(relay.id)) continue;
        try {
          const s = await this.registerOnce(relay, signal);
          this.session = s;
          this.refused.clear();
          this.metrics.registrations.inc({ relay: relay.id });
          this.log.info({ relay: relay.id, endpoint: relay.endpoint, keepaliveMs: s.keepaliveMs }, 'registered with relay');
          this.armKeepalive(s);
          return;
        } catch (err) {
          if (signal.aborted) throw lastErr instanceof Error ? lastErr : err;
          lastErr = err;
          if (isDefiniteRefusal(err)) {
            const reason = String((err.details as { reason: string }).reason);
            refusedThisRound = true;
            refusedNow.set(relay.id, err);
            this.metrics.refusals.inc({ relay: relay.id, reason });
            const changed = this.refused.get(relay.id) !== reason;
            this.refused.set(relay.id, reason);
            if (mode === 'background' && changed) {
              this.log.error({ relay: relay.id, reason, err: err.message }, 'relay refused registration; not forwarding through it, retrying at the largest back-off');
            } else {
              this.log.debug({ relay: relay.id, reason, err: err.message }, 'relay refused registration');
            }
          } else {
            this.log.debug({ relay: relay.id, err: (err as Error).message }, 'relay registration attempt failed');
          }
        }
      }
      if (mode === 'start' && refusedNow.size === relays.length) {
        const all = [...refusedNow.values()];
        if (all.length === 1) throw all[0]!;
        const first = all[0]!;
        throw new RustynetError('RELAY_FAILED', `every relay refused registration: ${all.map((e) => e.message).join('; ')}`, {
          details: { ...first.details, refusals: all.map((e) => e.details) },
          cause: first,
        });
      }
      if (mode === 'background' && refusedThisRound) backoff = this.opts.maxBackoffMs;
      const jitter = 0.5 + Math.random() / 2;
      try {
        await this.context.clock.sleep(Math.round(backoff * jitter), signal);
      } catch {
        throw lastErr instanceof Error ? lastErr : abortError(signal);
      }
      backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
    }
  }

  private armKeepalive(s: Session): void {
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = setInterval(() => {
      if (this.session !== s) return;
      if (Date.now() - s.lastHeard > s.keepaliveMs * this.opts.keepaliveMisses) {
        this.log.warn({ relay: s.relay.id }, 'relay stopped answering; registering again');
        this.reregister();
        return;
      }
      this.seq = (this.seq + 1) >>> 0;
      s.socket.send(encodeKeepalive(this.seq), s.relay.endpoint.port, s.relay.endpoint.host, this.sendDone);
    }, s.keepaliveMs).unref();
  }

  /** Drops the session and registers again in the background (no deadline) until it works or stop(). */
  private reregister(): void {
    if (this.reregistering || this.state !== 'running' || !this.life) return;
    this.reregistering = true;
    this.session = undefined;
    clearInterval(this.keepaliveTimer);
    const life = this.life;
    this.registerLoop(life.signal, 'background')
      .catch((err: unknown) => {
        if (!life.signal.aborted) this.log.error({ err: (err as Error).message }, 'relay re-registration stopped');
      })
      .finally(() => {
        this.reregistering = false;
      });
  }

  private async teardown(): Promise<void> {
    this.life?.abort();
    this.life = undefined;
    clearInterval(this.keepaliveTimer);
    clearInterval(this.flushTimer);
    this.keepaliveTimer = undefined;
    this.flushTimer = undefined;
    this.flushMetrics();
    this.session = undefined;
    this.state = 'stopped';
    const closing: Promise<void>[] = [];
    for (const p of this.paths.values()) closing.push(new Promise((r) => p.socket.close(() => r())));
    this.paths.clear();
    for (const s of this.sockets.values()) closing.push(new Promise((r) => s.close(() => r())));
    this.sockets.clear();
    await Promise.all(closing);
  }
}

/** Creates the relay client plugin. Touches nothing on the system until `start`. @throws CONFIG_INVALID. */
export function createRelayClient(context: PluginContext): RelayClient {
  return new RelayClient(context);
}
