/**
 * The fastd data plane: one fastd per node (daemon.ts), its files under the plugin's state
 * directory (`<state>/fastd-<device>/`: fastd.conf, peers/, the status socket), the node's own
 * device (a persistent tun named after the start config's interface, holding the node's
 * addresses), one tun device per peer (fastd's, named in its peer file), the routes through
 * those devices (`ip -batch -`), and the source filter (filter.ts).
 */
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import {
  RustynetError,
  type BackendStartConfig,
  type PeerConfig,
  type PeerStats,
  type PluginContext,
  type Route,
} from '@rustynet/plugin-api';
import { FastdDaemon, removeStaleDaemons } from './daemon.js';
import { SourceFilter } from './filter.js';
import { peerFileName } from './key-format.js';
import { secretFilePath } from './keys.js';
import { cipherName, renderFastdConf, renderPeerFile } from './fastd-config.js';
import { PeerDevices } from './devices.js';

/** MTU of the tun devices when the config sets none (a 1500-byte underlay minus fastd's overhead). */
export const DEFAULT_MTU = 1420;
/** How long an apply waits for fastd to create the devices of new peers after SIGHUP. */
export const DEVICE_WAIT_MS = 5_000;

/** A free UDP port (fastd uses UDP only). */
async function freePort(): Promise<number> {
  const udp = createSocket('udp4');
  const port = await new Promise<number>((res, rej) => {
    udp.once('error', rej);
    udp.bind(0, () => res(udp.address().port));
  });
  await new Promise<void>((r) => udp.close(() => r()));
  return port;
}

/** The running fastd data plane of one backend instance. */
export class FastdPlane {
  private daemon: FastdDaemon | undefined;
  private filter: SourceFilter | undefined;
  private devices = new PeerDevices('');
  private dir = '';
  private device = '';
  private port = 0;
  private mtu = DEFAULT_MTU;
  private src4: string | undefined;
  /** Peer files as last written, by public key. */
  private peerFiles = new Map<string, { name: string; text: string }>();
  private peers: PeerConfig[] = [];
  /** Routes as applied, by `peer destination`. */
  private routeTable = new Map<string, Route>();

  constructor(private readonly context: PluginContext) {}

  /** The UDP port fastd listens on. */
  get listenPort(): number {
    return this.port;
  }

  /**
   * Removes what a crashed earlier instance left (its fastd, device, filter table), writes the
   * configuration, creates the node's device with its addresses, starts fastd.
   * @throws RustynetError `BACKEND_FAILED` (fastd's output in `details`), `KEY_INVALID`.
   */
  async up(config: BackendStartConfig): Promise<string[]> {
    const { runner, logger } = this.context;
    this.device = config.interfaceName;
    this.dir = join(this.context.state.dir, `fastd-${config.interfaceName}`);
    this.filter = new SourceFilter(runner, this.device);
    this.devices = new PeerDevices(this.device);
    const confFile = join(this.dir, 'fastd.conf');
    await removeStaleDaemons(confFile, logger);
    await this.filter.remove();
    await runner.run('ip', ['link', 'del', this.device], { reject: false });
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(join(this.dir, 'peers'), { recursive: true, mode: 0o700 });
    this.port = config.listenPort === 0 ? await freePort() : config.listenPort;
    this.mtu = config.mtu ?? DEFAULT_MTU;
    this.src4 = config.addresses.find((a) => !a.includes(':'))?.split('/')[0];
    this.peerFiles = new Map();
    this.peers = [];
    this.routeTable = new Map();
    const statusSocket = join(this.dir, 'status.sock');
    const conf = renderFastdConf({
      secretFile: secretFilePath(config.keyDirectory),
      port: this.port,
      mtu: this.mtu,
      peerDir: join(this.dir, 'peers'),
      statusSocket,
    });
    await writeFile(confFile, conf, { mode: 0o600 });
    // The node's own device: a persistent tun that holds the node's addresses (no process
    // attaches to it; packets for the node arrive on the peers' devices and are local).
    const batch = [
      `tuntap add mode tun dev ${this.device}`,
      `link set dev ${this.device} mtu ${this.mtu}`,
      ...config.addresses.map((a) => `addr add ${a} dev ${this.device}`),
      `link set dev ${this.device} up`,
    ];
    await runner.run('ip', ['-batch', '-'], { input: `${batch.join('\n')}\n` });
    const daemon = new FastdDaemon(runner, logger, confFile, statusSocket);
    await daemon.start();
    this.daemon = daemon;
    await this.filter.set([], new Map());
    return [this.device];
  }

