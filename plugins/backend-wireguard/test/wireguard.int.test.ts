/**
 * Integration test: two network namespaces, one WireGuard backend instance in each (wireguard-go
 * here: no kernel module), real packets through the tunnel. Needs root, wireguard-tools and
 * wireguard-go. Touches nothing outside the namespaces it creates. Nodes in support/wg-nodes.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { PeerConfig } from '@rustynet/plugin-api';
import { createPlugin, WireguardBackend } from '../src/index.js';
import { makeContext } from './support/context.js';
import { caught, randomPublicKey } from './support/keys.js';
import { NetnsRunner } from './support/netns-runner.js';
import { TwoNs, sh } from './support/two-ns.js';
import { allCmdlinesAndEnvirons, haveTools, makeNode, type Node } from './support/wg-nodes.js';

describe('WireGuard backend between two network namespaces (integration)', function () {
  this.timeout(60_000);
  let net: TwoNs;
  let a: Node;
  let b: Node;

  before(async function () {
    if (!haveTools()) this.skip();
    net = await TwoNs.create();
    a = await makeNode(net, 'a', net.nsA, net.underlayA, 1);
    b = await makeNode(net, 'b', net.nsB, net.underlayB, 2);
  });

  after(async function () {
    for (const n of [a, b]) await n?.plugin.stop().catch(() => undefined);
    net?.destroySync();
  });

  const peerOf = (n: Node, withEndpoint: boolean, extra: string[] = []): PeerConfig => ({
    id: n === a ? 'a' : 'b',
    publicKey: n.publicKey,
    allowedIps: [`${n.v4}/32`, `${n.v6}/128`, ...extra],
    ...(withEndpoint && { endpoint: { host: n.underlay, port: n.listenPort } }),
  });

  const startBoth = async (): Promise<void> => {
    for (const [n, port] of [
      [a, 51820],
      [b, 0],
    ] as const) {
      await n.plugin.start({
        nodeId: n === a ? 'a' : 'b',
        interfaceName: n.ifname,
        addresses: [`${n.v4}/32`, `${n.v6}/128`],
        listenPort: port,
        mtu: 1400,
        keyDirectory: n.keyDir,
      });
      n.listenPort = (await n.plugin.stats()).listenPort!;
    }
  };

  it('starts a WireGuard device (wireguard-go fallback) in each namespace', async () => {
    await startBoth();
    expect(a.listenPort).to.equal(51820);
    expect(b.listenPort).to.be.within(1, 65535);
    for (const n of [a, b]) {
      const link = await sh('ip', ['-n', n.ns, '-o', 'link', 'show', 'dev', n.ifname]);
      expect(link.code, link.stderr).to.equal(0);
      expect(link.stdout).to.include('mtu 1400').and.include('UP');
      const addr = await sh('ip', ['-n', n.ns, '-o', 'addr', 'show', 'dev', n.ifname]);
      expect(addr.stdout).to.include(`${n.v4}/32`).and.include(`${n.v6}/128`);
      expect(existsSync(`/var/run/wireguard/${n.ifname}.sock`)).to.equal(true);
      expect((await n.plugin.stats()).interfaces).to.deep.equal([n.ifname]);
    }
    expect(
      (
        await caught(() =>
          a.plugin.start({ nodeId: 'a', interfaceName: a.ifname, addresses: [`${a.v4}/32`], listenPort: 1, keyDirectory: a.keyDir }),
        )
      ).code,
    ).to.equal('ALREADY_RUNNING');
  });

  it('refuses an interface name that wireguard-go already serves in another namespace, and leaves that one alone', async () => {
    const other = createPlugin(makeContext(new NetnsRunner(b.ns)));
    const err = await caught(() =>
      other.start({ nodeId: 'c', interfaceName: a.ifname, addresses: ['100.64.250.1/32'], listenPort: 0, keyDirectory: b.keyDir }),
    );
    expect([err.code, err.field]).to.deep.equal(['BACKEND_FAILED', 'interfaceName']);
    expect((await sh('ip', ['-n', b.ns, 'link', 'show', 'dev', a.ifname])).code).to.not.equal(0);
    expect(existsSync(`/var/run/wireguard/${a.ifname}.sock`)).to.equal(true);
    const s = await a.plugin.stats();
    expect(s.listenPort).to.equal(51820);
    const pub = (await sh('ip', ['netns', 'exec', a.ns, 'wg', 'show', a.ifname, 'public-key'])).stdout.trim();
    expect(pub).to.equal(a.publicKey);
  });

  it('carries IPv4 and IPv6 both ways once peers and routes are applied', async () => {
    // a knows b's endpoint; b has no endpoint for a (it learns it from a's handshake).
    await a.plugin.applyPeers({ upsert: [{ ...peerOf(b, true, ['10.99.0.0/16']), persistentKeepalive: 25 }], remove: [] });
    await b.plugin.applyPeers({ upsert: [peerOf(a, false)], remove: [] });
    for (const [n, p] of [
      [a, b],
      [b, a],
    ] as const) {
      await n.plugin.applyRoutes({
        add: [
          { destination: `${p.v4}/32`, peer: p === a ? 'a' : 'b' },
          { destination: `${p.v6}/128`, peer: p === a ? 'a' : 'b' },
        ],
        remove: [],
      });
    }
    const r = await sh('ip', ['-n', a.ns, 'route', 'show', `${b.v4}/32`]);
    expect(r.stdout).to.include(`dev ${a.ifname}`);
    expect(await net.ping(a.ns, b.v4), 'a -> b IPv4').to.equal(true);
    expect(await net.ping(b.ns, a.v4), 'b -> a IPv4').to.equal(true);
    expect(await net.ping(a.ns, b.v6), 'a -> b IPv6').to.equal(true);
    expect(await net.ping(b.ns, a.v6), 'b -> a IPv6').to.equal(true);
  });

  it('reports handshake times, learned endpoints and moving byte counters', async () => {
    const s1 = await a.plugin.stats();
    const pb = s1.peers.find((p) => p.id === 'b')!;
    expect(pb.lastHandshakeAt).to.be.a('number');
    expect(Math.abs(Date.now() - pb.lastHandshakeAt!)).to.be.below(120_000);
    expect(pb.endpoint).to.deep.equal({ host: b.underlay, port: b.listenPort });
    expect(pb.rxBytes).to.be.above(0);
    expect(pb.txBytes).to.be.above(0);
    expect(pb.state).to.equal('up');
    const sb = await b.plugin.stats();
    expect(sb.peers.find((p) => p.id === 'a')!.endpoint).to.deep.equal({ host: a.underlay, port: 51820 });
    expect(await net.ping(a.ns, b.v4, 2)).to.equal(true);
    const pb2 = (await a.plugin.stats()).peers.find((p) => p.id === 'b')!;
    expect(pb2.rxBytes).to.be.above(pb.rxBytes);
    expect(pb2.txBytes).to.be.above(pb.txBytes);
  });

  it('adds and removes a LAN route visible in ip route (IPv4 and IPv6)', async () => {
    await a.plugin.applyPeers({ upsert: [{ ...peerOf(b, true, ['10.99.0.0/16', 'fd7a:99::/64']), persistentKeepalive: 25 }], remove: [] });
    await a.plugin.applyRoutes({
      add: [
        { destination: '10.99.0.0/16', peer: 'b' },
        { destination: 'fd7a:99::/64', peer: 'b' },
      ],
      remove: [],
    });
    expect((await sh('ip', ['-n', a.ns, 'route', 'show', '10.99.0.0/16'])).stdout).to.include(`dev ${a.ifname}`);
    expect((await sh('ip', ['-n', a.ns, '-6', 'route', 'show', 'fd7a:99::/64'])).stdout).to.include(`dev ${a.ifname}`);
    await a.plugin.applyRoutes({
      add: [],
      remove: [
        { destination: '10.99.0.0/16', peer: 'b' },
        { destination: 'fd7a:99::/64', peer: 'b' },
      ],
    });
    expect((await sh('ip', ['-n', a.ns, 'route', 'show', '10.99.0.0/16'])).stdout.trim()).to.equal('');
    expect((await sh('ip', ['-n', a.ns, '-6', 'route', 'show', 'fd7a:99::/64'])).stdout.trim()).to.equal('');
  });

  it('exit node: default routes (IPv4 and IPv6) through the peer, underlay stays direct, all removed again', async () => {
    const inet4 = `198.19.${net.subnet}.9`;
    const inet6 = `fd7a:9999:${net.subnet.toString(16)}::9`;
    for (const addr of [`${inet4}/32`, `${inet6}/128`])
      expect((await sh('ip', ['-n', b.ns, 'addr', 'add', addr, 'dev', 'lo'])).code).to.equal(0);
    await a.plugin.applyPeers({ upsert: [{ ...peerOf(b, true, ['0.0.0.0/0', '::/0']), persistentKeepalive: 25 }], remove: [] });
    expect(await net.ping(a.ns, inet4, 1, 2), 'no route before').to.equal(false);
    await a.plugin.applyRoutes({
      add: [
        { destination: '0.0.0.0/0', peer: 'b' },
        { destination: '::/0', peer: 'b' },
      ],
      remove: [],
    });
    expect((await sh('ip', ['-n', a.ns, 'route', 'get', inet4])).stdout).to.include(`dev ${a.ifname}`);
    expect((await sh('ip', ['-n', a.ns, 'route', 'get', b.underlay])).stdout).to.include(`dev ${net.vethA}`);
    expect(await net.ping(a.ns, inet4), 'a -> exit IPv4').to.equal(true);
    expect(await net.ping(a.ns, inet6), 'a -> exit IPv6').to.equal(true);
    expect(await net.ping(a.ns, b.underlay), 'underlay direct').to.equal(true);
    expect(await net.ping(a.ns, b.v4), 'overlay').to.equal(true);
    expect((await sh('ip', ['-n', a.ns, 'rule'])).stdout).to.include('lookup 51820');
    await a.plugin.applyRoutes({
      add: [],
      remove: [
        { destination: '0.0.0.0/0', peer: 'b' },
        { destination: '::/0', peer: 'b' },
      ],
    });
    expect((await sh('ip', ['-n', a.ns, 'rule'])).stdout).not.to.include('51820');
    expect((await sh('ip', ['-n', a.ns, '-6', 'rule'])).stdout).not.to.include('51820');
    expect(await net.ping(a.ns, inet4, 1, 2), 'no route after').to.equal(false);
    await a.plugin.applyPeers({ upsert: [{ ...peerOf(b, true), persistentKeepalive: 25 }], remove: [] });
    expect(await net.ping(a.ns, b.v4), 'overlay still up').to.equal(true);
  });

  it('rejects bad input with the documented code, changes nothing, and traffic still flows', async () => {
    const wgState = async (): Promise<string> => (await sh('ip', ['netns', 'exec', a.ns, 'wg', 'show', a.ifname, 'allowed-ips'])).stdout;
    const routes = async (): Promise<string> =>
      (await sh('ip', ['-n', a.ns, 'route'])).stdout + (await sh('ip', ['-n', a.ns, '-6', 'route'])).stdout;
    const before = [await wgState(), await routes()];
    const good = { id: 'c', publicKey: randomPublicKey(), allowedIps: ['100.64.200.3/32'] };
    const cases: Array<[string, string | undefined, () => Promise<void>]> = [
      [
        'INVALID_INPUT',
        'upsert[1].allowedIps[0]',
        () =>
          a.plugin.applyPeers({
            upsert: [good, { ...good, id: 'd', publicKey: randomPublicKey(), allowedIps: ['100.64.300.0/24'] }],
            remove: [],
          }),
      ],
      [
        'INVALID_INPUT',
        'upsert[1].allowedIps[0]',
        () =>
          a.plugin.applyPeers({
            upsert: [good, { ...good, id: 'd', publicKey: randomPublicKey(), allowedIps: ['100.64.0.1/24'] }],
            remove: [],
          }),
      ],
      [
        'INVALID_INPUT',
        'upsert[1].publicKey',
        () => a.plugin.applyPeers({ upsert: [good, { ...good, id: 'd', publicKey: 'bm90IGEga2V5' }], remove: [] }),
      ],
      ['UNKNOWN_PEER', 'remove[0]', () => a.plugin.applyPeers({ upsert: [good], remove: ['nobody'] })],
      ['DUPLICATE_PEER', 'upsert[1].id', () => a.plugin.applyPeers({ upsert: [good, good], remove: [] })],
      ['DUPLICATE_PEER', 'remove[0]', () => a.plugin.applyPeers({ upsert: [peerOf(b, true)], remove: ['b'] })],
      [
        'UNKNOWN_PEER',
        'add[1].peer',
        () =>
          a.plugin.applyRoutes({
            add: [
              { destination: '10.98.0.0/16', peer: 'b' },
              { destination: '10.97.0.0/16', peer: 'nobody' },
            ],
            remove: [],
          }),
      ],
      [
        'INVALID_INPUT',
        'add[1].destination',
        () =>
          a.plugin.applyRoutes({
            add: [
              { destination: '10.98.0.0/16', peer: 'b' },
              { destination: '10.97.0.0/99', peer: 'b' },
            ],
            remove: [],
          }),
      ],
      ['UNKNOWN_PEER', 'peer', () => a.plugin.updatePeerEndpoint('nobody', { host: b.underlay, port: 1 })],
      ['INVALID_INPUT', 'endpoint.host', () => a.plugin.updatePeerEndpoint('b', { host: 'b.example', port: 1 })],
    ];
    for (const [code, field, fn] of cases) {
      const err = await caught(fn);
      expect(err.code, err.message).to.equal(code);
      if (field) expect(err.field).to.equal(field);
    }
    expect([await wgState(), await routes()]).to.deep.equal(before);
    expect(await net.ping(a.ns, b.v4, 2)).to.equal(true);
  });

  it('roams: updatePeerEndpoint moves traffic to a new underlay address', async () => {
    const newAddr = `198.18.${net.subnet}.3`;
    expect((await sh('ip', ['-n', b.ns, 'addr', 'add', `${newAddr}/24`, 'dev', net.vethB])).code).to.equal(0);
    await a.plugin.updatePeerEndpoint('b', { host: newAddr, port: b.listenPort });
    expect(await net.ping(a.ns, b.v4, 2)).to.equal(true);
    const pb = (await a.plugin.stats()).peers.find((p) => p.id === 'b')!;
    expect(pb.endpoint).to.deep.equal({ host: newAddr, port: b.listenPort });
  });

  it('never puts a private key on a command line, in an environment or in the logs', () => {
    const everything = allCmdlinesAndEnvirons();
    for (const n of [a, b]) {
      expect(everything).not.to.include(n.privateKey);
      expect(n.runner.argvText()).not.to.include(n.privateKey);
      expect(n.logger.text()).not.to.include(n.privateKey);
      expect(n.runner.argvText()).to.include(join(n.keyDir, 'private.key'));
    }
  });

  it('removing the peer cuts traffic', async () => {
    await a.plugin.applyPeers({ upsert: [], remove: ['b'] });
    expect((await sh('ip', ['netns', 'exec', a.ns, 'wg', 'show', a.ifname, 'peers'])).stdout.trim()).to.equal('');
    expect(await net.ping(a.ns, b.v4, 1, 3), 'a -> b after removal').to.equal(false);
    expect(await net.ping(b.ns, a.v4, 1, 3), 'b -> a after removal').to.equal(false);
    expect((await a.plugin.stats()).peers).to.deep.equal([]);
  });

  it('stop leaves no interface, process or socket behind; stop is idempotent; start works again', async () => {
    const pidsOf = async (ns: string): Promise<number[]> =>
      (await sh('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
    const pids = [...(await pidsOf(a.ns)), ...(await pidsOf(b.ns))];
    expect(pids.length).to.be.at.least(2);
    for (const n of [a, b]) {
      await n.plugin.stop();
      await n.plugin.stop();
      expect((await sh('ip', ['-n', n.ns, 'link', 'show', 'dev', n.ifname])).code).to.not.equal(0);
      expect(existsSync(`/var/run/wireguard/${n.ifname}.sock`)).to.equal(false);
      expect((await caught(() => n.plugin.stats())).code).to.equal('NOT_RUNNING');
      expect((await caught(() => n.plugin.applyPeers({ upsert: [], remove: [] }))).code).to.equal('NOT_RUNNING');
    }
    for (const pid of pids) expect(() => process.kill(pid, 0), `pid ${pid} still alive`).to.throw();
    expect(await pidsOf(a.ns)).to.deep.equal([]);
    expect((await sh('ip', ['-n', a.ns, 'route', 'show', `${b.v4}/32`])).stdout.trim()).to.equal('');

    await startBoth();
    await a.plugin.applyPeers({ upsert: [peerOf(b, true)], remove: [] });
    await b.plugin.applyPeers({ upsert: [peerOf(a, true)], remove: [] });
    await a.plugin.applyRoutes({ add: [{ destination: `${b.v4}/32`, peer: 'b' }], remove: [] });
    await b.plugin.applyRoutes({ add: [{ destination: `${a.v4}/32`, peer: 'a' }], remove: [] });
    expect(await net.ping(a.ns, b.v4, 2)).to.equal(true);
  });

  it('applies 1000 peers with one wg process', async () => {
    const wgCallsBefore = a.runner.calls.filter((c) => c.file === 'wg').length;
    const many: PeerConfig[] = Array.from({ length: 1000 }, (_, i) => ({
      id: `m${i}`,
      publicKey: randomPublicKey(),
      endpoint: { host: `198.19.${i >> 8}.${i & 255}`, port: 51820 },
      allowedIps: [`100.96.${i >> 8}.${i & 255}/32`, `fd7a:1000::${i.toString(16)}/128`],
      persistentKeepalive: 0,
    }));
    const t0 = process.hrtime.bigint();
    await a.plugin.applyPeers({ upsert: many, remove: [] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (!(a.plugin instanceof WireguardBackend)) throw new Error('createPlugin did not return a WireguardBackend');
    console.log(`      1000-peer applyPeers on wireguard-go: ${ms.toFixed(0)} ms, ${a.plugin.commandCount} commands so far`);
    expect(a.runner.calls.filter((c) => c.file === 'wg').length - wgCallsBefore).to.equal(1);
    const peersNow = (await sh('ip', ['netns', 'exec', a.ns, 'wg', 'show', a.ifname, 'peers'])).stdout.trim().split('\n');
    expect(peersNow).to.have.length(1001);
    expect(await net.ping(a.ns, b.v4, 2)).to.equal(true);
    const t1 = process.hrtime.bigint();
    await a.plugin.applyPeers({ upsert: [], remove: many.map((p) => p.id) });
    console.log(`      1000-peer removal: ${(Number(process.hrtime.bigint() - t1) / 1e6).toFixed(0)} ms`);
    expect((await a.plugin.stats()).peers.map((p) => p.id)).to.deep.equal(['b']);
  });

  it('an aborted start leaves nothing behind, wherever the abort lands', async () => {
    const ifname = `${net.prefix}gc`;
    const plugin = createPlugin(makeContext(new NetnsRunner(b.ns)));
    const outcomes: string[] = [];
    for (const ms of [1, 10, 25, 50, 100, 200]) {
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), ms);
      try {
        await plugin.start(
          { nodeId: 'c', interfaceName: ifname, addresses: ['100.64.250.1/32'], listenPort: 0, keyDirectory: b.keyDir },
          { signal: ac.signal },
        );
        outcomes.push('started');
        await plugin.stop();
      } catch (err) {
        outcomes.push((err as { code: string }).code);
        expect((err as { code: string }).code).to.equal('ABORTED');
      } finally {
        clearTimeout(t);
      }
      expect((await sh('ip', ['-n', b.ns, 'link', 'show', 'dev', ifname])).code, `link after abort at ${ms} ms`).to.not.equal(0);
      expect(existsSync(`/var/run/wireguard/${ifname}.sock`), `socket after abort at ${ms} ms`).to.equal(false);
      expect((await caught(() => plugin.stats())).code).to.equal('NOT_RUNNING');
    }
    console.log(`      abort outcomes: ${outcomes.join(', ')}`);
    expect(await net.ping(a.ns, b.v4)).to.equal(true);
  });
});
