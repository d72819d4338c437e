import { join } from 'node:path';
import type { DnsCapabilities, DnsStartConfig, DnsZoneData, Endpoint, PluginManifest } from '@rustynet/plugin-api';
import { TestNetwork, type TestHost } from '../../harness/test-network.js';
import { PluginHost } from '../../host/plugin-host-client.js';
import { lastLines, logWarnings } from '../common/diagnostics.js';
import { closeAll, stopAll, SuiteFixture } from '../common/fixture.js';
import type { SuiteOptions } from '../common/options.js';

/** Options the dns suite is created with. */
export type DnsSuiteOptions = SuiteOptions;

/** Hosts of the dns suite: a serves, b queries, c holds fresh instances. */
export type DnsHostName = 'a' | 'b' | 'c';

/** Port the server on a listens on (UDP and TCP), on a's underlay address and on loopback. */
export const DNS_PORT = 5300;
/** Port of the instances on c (state and teardown tests). */
export const DNS_PORT_C = 5301;
/** Port occupied by another socket in `dns.start.port-in-use`. */
export const DNS_PORT_BUSY = 5302;
/** 60 IPv4 addresses of node `big`: its A answer (about 1 KB) does not fit a 512-byte UDP message. */
export const BIG_ADDRESSES: string[] = Array.from({ length: 60 }, (_, i) => `100.65.0.${i + 1}`);
/** The zone the suite serves. */
export const ZONE = 'rustynet';

/** One resource record as dig prints it. */
export interface DigRecord {
  name: string;
  ttl: number;
  class: string;
  type: string;
  data: string;
}

/** What dig saw; `null` from {@link DnsFixture.dig} means no answer at all (timeout, refused). */
export interface DigResult {
  /** RCODE name: NOERROR, NXDOMAIN, REFUSED, FORMERR, SERVFAIL, ... */
  status: string;
  /** Header flags: qr, aa, tc, rd, ra, ... */
  flags: string[];
  answers: DigRecord[];
  authority: DigRecord[];
  /** dig's output (for failure reports). */
  raw: string;
}

/** Parses `dig` output (the default, commented format). @returns null when no reply was seen. */
export function parseDig(out: string): DigResult | null {
  const header = /->>HEADER<<- opcode: \w+, status: ([A-Z0-9]+), id: \d+/.exec(out);
  if (!header) return null;
  const flags = /;; flags:([a-z ]*);/.exec(out)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
  const section = (name: string): DigRecord[] => {
    const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(out);
    if (!m) return [];
    return m[1]
      .split('\n')
      .filter((l) => l && !l.startsWith(';'))
      .map((l) => {
        const [rname = '', ttl = '0', cls = '', type = '', ...data] = l.trim().split(/\s+/);
        return { name: rname, ttl: Number(ttl), class: cls, type, data: data.join(' ') };
      });
  };
  return { status: header[1], flags, answers: section('ANSWER'), authority: section('AUTHORITY'), raw: out };
}

/** One DNS plugin host and whether its instance runs. */
export interface DnsNode {
  host: TestHost;
  plugin: PluginHost;
  logFile: string;
  running: boolean;
}

/**
 * Shared state of one dns suite run: a test network (hosts a, b, c), the DNS plugin in a plugin
 * host in a's namespace serving {@link ZONE} on a's underlay address and on loopback (port
 * {@link DNS_PORT}), queried with `dig` from b (and from a over loopback). Fresh instances on c
 * serve the state and teardown tests.
 */
export class DnsFixture extends SuiteFixture<DnsSuiteOptions, DnsHostName> {
  net!: TestNetwork;
  manifest!: PluginManifest;
  caps!: DnsCapabilities;
  /** The serving instance on a. */
  server!: DnsNode;

  constructor(opts: DnsSuiteOptions) {
    super(opts, 'dns');
  }

  protected testNetwork(): TestNetwork {
    return this.net;
  }

  /** Builds the network (a, b, c) and the serving plugin host on a (once, see {@link ready}). */
  protected async build(): Promise<void> {
    this.net = await TestNetwork.create({ hosts: ['a', 'b', 'c'] });
    this.makeWorkDir('dns');
    const a = this.net.host('a');
    const dir = join(this.workDir, 'a');
    const plugin = await this.startHost(a, dir, `dns@${a.name}`);
    this.server = { host: a, plugin, logFile: join(dir, 'host.log'), running: false };
    this.manifest = plugin.loaded.manifest;
    this.caps = this.manifest.capabilities as DnsCapabilities;
  }

  /**
   * A new, never-started instance on c whose plugin options are the suite's with `options` (kit
   * options, see common/kit-options.ts) merged over them; closed by {@link dispose}.
   */
  async instanceWith(options: Record<string, unknown>, label: string): Promise<PluginHost> {
    const dir = join(this.workDir, label);
    const h = await PluginHost.start({
      host: this.net.host('c'),
      spec: this.opts.plugin,
      cwd: this.cwd,
      stateDir: join(dir, 'state'),
      logFile: join(dir, 'host.log'),
      expectKind: this.kind,
      label: `dns@c (${label})`,
      options: { ...this.opts.options, ...options },
      tracker: this.net.tracker,
    });
    this.extraHosts.push(h);
    return h;
  }

