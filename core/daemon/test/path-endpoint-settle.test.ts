import { expect } from 'chai';
import type { Endpoint } from '@rustynet/plugin-api';
import { EndpointSettle } from '../src/path/endpoint-settle.js';
import type { TunnelCounters } from '../src/path/tunnel-liveness.js';
import { rig, ticks, type Rig } from './path-rig.js';

const RELAY_1: Endpoint = { host: '127.0.0.1', port: 40001 };
const DIRECT_1: Endpoint = { host: '198.18.0.2', port: 51820 };

function counters(eps: Record<string, Endpoint | undefined>): TunnelCounters[] {
  return Object.entries(eps).map(([id, endpoint]) => ({ id, rxBytes: 0, lastHandshakeAt: null, ...(endpoint && { endpoint }) }));
}

describe('endpoint settle (unit)', () => {
  it('reports a peer whose backend reports an endpoint the switch replaced, and keeps checking it', () => {
    const st = new EndpointSettle(5_000);
    st.switched('n1', 'direct', DIRECT_1, [RELAY_1], 1_000);
    expect(st.active).to.equal(true);
    expect(st.check(counters({ n1: DIRECT_1 }), 1_500)).to.deep.equal([]);
    expect(st.check(counters({ n1: RELAY_1 }), 2_000)).to.deep.equal([
      { peer: 'n1', path: 'direct', expected: DIRECT_1, seen: '127.0.0.1:40001' },
    ]);
    // The window restarts at the drift: still checked at 6.5 s, dropped at 7 s.
    expect(st.check(counters({ n1: DIRECT_1 }), 6_500)).to.deep.equal([]);
    expect(st.active).to.equal(true);
    expect(st.check(counters({ n1: DIRECT_1 }), 7_000)).to.deep.equal([]);
    expect(st.active).to.equal(false);
  });

  it('leaves a genuinely new endpoint (NAT rebinding) and a peer without an endpoint alone', () => {
    const st = new EndpointSettle(5_000);
    st.switched('n1', 'direct', DIRECT_1, [RELAY_1], 0);
    st.switched('n2', 'relay', { host: '127.0.0.1', port: 40002 }, [{ host: '198.18.0.3', port: 51820 }], 0);
    expect(st.check(counters({ n1: { host: '198.18.0.99', port: 3333 }, n2: undefined }), 100)).to.deep.equal([]);
  });

  it('ignores a switch that replaced nothing, or replaced the same endpoint; forget and clear stop checking', () => {
    const st = new EndpointSettle(5_000);
    st.switched('n1', 'direct', DIRECT_1, [undefined], 0);
    st.switched('n2', 'direct', DIRECT_1, [{ ...DIRECT_1 }], 0);
    expect(st.active).to.equal(false);
    st.switched('n1', 'direct', DIRECT_1, [RELAY_1], 0);
    st.forget('n1');
    expect(st.active).to.equal(false);
    st.switched('n1', 'direct', DIRECT_1, [RELAY_1], 0);
    st.clear();
    expect(st.check(counters({ n1: RELAY_1 }), 1)).to.deep.equal([]);
  });
});

/**
 * A rig whose backend reports, per peer, the endpoint of its last successful
 * `updatePeerEndpoint`, unless it "roamed" since (`roam`): what a WireGuard backend does on an
 * authenticated datagram from another address. `fail.update` makes the backend refuse.
 */
function roamingRig(): { r: Rig; roam: (id: string, ep: Endpoint) => void; reads: () => number; fail: { update: boolean } } {
  const current = new Map<string, Endpoint>();
  const fail = { update: false };
  let reads = 0;
  const r: Rig = rig({
    backend: {
      async updatePeerEndpoint(peer, endpoint) {
        r.calls.push({ m: 'backend.updatePeerEndpoint', a: { peer, endpoint } });
        if (fail.update) throw Object.assign(new Error('nope'), { name: 'RustynetError', code: 'BACKEND_FAILED' });
        current.set(peer, endpoint);
      },
    },
    tunnelCounters: async () => {
      reads++;
      return [...current].map(([id, endpoint]) => ({ id, rxBytes: 0, lastHandshakeAt: null, endpoint }));
    },
  });
  return { r, roam: (id, ep) => current.set(id, ep), reads: () => reads, fail };
}

