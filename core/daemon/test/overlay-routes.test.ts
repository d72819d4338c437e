import { expect } from 'chai';
import type { Route, RouteChange } from '@rustynet/plugin-api';
import { cidrContains, parseCidr } from '@rustynet/plugin-kit';
import { Reconciler } from '../src/reconciler/reconciler.js';
import { coveringRoutes } from '../src/reconciler/overlay-routes.js';
import { FAKE_KEY_SCHEMA, FAKE_PROTOCOL, RecordingBackend, makeNetmap, makeNode } from './helpers.js';

const BY_ALLOWED_IPS = { routesByAllowedIps: true };

function reconcilerWith(backend: RecordingBackend, extra: Partial<ConstructorParameters<typeof Reconciler>[0]> = {}): Reconciler {
  return new Reconciler({ backend, backendProtocol: FAKE_PROTOCOL, peerKeySchema: FAKE_KEY_SCHEMA, ...extra });
}

/** The routes that contain `address` (a bare IP or a CIDR). */
function covering(routes: Route[], address: string): Route[] {
  const a = parseCidr(address.includes('/') ? address : `${address}/${address.includes(':') ? 128 : 32}`)!;
  return routes.filter((r) => cidrContains(parseCidr(r.destination)!, a));
}

function routeChange(b: RecordingBackend, i = -1): RouteChange {
  const calls = b.calls.filter((c) => c.method === 'applyRoutes');
  return calls.at(i)!.arg as RouteChange;
}

