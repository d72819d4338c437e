/**
 * Integration tests: real openvpn processes in network namespaces, real packets.
 * Needs root. Every namespace, device and process is created and removed by the test. Helpers in
 * support/int-helpers.ts.
 */
import { expect } from 'chai';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from './support/netns.js';
import { BASE_PORT, makeNodes, peerOf, removeRoot, startNode, type MeshNode } from './support/mesh.js';
import { CERT_FILE, KEY_FILE } from '../src/keys.js';
import { localPort, portOffset, remotePort } from '../src/rules.js';
import { processRunning } from '../src/stale.js';
import { ipv4ToBigInt } from './support/backend-fixture.js';
import { expectCode, linkNames, plainClientConfig, waitFor } from './support/int-helpers.js';

const isRoot = process.getuid?.() === 0;

(isRoot ? describe : describe.skip)('backend-openvpn integration (network namespaces)', function () {
  this.timeout(180_000);
  let net: TestNet;
  let nodes: MeshNode[];
  let a: MeshNode, b: MeshNode, c: MeshNode;

  before(async () => {
    net = TestNet.create(3);
    nodes = await makeNodes(net, ['a', 'b', 'c']);
    [a, b, c] = nodes as [MeshNode, MeshNode, MeshNode];
    for (const n of nodes) await startNode(n);
  });

  after(async () => {
    for (const n of nodes ?? []) await n.backend.stop().catch(() => undefined);
    await net?.destroy();
    if (nodes) removeRoot(nodes);
  });

  it('builds a full mesh: ping over IPv4 and IPv6 between every pair', async () => {
    for (const n of nodes) {
      await n.backend.applyPeers({ upsert: nodes.filter((m) => m !== n).map(peerOf), remove: [] });
    }
    for (const n of nodes) {
      for (const m of nodes.filter((x) => x !== n)) {
        expect(await net.pingUntil(n.host.netns, m.v4, 30_000), `${n.id} -> ${m.id} v4`).to.equal(true);
        expect(await net.pingUntil(n.host.netns, m.v6, 10_000), `${n.id} -> ${m.id} v6`).to.equal(true);
      }
    }
  });

  it('reports handshake time, byte counters, endpoint and state from the management interface', async () => {
    const before = await a.backend.stats();
    const pb = before.peers.find((p) => p.id === 'b')!;
    expect(net.ping(a.host.netns, b.v4, 5)).to.equal(true);
    const after = await a.backend.stats();
    const pa = after.peers.find((p) => p.id === 'b')!;
    expect(after.listenPort).to.equal(BASE_PORT);
    expect(after.interfaces).to.have.length(2);
    expect(pa.state).to.equal('up');
    expect(pa.lastHandshakeAt).to.be.a('number');
    expect(pa.lastHandshakeAt!).to.be.greaterThan(Date.now() - 300_000);
    expect(pa.endpoint).to.deep.equal({ host: b.host.underlay, port: BASE_PORT });
    expect(pa.txBytes).to.be.greaterThan(pb.txBytes);
    expect(pa.rxBytes).to.be.greaterThan(pb.rxBytes);
  });

  it('uses the documented ports: instance for peer j binds base + offset(j)', () => {
    const ss = net.exec(a.host.netns, 'ss', ['-uanp']).stdout;
    const offB = localPort(BASE_PORT, ipv4ToBigInt(b.v4), 1024);
    expect(ss).to.include(`:${offB} `);
    expect(remotePort(BASE_PORT, ipv4ToBigInt(a.v4), 1024)).to.equal(BASE_PORT + portOffset(ipv4ToBigInt(a.v4), 1024));
    expect(ss).to.include(`:${BASE_PORT + portOffset(ipv4ToBigInt(c.v4), 1024)} `);
  });

  it('routes a LAN prefix through a peer and removes it again', async () => {
    // A LAN behind b: a veth pair inside b's namespace (no dummy module on these hosts).
    net.exec(b.host.netns, 'ip', ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    net.exec(b.host.netns, 'ip', ['addr', 'add', '10.77.0.1/24', 'dev', 'lan0']);
    net.exec(b.host.netns, 'ip', ['link', 'set', 'lan0', 'up']);
    net.exec(b.host.netns, 'ip', ['link', 'set', 'lan1', 'up']);
    expect(net.ping(a.host.netns, '10.77.0.1', 1)).to.equal(false);
    await a.backend.applyRoutes({ add: [{ destination: '10.77.0.0/24', peer: 'b' }], remove: [] });
    expect(await net.pingUntil(a.host.netns, '10.77.0.1', 10_000)).to.equal(true);
    await a.backend.applyRoutes({ add: [], remove: [{ destination: '10.77.0.0/24', peer: 'b' }] });
    expect(net.ping(a.host.netns, '10.77.0.1', 2)).to.equal(false);
    await expectCode(a.backend.applyRoutes({ add: [{ destination: '10.9.0.0/16', peer: 'zz' }], remove: [] }), 'UNKNOWN_PEER');
    await expectCode(a.backend.applyRoutes({ add: [{ destination: '198.18.0.0/24', peer: 'b' }], remove: [] }), 'INVALID_INPUT');
  });

  it('exit node: a default route via b carries any address to b; underlay and peers keep working; removal restores the tables', async () => {
    const far = '10.55.0.1';
    net.exec(b.host.netns, 'ip', ['addr', 'replace', `${far}/32`, 'dev', 'lo']);
    const tables = (): string =>
      ['-4', '-6']
        .map(
          (f) =>
            net.exec(a.host.netns, 'ip', [f, 'route', 'show', 'table', 'all']).stdout + net.exec(a.host.netns, 'ip', [f, 'rule']).stdout,
        )
        .join('');
    const before = tables();
    try {
      expect(net.ping(a.host.netns, far, 1)).to.equal(false);
      await a.backend.applyRoutes({
        add: [
          { destination: '0.0.0.0/0', peer: 'b' },
          { destination: '::/0', peer: 'b' },
        ],
        remove: [],
      });
      expect(await net.pingUntil(a.host.netns, far, 10_000)).to.equal(true);
      expect(net.ping(a.host.netns, c.v4, 2)).to.equal(true);
      expect(net.ping(a.host.netns, c.v6, 2)).to.equal(true);
      expect(net.ping(a.host.netns, b.host.underlay, 2)).to.equal(true);
      // The tunnels themselves still run over the underlay (their packets carry the fwmark).
      expect((await a.backend.stats()).peers.every((p) => p.state === 'up')).to.equal(true);
      await a.backend.applyRoutes({
        add: [],
        remove: [
          { destination: '0.0.0.0/0', peer: 'b' },
          { destination: '::/0', peer: 'b' },
        ],
      });
      expect(tables()).to.equal(before);
      expect(net.ping(a.host.netns, far, 1)).to.equal(false);
    } finally {
      net.exec(b.host.netns, 'ip', ['addr', 'del', `${far}/32`, 'dev', 'lo']);
    }
  });

  it('rejects bad input and changes nothing', async () => {
    const statsBefore = await a.backend.stats();
    const linksBefore = linkNames(net, a.host.netns);
    const pidsBefore = a.backend.instances().map((i) => i.pid);
    const newPeer = { ...peerOf(c), id: 'd', allowedIps: ['100.64.0.4/32'] };
    const bad: Array<[unknown, string]> = [
      [{ upsert: [newPeer, { ...newPeer, id: 'e', publicKey: 'not-a-fingerprint' }], remove: [] }, 'INVALID_INPUT'],
      [{ upsert: [newPeer, { ...newPeer, id: 'e', allowedIps: ['100.64.0.300/32'] }], remove: [] }, 'INVALID_INPUT'],
      [{ upsert: [newPeer, { ...newPeer, id: 'e', allowedIps: ['100.64.0.5/24'] }], remove: [] }, 'INVALID_INPUT'],
      [{ upsert: [newPeer, newPeer], remove: [] }, 'DUPLICATE_PEER'],
      [{ upsert: [newPeer], remove: ['d'] }, 'DUPLICATE_PEER'],
      [{ upsert: [newPeer], remove: ['nobody'] }, 'UNKNOWN_PEER'],
      [{ upsert: [newPeer, { ...newPeer, id: 'e', endpoint: { host: 'example.com', port: 1 } }], remove: [] }, 'INVALID_INPUT'],
    ];
    for (const [batch, code] of bad) {
      await expectCode(a.backend.applyPeers(batch as never), code);
    }
    await expectCode(a.backend.updatePeerEndpoint('nobody', { host: '198.18.0.9', port: 1 }), 'UNKNOWN_PEER');
    const statsAfter = await a.backend.stats();
    expect(statsAfter.peers.map((p) => p.id)).to.deep.equal(statsBefore.peers.map((p) => p.id));
    expect(statsAfter.interfaces).to.deep.equal(statsBefore.interfaces);
    expect(linkNames(net, a.host.netns)).to.deep.equal(linksBefore);
    expect(a.backend.instances().map((i) => i.pid)).to.deep.equal(pidsBefore);
    expect(await net.pingUntil(a.host.netns, b.v4, 5_000)).to.equal(true);
  });

  it('enforces the pinned fingerprint: a peer with another certificate gets no tunnel', async () => {
    // a pins a wrong (well-formed) fingerprint for b; b still presents its real certificate.
    const wrong = b.fingerprint
      .split(':')
      .map((x, i) => (i === 0 ? (x === 'AA' ? 'AB' : 'AA') : x))
      .join(':');
    await a.backend.applyPeers({ upsert: [{ ...peerOf(b), publicKey: wrong }], remove: [] });
    try {
      expect(await net.pingUntil(a.host.netns, b.v4, 6_000)).to.equal(false);
      const s = (await a.backend.stats()).peers.find((p) => p.id === 'b')!;
      expect(s.state).to.not.equal('up');
    } finally {
      await a.backend.applyPeers({ upsert: [peerOf(b)], remove: [] });
    }
    expect(await net.pingUntil(a.host.netns, b.v4, 30_000)).to.equal(true);
  });

  it('keeps key material off command lines and environments; key and config files are 0600', () => {
    const keyPem = readFileSync(join(a.keyDir, KEY_FILE), 'utf8');
    const keyBody = keyPem
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    const chunk = keyBody.slice(20, 60);
    expect(statSync(join(a.keyDir, KEY_FILE)).mode & 0o777).to.equal(0o600);
    expect(existsSync(join(a.keyDir, CERT_FILE))).to.equal(true);
    let checked = 0;
    for (const n of nodes) {
      for (const inst of n.backend.instances()) {
        expect(statSync(inst.configPath).mode & 0o777).to.equal(0o600);
        expect(readFileSync(inst.configPath, 'utf8')).to.not.include('PRIVATE KEY');
      }
    }
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmd: string;
      let env: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        continue;
      }
      if (!cmd.startsWith('openvpn') && !cmd.includes('\0openvpn\0')) continue;
      checked += 1;
      for (const n of nodes) {
        const body = readFileSync(join(n.keyDir, KEY_FILE), 'utf8')
          .split('\n')
          .filter((l) => l && !l.startsWith('-----'))
          .join('');
        expect(cmd).to.not.include(body.slice(20, 60));
        expect(env).to.not.include(body.slice(20, 60));
      }
      expect(cmd.split('\0').filter(Boolean).slice(-3)).to.satisfy((a: string[]) => a[1] === '--config');
    }
    expect(checked).to.be.greaterThan(0);
    for (const n of nodes) {
      for (const call of n.runner.calls) {
        expect(call.args.join(' ')).to.not.include(chunk);
        expect(JSON.stringify(call.env ?? {})).to.not.include(chunk);
      }
    }
    for (const r of nodes.flatMap((n) => n.logger.records)) expect(JSON.stringify(r)).to.not.include(chunk);
  });

  it('restarts a killed openvpn process (TLS server side, then client side) and traffic resumes', async () => {
    for (const [node, peerId] of [
      [a, 'b'],
      [b, 'a'],
    ] as const) {
      const inst = node.backend.instances().find((i) => i.peer === peerId)!;
      expect(inst.pid).to.be.a('number');
      process.kill(inst.pid!, 'SIGKILL');
      expect(await waitFor(() => node.backend.instances().find((i) => i.peer === peerId)!.restarts >= 1, 10_000)).to.equal(true);
      expect(
        await waitFor(() => {
          const now = node.backend.instances().find((i) => i.peer === peerId)!;
          return now.state === 'running' && now.pid !== inst.pid;
        }, 30_000),
      ).to.equal(true);
      expect(await net.pingUntil(a.host.netns, b.v4, 60_000), `after killing ${node.id}'s instance`).to.equal(true);
      expect(await waitFor(async () => (await node.backend.stats()).peers.find((p) => p.id === peerId)!.state === 'up', 30_000)).to.equal(
        true,
      );
      expect(node.logger.records.some((r) => r.level === 'warn' && String(r.msg).includes('restarting'))).to.equal(true);
    }
  });

  it('roams: updatePeerEndpoint moves the tunnel to a new underlay address (old path blocked)', async () => {
    // As in the conformance kit: b gains a second address, a is told, then a's old path to b is cut.
    const alt = '198.18.0.12';
    net.exec(b.host.netns, 'ip', ['addr', 'replace', `${alt}/24`, 'dev', 'eth0']);
    try {
      await a.backend.updatePeerEndpoint('b', { host: alt, port: BASE_PORT });
      net.exec(
        a.host.netns,
        'nft',
        ['-f', '-'],
        `table inet ovroam { chain o { type filter hook output priority 0; ip daddr ${b.host.underlay} drop; } chain i { type filter hook input priority 0; ip saddr ${b.host.underlay} drop; } }\n`,
      );
      expect(await net.pingUntil(a.host.netns, b.v4, 25_000)).to.equal(true);
      const s = (await a.backend.stats()).peers.find((p) => p.id === 'b')!;
      expect(s.endpoint).to.deep.equal({ host: alt, port: BASE_PORT });
      expect(s.state).to.equal('up');
      expect(await net.pingUntil(a.host.netns, c.v4, 5_000)).to.equal(true);
    } finally {
      net.exec(a.host.netns, 'nft', ['delete', 'table', 'inet', 'ovroam']);
      await a.backend.updatePeerEndpoint('b', { host: b.host.underlay, port: BASE_PORT });
      net.exec(b.host.netns, 'ip', ['addr', 'del', `${alt}/24`, 'dev', 'eth0']);
    }
    expect(await net.pingUntil(a.host.netns, b.v4, 25_000)).to.equal(true);
  });

  it('removing a peer cuts its traffic and deletes its device', async () => {
    const dev = a.backend.instances().find((i) => i.peer === 'c')!.device;
    expect(net.ping(a.host.netns, c.v4, 2)).to.equal(true);
    await a.backend.applyPeers({ upsert: [], remove: ['c'] });
    expect(net.ping(a.host.netns, c.v4, 2)).to.equal(false);
    expect(linkNames(net, a.host.netns)).to.not.include(dev);
    expect((await a.backend.stats()).peers.map((p) => p.id)).to.deep.equal(['b']);
  });

  it('recovers from a crashed host: a new instance on the same state dir ends stale processes and devices', async () => {
    // b's daemon runs in a child process that is SIGKILLed: its openvpn processes, devices and files stay.
    await b.backend.stop();
    const start = {
      nodeId: b.id,
      addresses: [`${b.v4}/32`, `${b.v6}/128`],
      listenPort: BASE_PORT,
      interfaceName: b.prefix,
      keyDirectory: b.keyDir,
    };
    const childPath = new URL('./support/crash-child.js', import.meta.url).pathname;
    const child = spawn(
      process.execPath,
      [childPath, b.host.netns, b.stateDir, JSON.stringify(start), JSON.stringify([peerOf(a), peerOf(c)])],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out);
      });
      child.once('exit', (code) => reject(new Error(`crash child exited ${code}`)));
    });
    const orphans = line.trim().split(' ')[1].split(',').map(Number);
    expect(orphans).to.have.length(2);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    for (const pid of orphans) expect(processRunning(pid), `orphan ${pid} should still run`).to.equal(true);
    expect(linkNames(net, b.host.netns).filter((l) => l.startsWith(b.prefix))).to.have.length(2);
    // A new host process starts the backend on the same state dir.
    await startNode(b);
    // Gone, or a zombie its (non-reaping) init never collects: either way it has exited and released
    // its ports and devices. Not a mere `kill(pid, 0)`: a zombie answers that.
    for (const pid of orphans) expect(processRunning(pid), `orphan ${pid} still running`).to.equal(false);
    expect(linkNames(net, b.host.netns).filter((l) => l.startsWith(b.prefix))).to.deep.equal([]);
    await b.backend.applyPeers({ upsert: [peerOf(a), peerOf(c)], remove: [] });
    expect(await net.pingUntil(a.host.netns, b.v4, 30_000)).to.equal(true);
  });

  it('interoperates with a hand-written plain openvpn config (docs/backends/openvpn.md)', async () => {
    // Node c leaves the plugin and runs plain openvpn with the documented config instead.
    await c.backend.stop();
    await a.backend.applyPeers({ upsert: [peerOf(c)], remove: [] });
    const dir = mkdtempSync(join(tmpdir(), 'rn-ovpn-plain-'));
    const conf = join(dir, 'c.conf');
    writeFileSync(conf, plainClientConfig(c, a), { mode: 0o600 });
    const child: ChildProcess = spawn('ip', ['netns', 'exec', c.host.netns, 'openvpn', '--config', conf], { stdio: 'pipe' });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    try {
      expect(await net.pingUntil(c.host.netns, a.v4, 30_000), out).to.equal(true);
      expect(await net.pingUntil(a.host.netns, c.v4, 10_000)).to.equal(true);
      const s = (await a.backend.stats()).peers.find((p) => p.id === 'c')!;
      expect(s.state).to.equal('up');
      expect(out).to.match(/Data Channel: cipher '(AES-256-GCM|CHACHA20-POLY1305)'/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies maxPeers - 2 = 126 peers in one batch (concurrently), routes them in one call, removes them in one call; stop leaves nothing', async () => {
    // Addressing as in the conformance kit's batch test: 100.65.x.y, half with an endpoint (here c's
    // underlay address, where nothing listens on those ports: no traffic leaves the test network).
    const bulk = Array.from({ length: 126 }, (_, i) => ({
      id: `bulk-${String(i).padStart(3, '0')}`,
      publicKey: Array.from({ length: 32 }, (_, k) => ((i * 7 + k) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':'),
      allowedIps: [`100.65.${Math.floor(i / 250)}.${(i % 250) + 1}/32`],
      ...(i % 2 === 0 ? { endpoint: { host: c.host.underlay, port: 40000 + i } } : {}),
    }));
    const calls0 = a.runner.calls.length;
    const t0 = Date.now();
    await a.backend.applyPeers({ upsert: bulk, remove: [] });
    console.log(`      126 peers applied in ${Date.now() - t0} ms`);
    const calls = a.runner.calls.slice(calls0);
    expect(calls.filter((x) => x.kind === 'run')).to.have.length(2); // one ip -batch, one sysctl
    expect(calls.filter((x) => x.kind === 'spawn')).to.have.length(126); // one long-lived openvpn per peer
    expect(a.backend.instances().filter((i) => i.state === 'running')).to.have.length(128);
    expect(linkNames(net, a.host.netns).filter((l) => l.startsWith(a.prefix))).to.have.length(128);
    const r0 = a.runner.calls.length;
    await a.backend.applyRoutes({ add: bulk.map((p) => ({ destination: p.allowedIps[0], peer: p.id })), remove: [] });
    expect(a.runner.calls.length - r0).to.equal(1);
    expect((await a.backend.stats()).peers).to.have.length(128);
    // b's tunnel is unaffected by the batch.
    expect(await net.pingUntil(a.host.netns, b.v4, 10_000)).to.equal(true);
    await expectCode(
      a.backend.applyPeers({ upsert: [{ ...peerOf(c), id: 'one-too-many', allowedIps: ['100.64.0.99/32'] }], remove: [] }),
      'UNSUPPORTED',
    );
    const d0 = a.runner.calls.length;
    await a.backend.applyPeers({ upsert: [], remove: bulk.map((p) => p.id) });
    await a.backend.applyRoutes({ add: [], remove: bulk.map((p) => ({ destination: p.allowedIps[0], peer: p.id })) });
    expect(a.runner.calls.length - d0).to.equal(1);
    expect((await a.backend.stats()).peers.map((p) => p.id)).to.deep.equal(['b', 'c']);

    const stateDir = a.stateDir;
    await a.backend.stop();
    await a.backend.stop(); // idempotent
    expect(linkNames(net, a.host.netns).filter((l) => l.startsWith(a.prefix))).to.deep.equal([]);
    expect(net.exec(a.host.netns, 'ip', ['route', 'show', 'dev', 'lo']).code).to.equal(0);
    expect(net.exec(a.host.netns, 'ip', ['-6', 'route']).stdout).to.not.include('fd00:6f76');
    expect(net.exec(a.host.netns, 'ip', ['route']).stdout).to.not.include('100.64.');
    const nsPids = (await import('node:child_process'))
      .spawnSync('ip', ['netns', 'pids', a.host.netns], { encoding: 'utf8' })
      .stdout.trim();
    expect(nsPids).to.equal('');
    expect(existsSync(join(stateDir, 'openvpn'))).to.equal(false);
    await expectCode(a.backend.stats(), 'NOT_RUNNING');
    await expectCode(a.backend.applyPeers({ upsert: [], remove: [] }), 'NOT_RUNNING');
    // start after stop works
    await startNode(a);
    await expectCode(startNode(a), 'ALREADY_RUNNING');
    await a.backend.applyPeers({ upsert: [peerOf(b)], remove: [] });
    expect(await net.pingUntil(a.host.netns, b.v4, 30_000)).to.equal(true);
  });
});
