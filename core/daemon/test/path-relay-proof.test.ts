import { expect } from 'chai';
import type { Endpoint, Logger, NetmapNode } from '@rustynet/plugin-api';
import { PathController } from '../src/path/path-controller.js';
import { DirectPathProber } from '../src/path/prober.js';
import { RELAY_PROBE_PORT } from '../src/path/relay-probe-transport.js';
import { FakeNet, ManualClock, identity } from './path-fakes.js';
import { makeNode } from './helpers.js';

const PROBE_PORT = 41641;
const N1_HOST = '198.18.0.2'; // makeNode(1)'s underlay host

/** A logger that keeps the warnings. */
function warnings(): { logger: Logger; warns: Array<{ obj: unknown; msg: string | undefined }> } {
  const warns: Array<{ obj: unknown; msg: string | undefined }> = [];
  const noop = (): void => {};
  const logger: Logger = {
    trace: noop,
    debug: noop,
    info: noop,
    warn: (obj, msg) => warns.push({ obj, msg }),
    error: noop,
    child: () => logger,
  };
  return { logger, warns };
}

/**
 * n0 (the controller) and n1, n2 (responders), on two fake networks: the underlay (direct probes)
 * and the relay's probe channel (`relay.block('n1')`: the relay cannot reach n1's daemon, e.g.
 * it is not registered). `relayAnswers: false` gives n1 no relay-channel responder at all.
 */
function setup(relayAnswers = true, failuresToRelay = 3) {
  const direct = new FakeNet();
  const relay = new FakeNet();
  const clock = new ManualClock();
  const ids = { n0: identity(), n1: identity(), n2: identity() };
  const nodes: NetmapNode[] = [0, 1, 2].map((i) => makeNode(i, { identityKey: ids[`n${i}` as 'n0'].publicKeyB64, probePort: PROBE_PORT }));
  const prober = (id: 'n0' | 'n1' | 'n2', channel: 'direct' | 'relay'): DirectPathProber => {
    const n = nodes.find((x) => x.id === id)!;
    const at: Endpoint = channel === 'direct' ? { host: n.endpoints[0].host, port: PROBE_PORT } : { host: id, port: RELAY_PROBE_PORT };
    const p = new DirectPathProber({
      selfId: id,
      sign: ids[id].sign,
      clock,
      channel,
      transport: (channel === 'direct' ? direct : relay).attach(at),
    });
    p.setPeers(nodes.filter((x) => x.id !== id).map((x) => ({ id: x.id, identityKey: x.identityKey })));
    return p;
  };
  for (const id of ['n1', 'n2'] as const) {
    prober(id, 'direct');
    if (relayAnswers || id !== 'n1') prober(id, 'relay');
  }
  const calls: string[] = [];
  const { logger, warns } = warnings();
  const ctl = new PathController({
    selfId: 'n0',
    prober: prober('n0', 'direct'),
    relayProber: prober('n0', 'relay'),
    relay: {
      openPath: (req) => {
        calls.push(`openPath ${req.peer}`);
        return Promise.resolve({ host: '127.0.0.1', port: 40001 });
      },
      closePath: (peer) => {
        calls.push(`closePath ${peer}`);
        return Promise.resolve();
      },
    },
    backend: {
      updatePeerEndpoint: (peer, ep) => {
        calls.push(`update ${peer} ${ep.host}:${ep.port}`);
        return Promise.resolve();
      },
    },
    backendEndpoint: () => ({ host: '127.0.0.1', port: 51820 }),
    clock,
    logger,
    failuresToRelay,
  });
  const ticks = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      clock.advance(500);
      await ctl.tick();
    }
  };
  const n1 = (): ReturnType<PathController['snapshot']>[number] => ctl.snapshot().find((s) => s.peer === 'n1')!;
  return { direct, relay, ctl, calls, warns, ticks, n1, nodes };
}

describe('path controller: the relay path is proven before a switch', () => {
  it('direct probes failing and a relayed probe answered: the peer moves to the relay', async () => {
    const r = setup();
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    await r.ticks(2);
    expect(r.n1().relayProbe, 'no relayed probe while the direct path answers').to.equal(undefined);
    expect(r.relay.log).to.have.length(0);
    r.direct.block(N1_HOST);
    await r.ticks(4); // the first scores the PING answered before the block; then 3 misses
    expect(r.ctl.pathFor('n1')).to.equal('relay');
    expect(r.calls).to.deep.equal(['openPath n1', 'update n1 127.0.0.1:40001']);
    // Only n1's daemon was probed through the relay (n2's direct path answers).
    expect(r.relay.log.every((l) => l.to === 'n1:0' || l.from === 'n1:0')).to.equal(true);
    await r.ctl.stop();
  });

  it("the relay cannot reach the peer's daemon: the peer stays direct, logged once; it moves as soon as a relayed probe is answered", async () => {
    const r = setup();
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    await r.ticks(1);
    r.direct.block(N1_HOST);
    r.relay.block('n1');
    await r.ticks(10);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.calls, 'no relay path opened, no endpoint change').to.deep.equal([]);
    expect(r.n1()).to.include({ misses: 9, relayProbe: 'unanswered' });
    const holds = r.warns.filter((w) => w.msg?.includes('no relayed probe answered'));
    expect(holds).to.have.length(1);
    expect(holds[0].obj).to.include({ peer: 'n1' });
    // The relay reaches n1's daemon again: the next relayed PING is answered and n1 moves.
    r.relay.unblock('n1');
    await r.ticks(3); // the relayed PING sent while blocked times out (2 rounds), the next one is answered

    expect(r.ctl.pathFor('n1')).to.equal('relay');
    expect(r.calls).to.deep.equal(['openPath n1', 'update n1 127.0.0.1:40001']);
    await r.ctl.stop();
  });

  it('a peer whose daemon has no relay-channel responder (not registered) is never moved', async () => {
    const r = setup(false);
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    await r.ticks(1);
    r.direct.block(N1_HOST);
    await r.ticks(8);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.calls).to.deep.equal([]);
    expect(r.relay.log.filter((l) => l.to === 'n1:0').length, 'relayed PINGs were sent').to.be.greaterThan(0);
    await r.ctl.stop();
  });

  it('direct probes answered again: the relay proof is forgotten and relayed probing stops', async () => {
    const r = setup(true, 5);
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    await r.ticks(1);
    r.direct.block(N1_HOST);
    await r.ticks(3); // 2 misses: relayed probing has started, no switch yet
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.n1().relayProbe).to.equal('answered');
    r.direct.unblock(N1_HOST);
    await r.ticks(2); // scores the PING sent while blocked (a third miss), then a reply
    expect(r.n1()).to.include({ misses: 0 });
    expect(r.n1().relayProbe).to.equal(undefined);
    const sent = r.relay.log.length;
    await r.ticks(3);
    expect(r.relay.log.length, 'no relayed probes while the direct path answers').to.equal(sent);
    expect(r.calls).to.deep.equal([]);
    await r.ctl.stop();
  });
});
