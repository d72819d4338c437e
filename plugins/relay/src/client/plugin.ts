/**
 * The relay client plugin (kind `relay`). It registers this node with a relay server and gives
 * the local backend one loopback UDP endpoint per relayed peer: whatever the backend sends to
 * that endpoint goes to the peer through the relay, and whatever the peer sends comes out of the
 * same endpoint towards the backend. The backend only ever sees an ordinary UDP peer at
 * `127.0.0.1:<port>`, so any backend speaking UDP (WireGuard, OpenVPN) works unchanged; this is
 * the local-proxy design of NetBird's wgproxy and of Tailscale's magicsock/DERP.
 *
 * Files: options.ts (options), relay-link.ts (registration and session), paths.ts (the per-peer
 * loopback endpoints), drops.ts (drop counters), tracing.ts (OpenTelemetry spans). State checks and abort mapping come from
 * plugin-kit's {@link PluginLifecycle}; `stop` cuts a start that is still trying short.
 */
import { isIP } from 'node:net';
import {
  RustynetError,
  invalidInput,
  isRustynetError,
  type CallOptions,
  type Endpoint,
  type Logger,
  type NodeId,
  type PluginContext,
  type RelayCapabilities,
  type RelayHealthStatus,
  type RelayPathStatus,
  type RelayPlugin,
  type RelayStartConfig,
} from '@rustynet/plugin-api';
import { PluginLifecycle, abortError, type CallScope } from '@rustynet/plugin-kit';
import { MAX_DATA_PAYLOAD, isNodeId } from '../protocol.js';
import { parseRelayIdentityKey } from '../identity.js';
import { DropCounters, type ClientDropReason } from './drops.js';
import { resolveOptions, type RelayClientOptions } from './options.js';
import { MIN_PREFERRED_PORT } from '../allocation.js';
import { bindPath, checkEndpoint, closePathSocket, type Path } from './paths.js';
import type { ProbeHandler } from './probe-channel.js';
import { RelayLink } from './relay-link.js';
import { traceSessionSetup } from './tracing.js';
import type { RelayHealth } from './relay-selection.js';

export { DEFAULT_CLIENT_OPTIONS, relayClientConfigSchema, type RelayClientOptions } from './options.js';
export { CLIENT_DROP_REASONS, type ClientDropReason } from './drops.js';
export { DEFINITE_REFUSALS } from './refusals.js';

/** What a started client holds. */
interface Running {
  config: RelayStartConfig;
  flushTimer: NodeJS.Timeout;
}

/** The relay client. Create it with `createPlugin(context)`. */
export class RelayClient extends PluginLifecycle<Running, RelayStartConfig> implements RelayPlugin {
  readonly kind = 'relay' as const;
  private readonly opts: RelayClientOptions;
  private readonly log: Logger;
  private readonly paths = new Map<NodeId, Path>();
  private readonly pending = new Map<NodeId, Promise<Endpoint>>();
  /** Fast-path peers: the relay allocation endpoint the backend sends to, and the backend port it was asked for. */
  private readonly fast = new Map<NodeId, { endpoint: Endpoint; backendPort: number }>();
  private readonly drops: DropCounters;
  private readonly link: RelayLink;
  private probeHandler: ProbeHandler;

  constructor(context: PluginContext) {
    super({ clock: context.clock, label: 'relay client', stopAbortsStart: true });
    this.opts = resolveOptions(context.options);
    this.log = context.logger.child({ plugin: context.pluginName });
    this.drops = new DropCounters(
      context.metrics.counter('relay_client_drops_total', 'Datagrams the relay client dropped, by reason', ['reason']),
    );
    this.link = new RelayLink({
      opts: this.opts,
      log: this.log,
      clock: context.clock,
      drops: this.drops,
      registrations: context.metrics.counter('relay_client_registrations_total', 'Registrations with a relay server', ['relay']),
      refusals: context.metrics.counter(
        'relay_client_refusals_total',
        'Registrations a relay definitely refused (BAD_SIGNATURE, UNKNOWN_NODE) or relays that failed their identity check (RELAY_IDENTITY)',
        ['relay', 'reason'],
      ),
      gauges: {
        rtt: context.metrics.gauge('relay_client_rtt_seconds', 'Smoothed round-trip time to each relay (probe rounds)', [
          'relay',
          'region',
        ]),
        healthy: context.metrics.gauge('relay_client_relay_healthy', '1 when the relay answers its probes, else 0', ['relay', 'region']),
        home: context.metrics.gauge('relay_client_home_relay', '1 for the relay this node uses as home, else 0', ['relay', 'region']),
      },
      paths: this.paths,
      onProbe: () => this.probeHandler,
    });
    this.link.onKeepalive = () => {
      for (const [peer, f] of this.fast) {
        this.link.refreshAllocation(peer, f.backendPort, f.endpoint.port >= MIN_PREFERRED_PORT ? f.endpoint.port : undefined);
      }
    };
  }