describe('covering routes (routesByAllowedIps)', () => {
  it('summarises consecutive host addresses exactly: aligned blocks, nothing outside them', () => {
    const addrs = [2, 3, 4, 5, 6, 7, 8, 9].map((i) => ({ peer: `n${i}`, prefix: `100.64.0.${i}/32` }));
    const { routes, rest } = coveringRoutes(addrs);
    expect(rest).to.deep.equal([]);
    expect(routes).to.deep.equal([
      { destination: '100.64.0.2/31', peer: 'n2' },
      { destination: '100.64.0.4/30', peer: 'n4' },
      { destination: '100.64.0.8/31', peer: 'n8' },
    ]);
    for (let i = 0; i < 16; i++) {
      expect(covering(routes, `100.64.0.${i}`)).to.have.length(i >= 2 && i <= 9 ? 1 : 0, `100.64.0.${i}`);
    }
  });

  it('hostile overlay values: far-apart, duplicate, edge and non-host addresses never widen a route', () => {
    const { routes, rest } = coveringRoutes([
      { peer: 'a', prefix: '10.0.0.1/32' },
      { peer: 'b', prefix: '192.168.1.7/32' },
      { peer: 'c', prefix: '10.0.0.1/32' }, // same address as a: one route, a's
      { peer: 'd', prefix: '0.0.0.0/32' },
      { peer: 'e', prefix: '255.255.255.255/32' },
      { peer: 'f', prefix: '10.0.0.0/8' }, // not a host prefix: left as is
      { peer: 'g', prefix: 'not-a-cidr' },
      { peer: 'h', prefix: 'fd00::ffff:ffff/128' },
      { peer: 'i', prefix: 'fd00::1:0:0/128' }, // consecutive with h across a 32-bit word
    ]);
    expect(rest.map((r) => r.peer)).to.deep.equal(['f', 'g']);
    expect(routes).to.deep.equal([
      { destination: '0.0.0.0/32', peer: 'd' },
      { destination: '10.0.0.1/32', peer: 'a' },
      { destination: '192.168.1.7/32', peer: 'b' },
      { destination: '255.255.255.255/32', peer: 'e' },
      { destination: 'fd00::ffff:ffff/128', peer: 'h' },
      { destination: 'fd00::1:0:0/128', peer: 'i' },
    ]);
    expect(routes.every((r) => r.destination.endsWith('/32') || r.destination.endsWith('/128'))).to.equal(true);
  });

  it('a full 1000-peer apply: a handful of covering routes, each peer address in exactly one, the own address in none', async () => {
    const b = new RecordingBackend();
    const nm = makeNetmap(1000);
    nm.nodes[500].routes = ['10.2.0.0/16'];
    await reconcilerWith(b, { capabilities: BY_ALLOWED_IPS }).reconcile(nm, 'n0');
    const { add, remove } = routeChange(b);
    expect(remove).to.deep.equal([]);
    expect(add.length).to.be.lessThan(40);
    expect(add).to.deep.include({ destination: '10.2.0.0/16', peer: 'n500' });
    for (const node of nm.nodes.slice(1)) {
      for (const a of node.addresses) {
        const r = covering(add, a);
        expect(r, `${node.id} ${a}`).to.have.length(1);
        // the named peer lies inside the route: a hint the backend may check
        const owner = nm.nodes.find((n) => n.id === r[0].peer)!;
        expect(owner.addresses.some((x) => covering([r[0]], x).length === 1)).to.equal(true);
      }
    }
    for (const a of nm.nodes[0].addresses) expect(covering(add, a), `own address ${a}`).to.deep.equal([]);
    // the peers' allowed IPs are unchanged: the backend still routes by them
    const batch = b.calls[0].arg as { upsert: { id: string; allowedIps: string[] }[] };
    expect(batch.upsert.find((p) => p.id === 'n500')!.allowedIps).to.deep.equal([...nm.nodes[500].addresses, '10.2.0.0/16']);
  });

  it('without the capability (absent or false) every allowed IP keeps its per-peer route', async () => {
    for (const capabilities of [undefined, { routesByAllowedIps: false }]) {
      const b = new RecordingBackend();
      await reconcilerWith(b, capabilities ? { capabilities } : {}).reconcile(makeNetmap(10), 'n0');
      expect(routeChange(b).add).to.have.length(18);
    }
  });

  it('route diff: removing a peer splits its block, re-adding merges it back; the same map again is a no-op', async () => {
    const b = new RecordingBackend();
    const r = reconcilerWith(b, { capabilities: BY_ALLOWED_IPS });
    const nm1 = makeNetmap(17); // n0 = self at .1; peers 100.64.0.2 .. .17
    await r.reconcile(nm1, 'n0');
    const first = routeChange(b).add.filter((x) => !x.destination.includes(':'));
    expect(first.map((x) => x.destination)).to.deep.equal(['100.64.0.2/31', '100.64.0.4/30', '100.64.0.8/29', '100.64.0.16/31']);
    const nm2 = structuredClone(nm1);
    nm2.version = 2;
    nm2.nodes = nm2.nodes.filter((n) => n.id !== 'n9'); // 100.64.0.10
    await r.reconcile(nm2, 'n0');
    const split = routeChange(b);
    expect(split.remove.map((x) => x.destination)).to.include('100.64.0.8/29');
    expect(split.add.map((x) => x.destination)).to.include.members(['100.64.0.8/31', '100.64.0.11/32', '100.64.0.12/30']);
    expect(covering(split.add, '100.64.0.10')).to.deep.equal([]);
    const peersCall = b.calls.filter((c) => c.method === 'applyPeers').at(-1)!.arg as { remove: string[] };
    expect(peersCall.remove).to.deep.equal(['n9']);
    await r.reconcile({ ...structuredClone(nm1), version: 3 }, 'n0');
    const merged = routeChange(b);
    expect(merged.add.map((x) => x.destination)).to.include('100.64.0.8/29');
    const calls = b.calls.length;
    const again = await r.reconcile({ ...structuredClone(nm1), version: 4 }, 'n0');
    expect(again.noop).to.equal(true);
    expect(b.calls.length).to.equal(calls);
  });

  it('removing the peer a covering route names re-keys that route to another peer inside it', async () => {
    const b = new RecordingBackend();
    const r = reconcilerWith(b, { capabilities: BY_ALLOWED_IPS });
    const nm1 = makeNetmap(5); // peers .2 .. .5: .2/31 (n1), .4/31 (n3)
    await r.reconcile(nm1, 'n0');
    expect(routeChange(b).add).to.deep.include({ destination: '100.64.0.4/31', peer: 'n3' });
    const nm2 = { ...structuredClone(nm1), version: 2 };
    nm2.nodes = nm2.nodes.filter((n) => n.id !== 'n3');
    await r.reconcile(nm2, 'n0');
    const ch = routeChange(b);
    expect(ch.remove).to.deep.include({ destination: '100.64.0.4/31', peer: 'n3' });
    expect(ch.add).to.deep.include({ destination: '100.64.0.5/32', peer: 'n4' });
  });

  it('exit routes stay per peer: only the chosen exit node default route is kept', async () => {
    const b = new RecordingBackend();
    const nm = makeNetmap(6);
    nm.nodes[2].routes = ['0.0.0.0/0'];
    nm.nodes[3].routes = ['0.0.0.0/0', '192.168.50.0/24'];
    await reconcilerWith(b, { capabilities: BY_ALLOWED_IPS, exitNode: 'n2' }).reconcile(nm, 'n0');
    const { add } = routeChange(b);
    expect(add).to.deep.include({ destination: '0.0.0.0/0', peer: 'n2' });
    expect(add).to.deep.include({ destination: '192.168.50.0/24', peer: 'n3' });
    expect(add.filter((x) => x.destination === '0.0.0.0/0')).to.have.length(1);
    expect(makeNode(0).addresses).to.have.length(2);
  });
});
