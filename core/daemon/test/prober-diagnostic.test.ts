import { expect } from 'chai';
import { DirectPathProber } from '../src/path/prober.js';
import { FakeNet, ManualClock, identity } from './path-fakes.js';

const A = { host: '198.18.0.1', port: 41641 };
const B = { host: '198.18.0.2', port: 41641 };

describe('direct-path prober: diagnostic PINGs (rustynet ping)', () => {
  const setup = (): { net: FakeNet; a: DirectPathProber } => {
    const net = new FakeNet();
    const clock = new ManualClock();
    const [ida, idb] = [identity(), identity()];
    const a = new DirectPathProber({ selfId: 'a', sign: ida.sign, clock, transport: net.attach(A) });
    const b = new DirectPathProber({ selfId: 'b', sign: idb.sign, clock, transport: net.attach(B) });
    a.setPeers([
      { id: 'b', identityKey: idb.publicKeyB64, target: B },
      { id: 'c', identityKey: identity().publicKeyB64 },
    ]);
    b.setPeers([{ id: 'a', identityKey: ida.publicKeyB64, target: A }]);
    return { net, a };
  };

  it('an answered diagnostic PING reports the target and a round trip, and leaves the controller bookkeeping alone', async () => {
    const { a } = setup();
    const r = await a.pingOnce('b', 1_000);
    expect(r?.target).to.deep.equal(B);
    expect(r?.rttMs).to.be.a('number').at.least(0);
    expect(a.takeResult('b').result).to.equal('none');
  });

  it("an unanswered one ends at its time-out without an RTT, and the controller's outstanding PING stays", async () => {
    const { net, a } = setup();
    net.block(B.host);
    expect(a.ping('b')).to.equal(true);
    const r = await a.pingOnce('b', 20);
    expect(r).to.deep.equal({ target: B });
    expect(a.takeResult('b').result).to.equal('miss');
  });

  it('a peer without a probe target gets nothing sent', async () => {
    const { net, a } = setup();
    const before = net.log.length;
    expect(await a.pingOnce('c', 20)).to.equal(undefined);
    expect(net.log.length).to.equal(before);
  });
});