  /** Stops fastd (the peers' devices go with it), removes the node's device, the filter table and the files. Idempotent. */
  async down(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = undefined;
    if (this.device) await this.context.runner.run('ip', ['link', 'del', this.device], { reject: false });
    await this.filter?.remove();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.peerFiles = new Map();
    this.routeTable = new Map();
  }

  /** Device names of the current peers, by peer id. */
  deviceNames(): string[] {
    return this.peers.map((p) => this.devices.of(p.publicKey)).filter((d): d is string => d !== undefined);
  }

  /**
   * Makes fastd's peer set equal to `peers`: rewrites only the peer files whose content changes
   * (fastd resets a changed peer on reload and keeps all others), one SIGHUP, waits for the new
   * devices, brings them up and puts back the routes through them, then the source filter.
   * @throws RustynetError `BACKEND_FAILED` when fastd died, did not create a device, or ip/nft failed.
   */
  async setPeers(peers: readonly PeerConfig[]): Promise<void> {
    const daemon = this.running();
    const peerDir = join(this.dir, 'peers');
    this.devices.assign(peers.map((p) => p.publicKey));
    const next = new Map(
      peers.map((p) => {
        const name = peerFileName(p.publicKey);
        return [p.publicKey, { name, text: renderPeerFile(p, this.devices.of(p.publicKey) ?? '') }];
      }),
    );
    const changed = [...next].filter(([k, f]) => this.peerFiles.get(k)?.text !== f.text || this.peerFiles.get(k)?.name !== f.name);
    const gone = [...this.peerFiles].filter(([k, f]) => next.get(k)?.name !== f.name);
    for (const [, f] of gone) await unlink(join(peerDir, f.name)).catch(() => undefined);
    for (const [, f] of changed) await writeFile(join(peerDir, f.name), f.text, { mode: 0o600 });
    if (changed.length || gone.length) daemon.reload();
    this.peerFiles = next;
    this.peers = peers.map((p) => structuredClone(p));
    const changedKeys = new Set(changed.map(([k]) => k));
    const fresh = peers.filter((p) => changedKeys.has(p.publicKey));
    if (fresh.length) await this.waitForDevices(fresh);
    const byId = new Map(peers.map((p) => [p.id, this.devices.of(p.publicKey) ?? '']));
    if (fresh.length) {
      const lines = fresh.map((p) => `link set dev ${byId.get(p.id) ?? ''} mtu ${this.mtu} up`);
      const freshIds = new Set(fresh.map((p) => p.id));
      for (const r of this.routeTable.values()) if (freshIds.has(r.peer)) lines.push(this.routeLine(r, byId));
      await this.ip(lines, true);
    }
    // routes of removed peers went with their devices
    const ids = new Set(peers.map((p) => p.id));
    for (const [k, r] of this.routeTable) if (!ids.has(r.peer)) this.routeTable.delete(k);
    await this.filter?.set(peers, byId);
  }

  /**
   * Removes then adds kernel routes through the peers' devices, in one `ip -batch -` (`replace`:
   * idempotent). A route of a peer that is gone went with its device.
   */
  async routes(add: readonly Route[], remove: readonly Route[]): Promise<void> {
    if (add.length) this.running();
    const byId = new Map(this.peers.map((p) => [p.id, this.devices.of(p.publicKey) ?? '']));
    const key = (r: Route): string => `${r.peer} ${r.destination}`;
    const dels = remove.filter((r) => byId.get(r.peer)).map((r) => `route del ${r.destination} dev ${byId.get(r.peer) ?? ''}`);
    if (dels.length) await this.ip(dels, false);
    if (add.length)
      await this.ip(
        add.map((r) => this.routeLine(r, byId)),
        true,
      );
    for (const r of remove) this.routeTable.delete(key(r));
    for (const r of add) this.routeTable.set(key(r), { ...r });
  }

