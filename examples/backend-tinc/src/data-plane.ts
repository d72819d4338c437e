/**
 * The tinc data plane: one tincd per node (daemon.ts), its configuration files under the
 * plugin's state directory (`<state>/tinc-<device>/`: tinc.conf, hosts/, the pid file), the
 * tun device's addresses and routes (`ip -batch -`), and per-peer counters (counters.ts).
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  RustynetError,
  type BackendStartConfig,
  type PeerConfig,
  type PeerStats,
  type PluginContext,
  type Route,
} from '@rustynet/plugin-api';
import { PeerCounters } from './counters.js';
import { TincDaemon, connectionStates, removeStaleDaemons } from './daemon.js';
import { tincName } from './key-format.js';
import { privateKeyPath, readPublicKey } from './keys.js';
import { CIPHER_NAME, dials, renderPeerHost, renderSelfHost, renderTincConf, type TincSelf } from './tinc-config.js';

/** MTU of the tun device when the config sets none (a 1500-byte underlay minus tinc's overhead). */
export const DEFAULT_MTU = 1420;

/** A free port on which both UDP and TCP bind (tinc uses the same port for both). */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((res, rej) => {
      udp.once('error', rej);
      udp.bind(0, () => res(udp.address().port));
    });
    const tcp = createServer();
    const ok = await new Promise<boolean>((res) => {
      tcp.once('error', () => res(false));
      tcp.listen(port, () => res(true));
    });
    await new Promise((r) => tcp.close(r));
    udp.close();
    if (ok) return port;
  }
  throw new RustynetError('BACKEND_FAILED', 'no port free for both UDP and TCP');
}

/** The running tinc data plane of one backend instance. */
export class TincPlane {
  private daemon: TincDaemon | undefined;
  private counters: PeerCounters | undefined;
  private confDir = '';
  private device = '';
  private port = 0;
  /** Host file contents as last written, by tinc name. */
  private hostFiles = new Map<string, string>();
  private tincConf = '';
  private self = { name: '', key: '', addresses: [] as string[], privateKeyFile: '' };

  constructor(private readonly context: PluginContext) {}

  /** The port tincd listens on (TCP and UDP). */
  get listenPort(): number {
    return this.port;
  }

  /**
   * Writes the configuration, removes what a crashed earlier instance left (its tincd, counter
   * table), starts tincd, waits for Ready, then configures the device.
   * @throws RustynetError `BACKEND_FAILED` (tincd's output in `details`), `KEY_INVALID`.
   */
  async up(config: BackendStartConfig): Promise<string[]> {
    const { runner, logger } = this.context;
    this.device = config.interfaceName;
    this.confDir = join(this.context.state.dir, `tinc-${config.interfaceName}`);
    this.counters = new PeerCounters(runner, this.device);
    await removeStaleDaemons(this.confDir, logger);
    await this.counters.remove();
    await rm(this.confDir, { recursive: true, force: true });
    await mkdir(join(this.confDir, 'hosts'), { recursive: true, mode: 0o700 });
    this.port = config.listenPort === 0 ? await freePort() : config.listenPort;
    const key = await readPublicKey(config.keyDirectory);
    this.self = { name: tincName(key), key, addresses: [...config.addresses], privateKeyFile: privateKeyPath(config.keyDirectory) };
    this.hostFiles = new Map();
    this.tincConf = renderTincConf(this.tincSelf(), []);
    await writeFile(join(this.confDir, 'tinc.conf'), this.tincConf, { mode: 0o600 });
    await writeFile(join(this.confDir, 'hosts', this.self.name), renderSelfHost(this.port, this.self.addresses, key), { mode: 0o600 });
    const daemon = new TincDaemon(runner, logger, this.confDir, join(this.confDir, 'tincd.pid'));
    await daemon.start();
    this.daemon = daemon;
    const mtu = config.mtu ?? DEFAULT_MTU;
    const batch = [
      `link set dev ${this.device} mtu ${mtu}`,
      ...config.addresses.map((a) => `addr add ${a} dev ${this.device}`),
      `link set dev ${this.device} up`,
    ];
    await runner.run('ip', ['-batch', '-'], { input: `${batch.join('\n')}\n` });
    await this.counters.set([], []);
    return [this.device];
  }