  capabilities(): RelayCapabilities {
    return { ipv6: true, maxDatagram: MAX_DATA_PAYLOAD };
  }

  /**
   * Current (home) relay id, client drop counters, the relays whose last registration attempt was
   * definitely refused (relay id -> reason name) and every relay's health and latency (diagnostics;
   * `relays()` is the contract's view of the last).
   */
  info(): { relay: string | null; drops: Record<ClientDropReason, number>; refused: Record<string, string>; relays: RelayHealth[] } {
    return {
      relay: this.link.session?.relay.id ?? null,
      drops: { ...this.drops.counts },
      refused: Object.fromEntries(this.link.refused),
      relays: this.link.monitor.health(),
    };
  }

  /** Every relay of the running config with its health, smoothed RTT and whether it is home (netmap order). */
  relays(): RelayHealthStatus[] {
    if (!this.isRunning) return [];
    return this.link.monitor.health().map((h) => ({
      id: h.id,
      ...(h.region !== undefined && { region: h.region }),
      registered: h.registered,
      healthy: h.healthy,
      rttMs: h.rttMs === undefined ? null : Math.round(h.rttMs * 1000) / 1000,
      home: h.home,
    }));
  }

  /**
   * Registers with the first relay that accepts (see `RelayLink.register`).
   * @throws RustynetError `ALREADY_RUNNING`, `INVALID_INPUT`, `ABORTED` (the caller's signal, or
   *   `stop` meanwhile), `TIMEOUT`, `RELAY_FAILED` (every relay refused, or none answered before
   *   the deadline).
   */
  start(config: RelayStartConfig, options?: CallOptions): Promise<void> {
    return this.runStart(config, options);
  }

