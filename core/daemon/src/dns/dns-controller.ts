import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import {
  formatEndpoint,
  type CallOptions,
  type Clock,
  type Counter,
  type DnsPlugin,
  type DnsZoneData,
  type Endpoint,
  type Logger,
} from '@rustynet/plugin-api';
import type { DnsTarget } from '../reconciler/apply.js';
import { jsonEqual } from '../reconciler/diff.js';
import { toRustynetError } from '../util/errors.js';
import { cidrKey, parseCidr } from '../util/ip.js';
import type { DnsStatus } from '../local/status-types.js';

/**
 * Lists the IP addresses (bare, no prefix length) assigned to the interfaces of the network
 * namespace the daemon runs in. Tests pass a fake.
 */
export type LocalAddressLookup = () => readonly string[] | Promise<readonly string[]>;

/** {@link LocalAddressLookup} from `os.networkInterfaces()` (getifaddrs(3)) of this namespace. */
export function systemLocalAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

/** A canonical key of an IP literal, so `fd00::1` and `fd00:0::1` compare equal; `undefined` if not an IP. */
export function ipKey(ip: string): string | undefined {
  const bare = ip.split('%')[0] ?? ip;
  const family = isIP(bare);
  if (family === 0) return undefined;
  const p = parseCidr(`${bare}/${family === 4 ? 32 : 128}`);
  return p ? cidrKey(p) : undefined;
}

/** The loopback address the DNS plugin always listens on. */
export const DNS_LOOPBACK = '127.0.0.1';

export type { DnsStatus } from '../local/status-types.js';

/** Options of {@link DnsController}. */
export interface DnsControllerOptions {
  plugin: Pick<DnsPlugin, 'start' | 'stop' | 'update'>;
  /** Port of every listener (the DNS plugin's `port` option, default 53). */
  port: number;
  /** Addresses assigned in this namespace; default {@link systemLocalAddresses}. */
  lookup?: LocalAddressLookup;
  logger: Logger;
  clock: Pick<Clock, 'now'>;
  /** Counts failures, labels `{operation: start|update}`. */
  failures?: Counter;
  callOptions: () => CallOptions;
}

/**
 * Runs the DNS plugin as the apply's last, best-effort step (the reconciler's `DnsTarget`) and
 * between applies: DNS is not a security boundary, so its failure never rolls back peers,
 * routes or policy and never fails an apply.
 *
 * The plugin listens on `127.0.0.1` plus those of the node's mesh addresses that are assigned in
 * this namespace right now (a backend may put the overlay address only on per-peer devices, so
 * it can be absent until peers exist). {@link sync} compares that set with the running listeners
 * and restarts the plugin (stop, start, update with the current zone) when it changed; it then
 * updates the zone when the zone changed. Failures are logged, counted and kept for status;
 * the next {@link sync} tries again.
 */
export class DnsController implements DnsTarget {
  private readonly lookup: LocalAddressLookup;
  /** Listeners of the running plugin; `undefined` while stopped. */
  private listening: Endpoint[] | undefined;
  /** The zone the running plugin serves; `undefined` when none was sent since its start. */
  private served: DnsZoneData | undefined;
  private wantAddresses: string[] = [];
  private wantZone: DnsZoneData | undefined;
  private ok = true;
  private lastError: DnsStatus['lastError'] = null;
  private failures = 0;

  constructor(private readonly opts: DnsControllerOptions) {
    this.lookup = opts.lookup ?? systemLocalAddresses;
  }

  /**
   * Sets what DNS should serve: the node's mesh addresses (bare IPs or CIDRs, netmap order) and
   * the zone. Takes effect at the next {@link sync}.
   */
  setDesired(meshAddresses: readonly string[], zone: DnsZoneData): void {
    this.wantAddresses = meshAddresses.map((a) => a.split('/')[0] ?? a);
    this.wantZone = zone;
  }