  /** Stops tincd (its tun device goes with it) and removes the counter table and config files. Idempotent. */
  async down(): Promise<void> {
    const hadDaemon = this.daemon !== undefined;
    await this.daemon?.stop();
    this.daemon = undefined;
    // tincd removes its tun device when it exits; a device it left (SIGKILL mid-exit) goes here.
    if (hadDaemon) await this.context.runner.run('ip', ['link', 'del', this.device], { reject: false });
    await this.counters?.remove();
    if (this.confDir) await rm(this.confDir, { recursive: true, force: true });
    this.hostFiles = new Map();
  }

  /**
   * Makes tinc's peer set equal to `peers`: rewrites only the host files whose content changes
   * (tinc drops the connection of a changed or deleted host file on reload, and keeps all
   * others), rewrites tinc.conf, updates the counters, then one SIGHUP.
   * @throws RustynetError `BACKEND_FAILED` when tincd died or nft failed.
   */
  async setPeers(peers: readonly PeerConfig[]): Promise<void> {
    const daemon = this.running();
    const next = new Map(peers.map((p) => [tincName(p.publicKey), renderPeerHost(p)]));
    const changed = [...next].filter(([n, text]) => this.hostFiles.get(n) !== text);
    const gone = [...this.hostFiles.keys()].filter((n) => !next.has(n));
    if (changed.some(([n]) => this.hostFiles.has(n))) await daemon.waitForNewSecond();
    for (const [n, text] of changed) await writeFile(join(this.confDir, 'hosts', n), text, { mode: 0o600 });
    for (const n of gone) await unlink(join(this.confDir, 'hosts', n)).catch(() => undefined);
    const conf = renderTincConf(this.tincSelf(), peers);
    if (conf !== this.tincConf) await writeFile(join(this.confDir, 'tinc.conf'), conf, { mode: 0o600 });
    await this.counters?.set(peers, gone);
    if (changed.length || gone.length || conf !== this.tincConf) daemon.reload();
    this.tincConf = conf;
    this.hostFiles = next;
    daemon.nudgeUntilUp(peers.filter((p) => dials(p)).map((p) => tincName(p.publicKey)));
  }

  /** Removes then adds kernel routes through the device, in one `ip -batch -` (`replace`: idempotent). */
  async routes(add: readonly Route[], remove: readonly Route[]): Promise<void> {
    if (add.length) this.running();
    const lines = [
      ...remove.map((r) => `route del ${r.destination} dev ${this.device}`),
      ...add.map((r) => `route replace ${r.destination} dev ${this.device}`),
    ];
    if (!lines.length) return;
    // -force: a removal of a route that is gone already is no error; additions are checked below.
    const r = await this.context.runner.run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, reject: false });
    if (r.exitCode !== 0 && add.length)
      throw new RustynetError('BACKEND_FAILED', `ip refused a route change on ${this.device}`, { details: { stderr: r.stderr } });
  }

  /**
   * Per-peer stats: bytes from the nftables counters, the endpoint as configured, `state` and
   * `cipher` once tincd reports an active connection with the peer.
   * @throws RustynetError `BACKEND_FAILED` when tincd died (the daemon's watchdog restarts us).
   */
  async stats(peers: readonly PeerConfig[]): Promise<PeerStats[]> {
    this.running();
    const bytes = (await this.counters?.read()) ?? new Map<string, { rx: number; tx: number }>();
    const states = connectionStates(this.daemon?.output() ?? '');
    return peers.map((p) => {
      const n = tincName(p.publicKey);
      const b = bytes.get(n) ?? { rx: 0, tx: 0 };
      const state = states.get(n) ?? 'connecting';
      const s: PeerStats = { id: p.id, lastHandshakeAt: null, rxBytes: b.rx, txBytes: b.tx, state };
      if (p.endpoint) s.endpoint = { ...p.endpoint };
      if (state === 'up') s.cipher = CIPHER_NAME;
      return s;
    });
  }

  private tincSelf(): TincSelf {
    return { name: this.self.name, interfaceName: this.device, port: this.port, privateKeyFile: this.self.privateKeyFile };
  }

  private running(): TincDaemon {
    const d = this.daemon;
    if (!d?.alive) throw new RustynetError('BACKEND_FAILED', `tincd for ${this.device} is not running`, { details: d?.details() ?? {} });
    return d;
  }
}