async function repairs(r: Rig): Promise<Record<string, number>> {
  const m = await r.metrics.registry.getSingleMetric('rustynet_path_endpoint_repairs_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.path), v.value]));
}

/** n1 blocked: it moves to the relay. */
async function toRelay(r: Rig): Promise<void> {
  r.ctl.start({ timer: false });
  await r.ctl.sync(r.nodes, () => true);
  await ticks(r, 3);
  r.net.block('198.18.0.2');
  await ticks(r, 4);
  expect(r.ctl.pathFor('n1')).to.equal('relay');
}

/** n1 blocked (to the relay), then unblocked (back to direct). */
async function relayAndBack(r: Rig): Promise<void> {
  await toRelay(r);
  r.net.unblock('198.18.0.2');
  await ticks(r, 4);
  expect(r.ctl.pathFor('n1')).to.equal('direct');
}

describe('path controller: the backend roams back to a replaced endpoint', () => {
  it('a relayed datagram after the switch to direct moved the backend to the closed relay socket: re-applied next round', async () => {
    const { r, roam, reads } = roamingRig();
    await relayAndBack(r);
    roam('n1', RELAY_1);
    r.calls.length = 0;
    await ticks(r, 1);
    expect(r.calls).to.deep.equal([{ m: 'backend.updatePeerEndpoint', a: { peer: 'n1', endpoint: DIRECT_1 } }]);
    expect(await repairs(r)).to.deep.equal({ direct: 1 });
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    // Repaired: no further calls; no switch was recorded for it.
    await ticks(r, 3);
    expect(r.calls).to.deep.equal([{ m: 'backend.updatePeerEndpoint', a: { peer: 'n1', endpoint: DIRECT_1 } }]);
    expect(r.switches.map((s) => s.to)).to.deep.equal(['relay', 'direct']);
    // Once settled (10 rounds after the repair) the backend is no longer read while probes pass.
    await ticks(r, 10);
    const before = reads();
    await ticks(r, 5);
    expect(reads()).to.equal(before);
  });

  it('after a switch to the relay a roam to the direct endpoint is kept (direct datagrams arrive; the relay undoes it otherwise)', async () => {
    const { r, roam } = roamingRig();
    await toRelay(r);
    roam('n1', DIRECT_1);
    r.calls.length = 0;
    await ticks(r, 2);
    expect(r.calls.filter((c) => c.m === 'backend.updatePeerEndpoint')).to.deep.equal([]);
    expect(await repairs(r)).to.deep.equal({});
  });

  it('a new endpoint the peer roamed to (not one the switch replaced) is kept', async () => {
    const { r, roam } = roamingRig();
    await relayAndBack(r);
    roam('n1', { host: '198.18.0.77', port: 40404 });
    r.calls.length = 0;
    await ticks(r, 3);
    expect(r.calls).to.deep.equal([]);
    expect(await repairs(r)).to.deep.equal({});
  });

  it('a failed re-apply is tried again the next round; after the data plane stops nothing is re-applied', async () => {
    const { r, roam, fail } = roamingRig();
    await relayAndBack(r);
    roam('n1', RELAY_1);
    fail.update = true;
    r.calls.length = 0;
    await ticks(r, 2);
    expect(r.calls.filter((c) => c.m === 'backend.updatePeerEndpoint')).to.have.length(2);
    fail.update = false;
    await ticks(r, 1);
    expect(r.calls.filter((c) => c.m === 'backend.updatePeerEndpoint')).to.have.length(3);
    await ticks(r, 2);
    expect(r.calls.filter((c) => c.m === 'backend.updatePeerEndpoint')).to.have.length(3);
    // The data plane stops: nothing settles any more.
    roam('n1', RELAY_1);
    await r.ctl.reset('down');
    r.calls.length = 0;
    await ticks(r, 2);
    expect(r.calls.filter((c) => c.m === 'backend.updatePeerEndpoint')).to.deep.equal([]);
  });
});