  /**
   * Per-peer stats: bytes from the peer's device (inner packets, as the kernel counted them),
   * `state`, `cipher` and the handshake age from fastd's status socket.
   * @throws RustynetError `BACKEND_FAILED` when fastd died (the daemon's watchdog restarts us).
   */
  async stats(peers: readonly PeerConfig[]): Promise<PeerStats[]> {
    const daemon = this.running();
    const status = await daemon.status().catch((err: unknown) => {
      throw new RustynetError('BACKEND_FAILED', 'fastd status socket did not answer', {
        details: { ...daemon.details(), error: String(err) },
      });
    });
    const bytes = await this.deviceBytes();
    return peers.map((p) => {
      const dev = this.devices.of(p.publicKey) ?? '';
      const b = bytes.get(dev) ?? { rx: 0, tx: 0 };
      const conn = status.peers[p.publicKey]?.connection ?? null;
      const s: PeerStats = { id: p.id, lastHandshakeAt: null, rxBytes: b.rx, txBytes: b.tx, state: conn ? 'up' : 'connecting' };
      if (p.endpoint) s.endpoint = { ...p.endpoint };
      if (conn) s.cipher = cipherName(conn.method);
      return s;
    });
  }

  private routeLine(r: Route, byId: ReadonlyMap<string, string>): string {
    const dev = byId.get(r.peer);
    if (!dev) throw new RustynetError('BACKEND_FAILED', `no device for peer ${r.peer}`);
    const src = this.src4 && !r.destination.includes(':') ? ` src ${this.src4}` : '';
    return `route replace ${r.destination} dev ${dev}${src}`;
  }

  /** Byte counters of every link, by name (`ip -j -s link`). */
  private async deviceBytes(): Promise<Map<string, { rx: number; tx: number }>> {
    const r = await this.context.runner.run('ip', ['-j', '-s', 'link', 'show'], { reject: false });
    const out = new Map<string, { rx: number; tx: number }>();
    if (r.exitCode !== 0) return out;
    for (const l of JSON.parse(r.stdout) as { ifname: string; stats64?: { rx?: { bytes: number }; tx?: { bytes: number } } }[])
      out.set(l.ifname, { rx: l.stats64?.rx?.bytes ?? 0, tx: l.stats64?.tx?.bytes ?? 0 });
    return out;
  }

  /** Waits until fastd reports every peer of `peers` with its device and the kernel has it. */
  private async waitForDevices(peers: readonly PeerConfig[]): Promise<void> {
    const until = Date.now() + DEVICE_WAIT_MS;
    for (;;) {
      const daemon = this.running();
      const status = await daemon.status().catch(() => undefined);
      const links = await this.deviceBytes();
      const missing = peers.filter((p) => {
        const dev = this.devices.of(p.publicKey);
        return !dev || !links.has(dev) || status?.peers[p.publicKey]?.interface !== dev;
      });
      if (missing.length === 0) return;
      if (Date.now() > until)
        throw new RustynetError('BACKEND_FAILED', `fastd did not create the devices of ${missing.length} peer(s) in time`, {
          details: { peers: missing.map((p) => p.id), ...daemon.details() },
        });
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private async ip(lines: readonly string[], strict: boolean): Promise<void> {
    // -force: a removal of a route that is gone already is no error; strict runs are checked.
    const r = await this.context.runner.run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, reject: false });
    if (r.exitCode !== 0 && strict)
      throw new RustynetError('BACKEND_FAILED', `ip refused a change on the peers' devices`, { details: { stderr: r.stderr } });
  }

  private running(): FastdDaemon {
    const d = this.daemon;
    if (!d?.alive) throw new RustynetError('BACKEND_FAILED', `fastd for ${this.device} is not running`, { details: d?.details() ?? {} });
    return d;
  }
}
