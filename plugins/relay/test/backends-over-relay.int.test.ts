/**
 * Integration: real tunnels between two network namespaces whose only path to each other is the
 * relay server in a third namespace — WireGuard (wireguard-go) and OpenVPN 2.6 (p2p, TLS with
 * self-signed certificates pinned by --peer-fingerprint), both unchanged: each only sees its peer
 * at the relay client's 127.0.0.1:<port>. Needs root, `ip`, `tcpdump`, `ping`, and `wg` +
 * `wireguard-go` / `openvpn` + `openssl` (a backend whose tools are missing is skipped).
 * Everything lives in namespaces this test creates (prefix `rly<4 hex>`), removed at the end, on
 * failure and on SIGINT; the root namespace is not touched. No process is killed by name.
 * Child-process helpers in int-processes.ts.
 *
 *   nsA 198.18.1.1 --veth-- nsR relay 198.18.1.2 | 198.18.2.2 (no IP forwarding) --veth-- nsB 198.18.2.1
 *   tunnel 100.64.0.1, peer endpoint 127.0.0.1:pA         tunnel 100.64.0.2, peer endpoint 127.0.0.1:pB
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { JsonProc, have, run, tryRun } from './int-processes.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/relay-node.js', import.meta.url));
const MARKER = Buffer.from('RUSTYNET-MARKER!'); // 16 bytes: a ping -p pattern
const RELAY_PORT = 3478;

type Side = 'a' | 'b';

describe('relay integration: backends over the relay between namespaces (root)', function () {
  this.timeout(120_000);
  const prefix = `rly${randomBytes(2).toString('hex')}`;
  const procs: ChildProcess[] = [];
  const namespaces: string[] = [];
  const wgSockets: string[] = [];
  let dir: string;

  async function cleanup(): Promise<void> {
    const exits: Array<Promise<unknown>> = [];
    for (const p of procs.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) {
        exits.push(new Promise((r) => p.once('exit', r)));
        p.kill('SIGTERM');
      }
    }
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 3000))]);
    for (const n of namespaces.splice(0)) await tryRun('ip', ['netns', 'del', n]);
    for (const s of wgSockets.splice(0)) rmSync(s, { force: true });
  }
  const onSigint = (): void => {
    void cleanup()
      .then(() => rm(dir, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  };

  before(async function () {
    if (process.getuid?.() !== 0 || !(await have('ip', 'tcpdump', 'ping'))) this.skip();
    // stale namespaces of earlier runs of this test
    for (const line of (await run('ip', ['netns', 'list'])).split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (/^rly[0-9a-f]{4}[wo][abr]$/.test(name)) await tryRun('ip', ['netns', 'del', name]);
    }
    dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
    await chmod(dir, 0o700);
    process.once('SIGINT', onSigint);
  });

  afterEach(cleanup);

  after(async () => {
    process.off('SIGINT', onSigint);
    await cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function inNs(n: string, file: string, args: string[], env?: Record<string, string>): ChildProcess {
    // `ip netns exec` execs the program: the child's pid is the program's own.
    const child = spawn('ip', ['netns', 'exec', n, file, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    });
    procs.push(child);
    return child;
  }

  /** Namespaces A, B, R; A and B reach only R; R runs the relay server. */
  async function topology(tag: 'w' | 'o') {
    const ns = { a: `${prefix}${tag}a`, b: `${prefix}${tag}b`, r: `${prefix}${tag}r` };
    for (const n of Object.values(ns)) {
      await run('ip', ['netns', 'add', n]);
      namespaces.push(n);
      await run('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
    await run('ip', ['-n', ns.a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ra', 'netns', ns.r]);
    await run('ip', ['-n', ns.b, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'rb', 'netns', ns.r]);
    await run('ip', ['-n', ns.a, 'addr', 'add', '198.18.1.1/24', 'dev', 'eth0']);
    await run('ip', ['-n', ns.r, 'addr', 'add', '198.18.1.2/24', 'dev', 'ra']);
    await run('ip', ['-n', ns.b, 'addr', 'add', '198.18.2.1/24', 'dev', 'eth0']);
    await run('ip', ['-n', ns.r, 'addr', 'add', '198.18.2.2/24', 'dev', 'rb']);
    for (const [n, l] of [
      [ns.a, 'eth0'],
      [ns.b, 'eth0'],
      [ns.r, 'ra'],
      [ns.r, 'rb'],
    ] as const)
      await run('ip', ['-n', n, 'link', 'set', l, 'up']);
    // no direct path between A and B
    expect(await tryRun('ip', ['netns', 'exec', ns.a, 'ping', '-c', '1', '-W', '1', '198.18.2.1'])).to.equal(false);

    const ids: Record<Side, { pub: string; keyFile: string }> = {} as never;
    for (const id of ['a', 'b'] as const) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const keyFile = join(dir, `${tag}${id}.identity.key`);
      await writeFile(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      ids[id] = { pub: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64'), keyFile };
    }
    const serverArgs = join(dir, `${tag}server.json`);
    await writeFile(
      serverArgs,
      JSON.stringify({ listen: { host: '0.0.0.0', port: RELAY_PORT }, relayId: 'relay-1', identityKeys: { a: ids.a.pub, b: ids.b.pub } }),
    );
    const server = new JsonProc(inNs(ns.r, process.execPath, [FIXTURE, 'server', serverArgs]));
    expect(await server.next()).to.have.property('ready');

    /** Starts the relay client of `id` with one path to the other node, delivering to 127.0.0.1:backendPort. */
    async function relayClient(id: Side, backendPort: number): Promise<{ proc: JsonProc; local: { host: string; port: number } }> {
      const peer = id === 'a' ? 'b' : 'a';
      const relayHost = id === 'a' ? '198.18.1.2' : '198.18.2.2';
      const args = join(dir, `${tag}client-${id}.json`);
      await writeFile(
        args,
        JSON.stringify({
          nodeId: id,
          peer,
          keyFile: ids[id].keyFile,
          backendPort,
          relays: [{ id: 'relay-1', endpoint: { host: relayHost, port: RELAY_PORT } }],
        }),
      );
      const proc = new JsonProc(inNs(ns[id], process.execPath, [FIXTURE, 'client', args]));
      const local = ((await proc.next()) as { ready: { host: string; port: number } }).ready;
      return { proc, local };
    }
    return { ns, server, relayClient };
  }

  /** Captures on the relay host (all interfaces) and inside A's tunnel while `traffic` runs. */
  async function capture(
    ns: { a: string; r: string },
    tunIf: string,
    traffic: () => Promise<void>,
  ): Promise<{ relay: Buffer; tun: Buffer }> {
    const files = { relay: join(dir, `${tunIf}-relay.pcap`), tun: join(dir, `${tunIf}-tun.pcap`) };
    const caps: Array<{ cap: ChildProcess; err: string }> = [];
    for (const [n, iface, file] of [
      [ns.r, 'any', files.relay],
      [ns.a, tunIf, files.tun],
    ] as const) {
      const cap = inNs(n, 'tcpdump', ['-i', iface, '--immediate-mode', '-U', '-n', '-Z', 'root', '-w', file]);
      const entry = { cap, err: '' };
      caps.push(entry);
      await new Promise<void>((resolve, reject) => {
        cap.stderr!.on('data', (d: Buffer) => {
          entry.err += d.toString();
          if (entry.err.includes('listening on')) resolve();
        });
        cap.once('exit', () => reject(new Error(`tcpdump exited: ${entry.err}`)));
      });
    }
    await traffic();
    for (const { cap } of caps) {
      const exited = new Promise((r) => cap.once('exit', r));
      cap.kill('SIGINT');
      await exited;
    }
    for (const { err } of caps) expect(err).to.not.match(/\b0 packets captured/);
    return { relay: await readFile(files.relay), tun: await readFile(files.tun) };
  }

  async function pingUntilUp(nsA: string): Promise<void> {
    // Up to ~60 s: a TLS handshake through the relay on a loaded 2-core machine can take a while.
    for (let i = 0; i < 60; i++) {
      if (await tryRun('ip', ['netns', 'exec', nsA, 'ping', '-c', '1', '-W', '1', '100.64.0.2'])) return;
    }
    throw new Error('tunnel did not come up');
  }

  async function markerPing(nsA: string): Promise<void> {
    const out = await run('ip', [
      'netns',
      'exec',
      nsA,
      'ping',
      '-c',
      '5',
      '-i',
      '0.2',
      '-W',
      '3',
      '-s',
      '200',
      '-p',
      MARKER.toString('hex'),
      '100.64.0.2',
    ]);
    expect(out).to.match(/\b[1-5] received/);
  }

  async function checkRelayed(server: JsonProc, clientA: JsonProc, pcaps: { relay: Buffer; tun: Buffer }): Promise<void> {
    expect(pcaps.tun.includes(MARKER), 'the marker is visible inside the tunnel (control)').to.equal(true);
    expect(pcaps.relay.length, 'the relay host saw traffic').to.be.greaterThan(1000);
    expect(pcaps.relay.includes(MARKER), 'the relay host never sees plaintext').to.equal(false);
    const stats = (await server.query()) as { packetsForwarded: number; sessions: number };
    expect(stats.sessions).to.equal(2);
    expect(stats.packetsForwarded).to.be.greaterThan(10);
    const st = (await clientA.query()) as Array<{ peer: string; rxPackets: number; txPackets: number }>;
    expect(st[0].peer).to.equal('b');
    expect(st[0].rxPackets).to.be.greaterThan(5);
    expect(st[0].txPackets).to.be.greaterThan(5);
  }

  it('WireGuard (wireguard-go): tunnel through the relay; the relay only sees ciphertext', async function () {
    if (!(await have('wg', 'wireguard-go'))) this.skip();
    const { ns, server, relayClient } = await topology('w');
    const WG_PORT = 51820;
    const wgIf: Record<Side, string> = { a: `${prefix}wa`, b: `${prefix}wb` };
    const wgPub = {} as Record<Side, string>;
    for (const id of ['a', 'b'] as const) {
      const sock = `/var/run/wireguard/${wgIf[id]}.sock`;
      wgSockets.push(sock);
      inNs(ns[id], 'wireguard-go', ['-f', wgIf[id]], { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' });
      const keyFile = join(dir, `${id}.wg.key`);
      const priv = (await run('wg', ['genkey'])).trim();
      await writeFile(keyFile, `${priv}\n`, { mode: 0o600 });
      wgPub[id] = (await run('wg', ['pubkey'], `${priv}\n`)).trim();
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      await run('ip', ['netns', 'exec', ns[id], 'wg', 'set', wgIf[id], 'private-key', keyFile, 'listen-port', String(WG_PORT)]);
    }
    const clients = { a: await relayClient('a', WG_PORT), b: await relayClient('b', WG_PORT) };
    for (const [id, peer, addr, peerAddr] of [
      ['a', 'b', '100.64.0.1', '100.64.0.2'],
      ['b', 'a', '100.64.0.2', '100.64.0.1'],
    ] as const) {
      await run('ip', [
        'netns',
        'exec',
        ns[id],
        'wg',
        'set',
        wgIf[id],
        'peer',
        wgPub[peer],
        'allowed-ips',
        `${peerAddr}/32`,
        'endpoint',
        `127.0.0.1:${clients[id].local.port}`,
      ]);
      await run('ip', ['-n', ns[id], 'addr', 'add', `${addr}/32`, 'dev', wgIf[id]]);
      await run('ip', ['-n', ns[id], 'link', 'set', wgIf[id], 'mtu', '1420', 'up']);
      await run('ip', ['-n', ns[id], 'route', 'add', `${peerAddr}/32`, 'dev', wgIf[id]]);
    }
    const pcaps = await capture(ns, wgIf.a, () => markerPing(ns.a));
    await checkRelayed(server, clients.a.proc, pcaps);
    // WireGuard completed a handshake through the relay, with the peer at the relay client's endpoint
    const hs = await run('ip', ['netns', 'exec', ns.a, 'wg', 'show', wgIf.a, 'latest-handshakes']);
    expect(Number(hs.trim().split(/\s+/)[1])).to.be.greaterThan(0);
    const eps = await run('ip', ['netns', 'exec', ns.a, 'wg', 'show', wgIf.a, 'endpoints']);
    expect(eps.trim().split(/\s+/)[1]).to.equal(`127.0.0.1:${clients.a.local.port}`);
  });

  it('OpenVPN 2.6 (p2p, pinned certificates): tunnel through the relay; the relay only sees ciphertext', async function () {
    if (!(await have('openvpn', 'openssl'))) this.skip();
    const { ns, server, relayClient } = await topology('o');
    const OVPN_PORT = 1194;
    const tun: Record<Side, string> = { a: `${prefix}oa`, b: `${prefix}ob` };
    const pki = {} as Record<Side, { cert: string; key: string; fp: string }>;
    for (const id of ['a', 'b'] as const) {
      const cert = join(dir, `${id}.crt`);
      const key = join(dir, `${id}.key`);
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        `/CN=${id}`,
      ]);
      await chmod(key, 0o600);
      const fp = (await run('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'])).trim().split('=')[1];
      pki[id] = { cert, key, fp };
    }
    // The relay clients come first: B's OpenVPN needs its local relay endpoint as --remote.
    const clients = { a: await relayClient('a', OVPN_PORT), b: await relayClient('b', OVPN_PORT) };
    const common = [
      '--dev-type',
      'tun',
      '--proto',
      'udp',
      '--lport',
      String(OVPN_PORT),
      '--verb',
      '3',
      '--ping',
      '1',
      '--ping-restart',
      '30',
      '--tun-mtu',
      '1400',
    ];
    // A: TLS server, no --remote (accepts the peer at the address it comes from: the relay client).
    const ovpnA = inNs(ns.a, 'openvpn', [
      ...common,
      '--dev',
      tun.a,
      '--ifconfig',
      '100.64.0.1',
      '100.64.0.2',
      '--tls-server',
      '--dh',
      'none',
      '--cert',
      pki.a.cert,
      '--key',
      pki.a.key,
      '--peer-fingerprint',
      pki.b.fp,
    ]);
    // B: TLS client whose remote is its relay client's local endpoint for A.
    const ovpnB = inNs(ns.b, 'openvpn', [
      ...common,
      '--dev',
      tun.b,
      '--ifconfig',
      '100.64.0.2',
      '100.64.0.1',
      '--tls-client',
      '--remote',
      '127.0.0.1',
      String(clients.b.local.port),
      '--cert',
      pki.b.cert,
      '--key',
      pki.b.key,
      '--peer-fingerprint',
      pki.a.fp,
    ]);
    let logs = '';
    for (const p of [ovpnA, ovpnB]) p.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    try {
      await pingUntilUp(ns.a);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logs.slice(-3000)}`, { cause: err });
    }
    const pcaps = await capture(ns, tun.a, () => markerPing(ns.a));
    await checkRelayed(server, clients.a.proc, pcaps);
    expect(logs).to.include('Initialization Sequence Completed');
  });
});