  /** Where the server on a listens: a's underlay address and loopback, port {@link DNS_PORT}. */
  serverListen(): Endpoint[] {
    return [
      { host: this.server.host.underlayAddress, port: DNS_PORT },
      { host: '127.0.0.1', port: DNS_PORT },
    ];
  }

  /**
   * The suite's zone: a (IPv4 + IPv6), b (IPv4 + IPv6), c (IPv4 only), node `n7` named `web`, and
   * node `big` with {@link BIG_ADDRESSES} (an answer larger than 512 bytes).
   * IPv6 addresses only when the plugin claims `aaaa`.
   */
  zoneV1(): DnsZoneData {
    const v6 = (x: string): string[] => (this.caps.aaaa ? [x] : []);
    return {
      zone: ZONE,
      nodes: [
        { id: 'a', name: 'a', addresses: ['100.64.0.1', ...v6('fd00:7e57::1')] },
        { id: 'b', name: 'b', addresses: ['100.64.0.2', ...v6('fd00:7e57::2')] },
        { id: 'c', name: 'c', addresses: ['100.64.0.3'] },
        { id: 'n7', name: 'web', addresses: ['100.64.0.7'] },
        { id: 'big', name: 'big', addresses: BIG_ADDRESSES },
      ],
    };
  }

  /**
   * Ensures the server on a runs with {@link zoneV1}; restarts it when a test failed (`dirty`)
   * or stopped it.
   */
  async serving(): Promise<DnsNode> {
    await this.ready();
    const s = this.server;
    if (s.running && !this.dirty) return s;
    if (s.running) await this.stop(s.plugin).catch(() => undefined);
    await this.start(s.plugin, { listen: this.serverListen() });
    s.running = true;
    await this.update(s.plugin, this.zoneV1());
    this.dirty = false;
    return s;
  }

  // ---- typed calls ------------------------------------------------------------------------
  start(p: PluginHost, cfg: DnsStartConfig): Promise<void> {
    return p.call<void>('start', [cfg], this.ms(20_000));
  }
  stop(p: PluginHost): Promise<void> {
    return p.call<void>('stop', [], this.ms(20_000)).then(() => {
      if (p === this.server?.plugin) this.server.running = false;
    });
  }
  update(p: PluginHost, zone: DnsZoneData): Promise<void> {
    return p.call<void>('update', [zone], this.ms(20_000));
  }

  /**
   * Queries with `dig` from `from`'s namespace: `dig @server -p port name type +norecurse`,
   * 1 s per try, 2 tries; `+tcp` with `opts.tcp`.
   * @returns the parsed reply, or null when none came (timeout, connection refused).
   */
  async dig(
    from: TestHost,
    server: string,
    port: number,
    name: string,
    type: string,
    opts: { tcp?: boolean; extra?: string[] } = {},
  ): Promise<DigResult | null> {
    const r = await from.exec(
      'dig',
      [
        `@${server}`,
        '-p',
        String(port),
        '+norecurse',
        '+time=1',
        '+tries=2',
        ...(opts.tcp ? ['+tcp'] : []),
        ...(opts.extra ?? []),
        name,
        type,
      ],
      {
        reject: false,
        timeoutMs: 15_000,
      },
    );
    return parseDig(r.stdout);
  }

  /** dig from b to the server on a's underlay address. */
  ask(name: string, type = 'A', opts: { tcp?: boolean; extra?: string[] } = {}): Promise<DigResult | null> {
    return this.dig(this.net.host('b'), this.server.host.underlayAddress, DNS_PORT, name, type, opts);
  }

  /** Output tails and warnings of every plugin host, for failure reports. */
  async diagnostics(): Promise<string> {
    if (!this.server) return '';
    const parts: string[] = [];
    for (const p of [this.server.plugin, ...this.extraHosts]) {
      const tail = lastLines(p.outputTail(), 15);
      if (tail) parts.push(`--- dns plugin output (${p.label}, last lines) ---\n${tail}`);
    }
    const errLines = await logWarnings(this.server.logFile, 8);
    if (errLines) parts.push(`--- dns plugin warnings/errors on a ---\n${errLines}`);
    const ss = await this.server.host.exec('ss', ['-H', '-tulpn'], { reject: false }).catch(() => null);
    if (ss) parts.push(`--- sockets in a's namespace ---\n${ss.stdout.trim()}`);
    return parts.join('\n');
  }

  /** Stops and closes every plugin host and removes the network. */
  protected async teardown(): Promise<void> {
    const hosts = [...(this.server ? [this.server.plugin] : []), ...this.extraHosts];
    await stopAll(hosts, 15_000);
    await closeAll(hosts);
    await this.net?.destroy();
  }
}
