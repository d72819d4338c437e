/**
 * Several relays on loopback (docs/relay.md, "Several relays"): registration with every relay,
 * the home relay, failover when the home relay dies, and peers whose homes differ. Nothing is
 * timed: waits poll until a condition holds and the mocha timeout bounds them.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { isRustynetError, type Endpoint, type NetmapRelay, type RelayPlugin } from '@rustynet/plugin-api';
import { createPlugin, createRelayServer, type RelayServer } from '../src/index.js';
import type { RelayHealth } from '../src/client/relay-selection.js';
import { makeContext, makeKey, udpSocket, type TestKey } from './helpers.js';

type Client = RelayPlugin & { relays(): RelayHealth[]; info(): { relay: string | null } };

const FAST = {
  probeIntervalMs: 50,
  keepaliveIntervalMs: 100,
  keepaliveMisses: 3,
  attemptTimeoutMs: 100,
  initialBackoffMs: 10,
  maxBackoffMs: 100,
};

async function until(_what: string, pred: () => boolean | Promise<boolean>): Promise<void> {
  for (;;) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('relay client: several relays', () => {
  let keys: Record<string, TestKey>;
  const servers = new Map<string, RelayServer>();
  const relays: NetmapRelay[] = [];
  const plugins: RelayPlugin[] = [];
  const closers: Array<() => Promise<void>> = [];

  async function startServer(id: string, listen: Endpoint = { host: '127.0.0.1', port: 0 }): Promise<Endpoint> {
    const s = createRelayServer({
      listen,
      relayId: id,
      identityKeys: Object.fromEntries(Object.entries(keys).map(([n, k]) => [n, k.publicKeyB64])),
    });
    servers.set(id, s);
    return s.start();
  }

  beforeEach(async () => {
    keys = { a: makeKey(), b: makeKey() };
    relays.length = 0;
    for (const [id, region] of [
      ['r1', 'eu'],
      ['r2', 'us'],
      ['r3', 'us'],
    ]) {
      relays.push({ id, region, endpoint: await startServer(id) });
    }
  });

  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((p) => p.stop()));
    await Promise.all(closers.splice(0).map((c) => c()));
    await Promise.all([...servers.values()].map((s) => s.stop()));
    servers.clear();
  });

  async function started(id: string, list: NetmapRelay[] = relays): Promise<Client> {
    const p = createPlugin(makeContext(FAST)) as Client;
    plugins.push(p);
    await p.start({ nodeId: id, relays: list, sign: keys[id].sign });
    return p;
  }

  /** Two backends (plain UDP sockets) talking through a's path to b and b's path to a. */
  async function pair(
    pa: Client,
    pb: Client,
  ): Promise<{ send: (m: string) => void; next: () => Promise<string>; reply: (m: string) => void; nextAtA: () => Promise<string> }> {
    const ba = await udpSocket();
    const bb = await udpSocket();
    closers.push(ba.close, bb.close);
    const epA = await pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: ba.port } });
    const epB = await pb.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: bb.port } });
    return {
      send: (m) => ba.socket.send(Buffer.from(m), epA.port, epA.host),
      next: async () => (await bb.next()).toString(),
      reply: (m) => bb.socket.send(Buffer.from(m), epB.port, epB.host),
      nextAtA: async () => (await ba.next()).toString(),
    };
  }

  it('registers with every relay, reports each one with its region and health, and has exactly one home', async () => {
    const pa = await started('a');
    await until('all healthy', () => pa.relays().every((h) => h.healthy));
    const h = pa.relays();
    expect(h.map((x) => [x.id, x.region, x.registered])).to.deep.equal([
      ['r1', 'eu', true],
      ['r2', 'us', true],
      ['r3', 'us', true],
    ]);
    for (const x of h) expect(x.rttMs).to.be.a('number').and.to.be.at.least(0);
    expect(h.filter((x) => x.home)).to.have.length(1);
    for (const s of servers.values()) expect(s.stats().sessions).to.equal(1);
  });

  it('the home relay dies: relayed datagrams continue through another relay (the backend endpoint stays the same)', async () => {
    const pa = await started('a');
    const pb = await started('b');
    await until('all healthy', () => [pa, pb].every((p) => p.relays().every((h) => h.healthy)));
    const link = await pair(pa, pb);
    link.send('before');
    expect(await link.next()).to.equal('before');
    const home = pa.info().relay;
    expect(home).to.be.a('string');
    const pathBefore = (await pa.status())[0];
    await servers.get(home!)!.stop();
    servers.delete(home!);
    await until('a moved home', () => pa.info().relay !== home && pa.info().relay !== null);
    const pump = setInterval(() => link.send('after'), 20);
    try {
      let got: string | undefined;
      while (got !== 'after') got = await link.next();
    } finally {
      clearInterval(pump);
    }
    const pathAfter = (await pa.status())[0];
    expect(pathAfter.localEndpoint, 'the backend keeps its peer endpoint').to.deep.equal(pathBefore.localEndpoint);
    expect(pathAfter.relay).to.not.equal(home);
    const dead = pa.relays().find((h) => h.id === home);
    expect(dead?.healthy).to.equal(false);
  });

  it('peers whose homes differ reach each other: a lists only r1, b has another home relay and answers through r1, where it heard a', async () => {
    // a lists r1 only (its home must be r1); b lists all three but r1 is first: b registers with
    // every one and its home is whichever is nearest; a's datagrams arrive at b through r1 and b
    // answers through the relay it last heard a on.
    const pa = await started('a', [relays[0]]);
    const pb = await started('b', [relays[1], relays[2], relays[0]]);
    await until('b registered with r1', () => pb.relays().find((h) => h.id === 'r1')?.healthy === true);
    const la = await pair(pa, pb);
    la.send('a->b');
    expect(await la.next()).to.equal('a->b');
    // b answers through r1, where it heard a, although its home is r2 or r3
    expect(pb.info().relay).to.not.equal('r1');
    la.reply('b->a');
    expect(await la.nextAtA()).to.equal('b->a');
    expect((await pb.status()).find((p) => p.peer === 'a')?.relay).to.equal('r1');
    expect((await pa.status()).find((p) => p.peer === 'b')?.relay).to.equal('r1');
  });

  it('a relay that comes back is registered again and becomes healthy (no restart of the client)', async () => {
    const pa = await started('a');
    await until('all healthy', () => pa.relays().every((h) => h.healthy));
    const ep = relays[1].endpoint;
    await servers.get('r2')!.stop();
    await until('r2 unhealthy', () => pa.relays().find((h) => h.id === 'r2')?.registered === false);
    await startServer('r2', ep);
    await until('r2 healthy again', () => pa.relays().find((h) => h.id === 'r2')?.healthy === true);
  });

  it('hostile start config: duplicate relay ids and a bad region are INVALID_INPUT naming the field, nothing sent', async () => {
    const witness = createSocket('udp4');
    let got = 0;
    witness.on('message', () => got++);
    await new Promise<void>((r) => witness.bind(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => witness.close(() => r())));
    const ep = { host: '127.0.0.1', port: witness.address().port };
    for (const [list, field] of [
      [
        [
          { id: 'x', endpoint: ep },
          { id: 'x', endpoint: ep, region: 'eu' },
        ],
        'relays[1].id',
      ],
      [[{ id: 'x', endpoint: ep, region: 'bad region!' }], 'relays[0].region'],
      [[{ id: 'x', endpoint: ep, region: 7 }], 'relays[0].region'],
    ] as const) {
      const p = createPlugin(makeContext(FAST));
      plugins.push(p);
      try {
        await p.start({ nodeId: 'a', relays: list as unknown as NetmapRelay[], sign: keys.a.sign });
        expect.fail('expected INVALID_INPUT');
      } catch (err) {
        expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
        expect((err as { field?: string }).field).to.equal(field);
      }
    }
    expect(got).to.equal(0);
  });
});