  /** The listeners wanted now: assigned mesh addresses (netmap order, deduplicated), then loopback. */
  async wantedListeners(): Promise<Endpoint[]> {
    const assigned = new Set((await this.lookup()).map(ipKey).filter((k): k is string => k !== undefined));
    const hosts: string[] = [];
    const seen = new Set<string>([ipKey(DNS_LOOPBACK) ?? DNS_LOOPBACK]);
    for (const a of this.wantAddresses) {
      const k = ipKey(a);
      if (k === undefined || seen.has(k) || !assigned.has(k)) continue;
      seen.add(k);
      hosts.push(a);
    }
    return [...hosts, DNS_LOOPBACK].map((host) => ({ host, port: this.opts.port }));
  }

  /**
   * Brings the plugin in line with the desired addresses and zone: restart when the listener set
   * changed (or the plugin is not running), then update when the zone changed. Never throws.
   * @returns true when everything is in place.
   */
  async sync(): Promise<boolean> {
    if (!this.wantZone) return true;
    let listen: Endpoint[];
    try {
      listen = await this.wantedListeners();
    } catch (err) {
      return this.fail('start', err);
    }
    if (!this.listening || !jsonEqual(this.listening, listen)) {
      const from = this.listening;
      if (from) {
        await this.opts.plugin
          .stop(this.opts.callOptions())
          .catch((e: unknown) => this.opts.logger.warn({ err: String(e) }, 'DNS stop before restart failed'));
      }
      this.listening = undefined;
      this.served = undefined;
      try {
        await this.opts.plugin.start({ listen }, this.opts.callOptions());
      } catch (err) {
        // The plugin's contract: nothing stays bound after a failed start. Make sure anyway.
        await this.opts.plugin.stop(this.opts.callOptions()).catch(() => undefined);
        return this.fail('start', err, { listen: listen.map(fmt) });
      }
      this.listening = listen;
      this.opts.logger.info(
        { listen: listen.map(fmt), ...(from && { from: from.map(fmt) }) },
        from ? 'DNS listeners changed; DNS restarted' : 'DNS started',
      );
    }
    if (!this.served || !jsonEqual(this.served, this.wantZone)) {
      const zone = this.wantZone;
      try {
        await this.opts.plugin.update(zone, this.opts.callOptions());
      } catch (err) {
        return this.fail('update', err);
      }
      this.served = zone;
    }
    if (!this.ok) this.opts.logger.info({ listen: this.listening.map(fmt) }, 'DNS recovered');
    this.ok = true;
    return true;
  }

  /** Stops the plugin (errors logged) and forgets what it served. The desired state is cleared. */
  async stop(): Promise<void> {
    const wasRunning = this.listening !== undefined;
    this.listening = undefined;
    this.served = undefined;
    this.wantZone = undefined;
    this.wantAddresses = [];
    this.ok = true;
    if (!wasRunning) {
      // A failed start leaves nothing bound; stop is idempotent anyway.
      await this.opts.plugin.stop(this.opts.callOptions()).catch(() => undefined);
      return;
    }
    await this.opts.plugin
      .stop(this.opts.callOptions())
      .catch((e: unknown) => this.opts.logger.error({ err: toRustynetError(e).message }, 'DNS stop failed'));
  }

  /** State for the daemon's status. */
  status(): DnsStatus {
    return { listen: (this.listening ?? []).map(fmt), ok: this.ok, lastError: this.lastError, failures: this.failures };
  }

  private fail(operation: 'start' | 'update', err: unknown, extra: Record<string, unknown> = {}): false {
    const e = toRustynetError(err, 'DNS_FAILED');
    this.failures += 1;
    this.opts.failures?.inc({ operation });
    const repeated = !this.ok && this.lastError?.code === e.code && this.lastError.message === e.message;
    this.ok = false;
    this.lastError = { code: e.code, message: e.message, at: new Date(this.opts.clock.now()).toISOString() };
    const fields = { operation, code: e.code, err: e.message, ...extra };
    // The same failure every poll tick is logged once at error, then at debug.
    if (repeated) this.opts.logger.debug(fields, 'DNS still failing; retrying on the next cycle');
    else this.opts.logger.error(fields, 'DNS failed; the mesh stays up without it, retrying on the next cycle');
    return false;
  }
}

const fmt = formatEndpoint;