  protected override async _start(config: RelayStartConfig, scope: CallScope): Promise<Running> {
    validateStartConfig(config);
    const cfg: RelayStartConfig = {
      nodeId: config.nodeId,
      relays: config.relays.map((r) => ({
        id: r.id,
        endpoint: { ...r.endpoint },
        ...(r.identityKey !== undefined && { identityKey: r.identityKey }),
        ...(r.tlsPort !== undefined && { tlsPort: r.tlsPort }),
        ...(r.region !== undefined && { region: r.region }),
      })),
      sign: config.sign.bind(config),
    };
    this.link.begin(cfg);
    // The message names the caller's whole budget, not what was left after validation.
    const timeoutMs = scope.timeoutMs;
    const signal = scope.toSignal();
    try {
      await this.link.register(signal);
    } catch (err) {
      await this.teardown();
      if (this.stopPending) throw new RustynetError('ABORTED', 'relay client stopped while starting', { cause: err });
      if (signal.aborted && !isRustynetError(err, 'RELAY_FAILED')) {
        if (scope.signal?.aborted) throw abortError(scope.signal.reason, 'the relay call');
        throw new RustynetError('RELAY_FAILED', `no relay reachable within ${timeoutMs} ms: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
    if (this.stopPending) {
      await this.teardown();
      throw new RustynetError('ABORTED', 'relay client stopped while starting');
    }
    this.link.serving = true;
    return { config: cfg, flushTimer: setInterval(() => this.drops.flush(), 1000).unref() };
  }

  protected override async _stop(st: Running): Promise<void> {
    clearInterval(st.flushTimer);
    await this.teardown();
  }

  /**
   * A loopback endpoint for the backend that forwards to `peer` through the relay.
   * @throws RustynetError `NOT_RUNNING`, `INVALID_INPUT`, `ABORTED`, `RELAY_FAILED`.
   */
  openPath(request: { peer: NodeId; backendEndpoint: Endpoint }, options?: CallOptions): Promise<Endpoint> {
    return this.unqueued(options, async (st) => {
      if (typeof request !== 'object' || request === null) throw invalidInput('request', 'must be an object');
      if (!isNodeId(request.peer)) throw invalidInput('peer', 'must be a node id (DNS label)');
      if (request.peer === st.config.nodeId) throw invalidInput('peer', 'cannot open a relay path to this node itself');
      const backend = checkEndpoint(request.backendEndpoint, 'backendEndpoint');
      // A backend listening on the unspecified address is reached (and answers) on loopback.
      if (backend.host === '0.0.0.0') backend.host = '127.0.0.1';
      else if (backend.host === '::') backend.host = '::1';
      if (options?.signal?.aborted) throw abortError(options.signal.reason, 'the relay call');
      if (this.opts.fastPath && isIP(backend.host) === 4) {
        const f = this.fast.get(request.peer);
        if (f && f.backendPort === backend.port) return { ...f.endpoint };
        const ep = await this.link.allocate(request.peer, backend.port, options?.signal ?? new AbortController().signal);
        if (ep) {
          this.fast.set(request.peer, { endpoint: ep, backendPort: backend.port });
          await this.closePath(request.peer, undefined, false);
          this.log.debug({ peer: request.peer, endpoint: ep }, 'relay fast path: allocation');
          return { ...ep };
        }
        this.fast.delete(request.peer);
      }
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
      const setup = (): Promise<Endpoint> => this.openNewPath(request.peer, backend);
      const p = traceSessionSetup(st.config.nodeId, request.peer, this.link.session?.relay.id, setup).finally(() =>
        this.pending.delete(request.peer),
      );
      this.pending.set(request.peer, p);
      return p;
    });
  }

  async closePath(peer: NodeId, _options?: CallOptions, fastToo = true): Promise<void> {
    if (fastToo) this.fast.delete(peer);
    const p = this.paths.get(peer);
    if (!p) return;
    this.paths.delete(peer);
    await closePathSocket(p);
  }

  /**
   * Sends a path probe to `peer`'s daemon through the relay (see `RelayPlugin.sendProbe`).
   * @returns false when not registered, `peer` is not a node id or this node, or `payload` is
   *   empty or over MAX_PROBE_PAYLOAD bytes (nothing sent). Never throws.
   */
  sendProbe(peer: NodeId, payload: Uint8Array): boolean {
    if (!this.isRunning || !isNodeId(peer) || peer === this.runningState?.config.nodeId || !(payload instanceof Uint8Array)) return false;
    return this.link.sendProbe(peer, payload);
  }

  /** Sets (or with `undefined` removes) the receiver of probes from other nodes' daemons. */
  onProbe(handler: ProbeHandler): void {
    this.probeHandler = handler;
  }

  status(_options?: CallOptions): Promise<RelayPathStatus[]> {
    return Promise.resolve(
      [...this.paths.values()]
        .map((p) => ({
          peer: p.peer,
          localEndpoint: { ...p.local },
          relay: this.link.monitor.route(p.peer)?.relay.id ?? '',
          rxPackets: p.rxPackets,
          txPackets: p.txPackets,
        }))
        .concat(
          // Fast-path peers: the backend talks to the relay's allocation port; nothing passes through here.
          [...this.fast].map(([peer, f]) => ({
            peer,
            localEndpoint: { ...f.endpoint },
            relay: this.link.session?.relay.id ?? '',
            rxPackets: 0,
            txPackets: 0,
          })),
        ),
    );
  }

  private async openNewPath(peer: NodeId, backend: Endpoint): Promise<Endpoint> {
    const path = await bindPath(peer, backend, {
      opts: this.opts,
      log: this.log,
      drops: this.drops,
      session: (peer) => this.link.monitor.route(peer),
      alsoHome: (peer, routed) => this.link.monitor.alsoHome(peer, routed),
      sendDone: this.link.sendDone,
    });
    if (!this.isRunning) {
      await closePathSocket(path);
      throw new RustynetError('NOT_RUNNING', 'relay client stopped while opening a path');
    }
    this.paths.set(peer, path);
    this.log.debug({ peer, local: path.local }, 'relay path opened');
    return { ...path.local };
  }

  private async teardown(): Promise<void> {
    this.drops.flush();
    const closing: Promise<void>[] = [this.link.close()];
    for (const p of this.paths.values()) closing.push(closePathSocket(p));
    this.paths.clear();
    this.fast.clear();
    await Promise.all(closing);
  }
}

/**
 * Validates a start config before anything is touched.
 * @throws RustynetError `INVALID_INPUT` naming the field (`nodeId`, `relays[i].id`, `sign`, ...).
 */
function validateStartConfig(config: RelayStartConfig): void {
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
    if (r.region !== undefined && (typeof r.region !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(r.region))) {
      throw invalidInput(`relays[${i}].region`, 'must be 1..64 characters of A-Z a-z 0-9 . _ -');
    }
    checkEndpoint(r.endpoint, `relays[${i}].endpoint`);
    if (r.tlsPort !== undefined && (!Number.isInteger(r.tlsPort) || r.tlsPort < 1 || r.tlsPort > 65535)) {
      throw invalidInput(`relays[${i}].tlsPort`, 'must be an integer 1..65535');
    }
    if (r.identityKey !== undefined) {
      try {
        parseRelayIdentityKey(r.identityKey);
      } catch (err) {
        throw invalidInput(`relays[${i}].identityKey`, (err as Error).message);
      }
    }
  });
  if (typeof config.sign !== 'function') throw invalidInput('sign', 'must be a function');
}

/** Creates the relay client plugin. Touches nothing on the system until `start`. */
export function createRelayClient(context: PluginContext): RelayClient {
  return new RelayClient(context);
}
