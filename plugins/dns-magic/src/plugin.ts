/**
 * The Magic DNS plugin's lifecycle and zone updates. Sockets are in listener.ts, answering in
 * query-server.ts; state checks, call serialisation and abort mapping come from plugin-kit's
 * {@link PluginLifecycle}.
 */
import { isIP } from 'node:net';
import {
  invalidInput,
  type CallOptions,
  type DnsCapabilities,
  type DnsPlugin,
  type DnsStartConfig,
  type DnsZoneData,
  type Endpoint,
  type Gauge,
  type PluginContext,
} from '@rustynet/plugin-api';
import { PluginLifecycle, type CallScope } from '@rustynet/plugin-kit';
import { bindListener, closeListener, type Listener } from './listener.js';
import type { DnsMagicOptions } from './options.js';
import { QueryServer, type DnsMagicStats } from './query-server.js';
import { TokenBucketLimiter } from './rate-limit.js';
import type { ZoneSnapshot } from './responder.js';
import { compileZone, emptyZone } from './zone.js';

export type { DnsMagicStats } from './query-server.js';

/** Capabilities of this plugin; equal to the manifest's. */
export const DNS_MAGIC_CAPABILITIES: DnsCapabilities = Object.freeze({ aaaa: true, forwarder: true, rateLimit: true });

/** What a started server holds. */
interface Running {
  listeners: Listener[];
}

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
export class DnsMagicPlugin extends PluginLifecycle<Running, DnsStartConfig> implements DnsPlugin {
  readonly kind = 'dns' as const;

  private snapshot: ZoneSnapshot;
  private readonly server: QueryServer;
  private readonly mNodes: Gauge;

  constructor(
    private readonly context: PluginContext,
    private readonly options: DnsMagicOptions,
  ) {
    super({ clock: context.clock, label: 'the DNS server' });
    this.snapshot = {
      zone: emptyZone(options.zone),
      serial: nextSerial(undefined, context.clock.now()),
      ttl: options.ttl,
      negativeTtl: options.negativeTtl,
    };
    this.server = new QueryServer(context, options, () => this.snapshot);
    this.mNodes = context.metrics.gauge('dns_zone_nodes', 'Nodes in the served zone');
  }

  capabilities(): DnsCapabilities {
    return { ...DNS_MAGIC_CAPABILITIES };
  }

  /** The endpoints actually bound (ports resolved when `listen` asked for port 0). */
  listening(): Endpoint[] {
    return (this.runningState?.listeners ?? []).map((l) => ({ ...l.endpoint }));
  }

  /** A copy of this instance's counters. */
  stats(): DnsMagicStats {
    return structuredClone(this.server.counters);
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
  start(config: DnsStartConfig, options?: CallOptions): Promise<void> {
    return this.runStart(config, options);
  }

  protected override async _start(config: DnsStartConfig, scope: CallScope): Promise<Running> {
    const endpoints = this.validateListen(config);
    const bound: Listener[] = [];
    try {
      for (const ep of endpoints) {
        scope.check();
        bound.push(await bindListener(ep, this.server, this.context.logger));
      }
    } catch (err) {
      await Promise.all(bound.map((l) => closeListener(l)));
      throw err;
    }
    const rl = this.options.rateLimit;
    this.server.limiter = rl ? new TokenBucketLimiter(rl.qps, rl.burst, rl.maxSources) : null;
    this.server.active = true;
    const running: Running = { listeners: bound };
    this.context.logger.info({ listen: bound.map((l) => ({ ...l.endpoint })), zone: this.snapshot.zone.zone }, 'magic DNS serving');
    return running;
  }

  /** Closes every socket and drops in-flight forwards. Idempotent; never throws `NOT_RUNNING`. */
  protected override async _stop(st: Running): Promise<void> {
    this.server.deactivate();
    await Promise.all(st.listeners.map((l) => closeListener(l)));
    st.listeners = [];
    this.context.logger.info({}, 'magic DNS stopped');
  }

  /**
   * Validates `zone` completely, then replaces the served data in one assignment (no restart,
   * no window where a query sees half of it). The SOA serial increases.
   * @throws RustynetError `NOT_RUNNING`; `INVALID_INPUT` naming the field (`zone`,
   *   `nodes[i].id`, `nodes[i].name`, `nodes[i].addresses[j]`), with nothing changed; `ABORTED`.
   */
  update(zone: DnsZoneData, options?: CallOptions): Promise<void> {
    // Not async: whileRunning runs this inside its own async function, so a throw still rejects.
    return this.whileRunning(options, () => {
      const compiled = compileZone(zone);
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
      return Promise.resolve();
    });
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
}
