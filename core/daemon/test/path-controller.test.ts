import { expect } from 'chai';
import { rig, switchCount, ticks } from './path-rig.js';

describe('path controller', () => {
  it('3 misses -> relay (openPath, then updatePeerEndpoint); 3 replies -> direct (updatePeerEndpoint, then closePath)', async () => {
    const r = rig();
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    await ticks(r, 3);
    expect(r.ctl.snapshot().map((s) => [s.peer, s.path, s.successes])).to.deep.equal([
      ['n1', 'direct', 3],
      ['n2', 'direct', 3],
    ]);
    expect(r.calls).to.deep.equal([]);

    r.net.block('198.18.0.2'); // n1's underlay host
    await ticks(r, 3); // the first of these scores the PING sent before the block: 2 misses so far
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.calls).to.deep.equal([]);
    await ticks(r, 1);
    expect(r.calls).to.deep.equal([
      { m: 'relay.openPath', a: { peer: 'n1', backendEndpoint: { host: '127.0.0.1', port: 51820 } } },
      { m: 'backend.updatePeerEndpoint', a: { peer: 'n1', endpoint: { host: '127.0.0.1', port: 40001 } } },
    ]);
    expect(r.ctl.pathFor('n1')).to.equal('relay');
    expect(r.ctl.pathFor('n2')).to.equal('direct');
    expect(r.ctl.relayEndpointFor('n1')).to.deep.equal({ host: '127.0.0.1', port: 40001 });
    expect(r.noted).to.deep.equal([['n1', { host: '127.0.0.1', port: 40001 }]]);
    expect(r.hookSeen).to.deep.equal(['n1:relay']);
    expect(r.switches).to.deep.equal([
      {
        peer: 'n1',
        from: 'direct',
        to: 'relay',
        reason: '3 consecutive direct-path probes unanswered, a relayed probe answered',
        endpoint: '127.0.0.1:40001',
      },
    ]);
    expect(await switchCount(r.metrics)).to.deep.equal({ relay: 1 });

    // Still blocked: probing goes on, nothing changes.
    await ticks(r, 5);
    expect(r.calls).to.have.length(2);

    r.calls.length = 0;
    r.net.unblock('198.18.0.2');
    await ticks(r, 3); // first scores a PING sent while blocked
    expect(r.ctl.pathFor('n1')).to.equal('relay');
    await ticks(r, 1);
    expect(r.calls).to.deep.equal([
      { m: 'backend.updatePeerEndpoint', a: { peer: 'n1', endpoint: { host: '198.18.0.2', port: 51820 } } },
      { m: 'relay.closePath', a: 'n1' },
    ]);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.ctl.relayEndpointFor('n1')).to.equal(undefined);
    expect(r.switches[1]).to.deep.include({ peer: 'n1', from: 'relay', to: 'direct', endpoint: '198.18.0.2:51820' });
    expect(await switchCount(r.metrics)).to.deep.equal({ relay: 1, direct: 1 });
    const peers = await r.metrics.registry.getSingleMetric('rustynet_path_peers')!.get();
    expect(peers.values.map((v) => [v.labels.path, v.value])).to.deep.include.members([
      ['relay', 0],
      ['direct', 2],
    ]);
    await r.ctl.stop();
  });

  it('a failed switch changes nothing, is counted, and is retried with back-off', async () => {
    const r = rig({ failuresToRelay: 1 });
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, (n) => n.id === 'n1');
    r.relayFails.open = true;
    r.net.block('198.18.0.2');
    // Round 1 scores the PING answered before the block, round 2 the first miss (the relay path is
    // not proven yet: a relayed PING goes out), round 3 finds it answered and switches.
    await ticks(r, 3);
    expect(r.calls.map((c) => c.m)).to.deep.equal(['relay.openPath']);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    const failures = await r.metrics.registry.getSingleMetric('rustynet_path_switch_failures_total')!.get();
    expect(failures.values[0]).to.deep.include({ value: 1, labels: { to: 'relay' } });
    await ticks(r, 1); // back-off 1000 ms after the first failure: one tick (500 ms) is too early
    expect(r.calls).to.have.length(1);
    r.relayFails.open = false;
    r.backendFails.update = true;
    await ticks(r, 1);
    // backend refused: the relay path just opened is closed again, the peer stays direct
    expect(r.calls.map((c) => c.m)).to.deep.equal(['relay.openPath', 'relay.openPath', 'backend.updatePeerEndpoint', 'relay.closePath']);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    r.backendFails.update = false;
    await ticks(r, 4);
    expect(r.ctl.pathFor('n1')).to.equal('relay');
    await r.ctl.stop();
  });

  it('with switching disabled: no PINGs, every peer direct', async () => {
    const r = rig({ disabledReason: 'no relay plugin is loaded' });
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    r.net.block('198.18.0.2');
    await ticks(r, 10);
    expect(r.net.log.filter((l) => l.from.startsWith('198.18.0.1:'))).to.have.length(0);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.calls).to.deep.equal([]);
    await r.ctl.stop();
  });

  it('peers without probePort are not managed; a relayed peer leaving the netmap becomes direct and its path closes after the apply', async () => {
    const r = rig({ failuresToRelay: 1 });
    delete r.nodes[2].probePort;
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    expect(r.ctl.snapshot().map((s) => s.peer)).to.deep.equal(['n1']);
    r.net.block('198.18.0.2');
    await ticks(r, 3);
    expect(r.ctl.pathFor('n1')).to.equal('relay');
    r.calls.length = 0;
    await r.ctl.sync(
      r.nodes.filter((n) => n.id !== 'n1'),
      () => true,
    );
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.switches.at(-1)).to.deep.include({ peer: 'n1', from: 'relay', to: 'direct', reason: 'peer left the netmap' });
    expect(r.calls).to.deep.equal([]);
    await r.ctl.afterApply();
    expect(r.calls).to.deep.equal([{ m: 'relay.closePath', a: 'n1' }]);
    await r.ctl.stop();
  });

  it('reset (data plane stopped) makes relayed peers direct without calls; reopenRelayed re-points the backend at a new relay path', async () => {
    const r = rig({ failuresToRelay: 1 });
    r.ctl.start({ timer: false });
    await r.ctl.sync(r.nodes, () => true);
    r.net.block('198.18.0.2');
    await ticks(r, 3);
    expect(r.ctl.relayEndpointFor('n1')).to.deep.equal({ host: '127.0.0.1', port: 40001 });
    r.calls.length = 0;
    await r.ctl.reopenRelayed();
    expect(r.calls).to.deep.equal([
      { m: 'relay.openPath', a: { peer: 'n1', backendEndpoint: { host: '127.0.0.1', port: 51820 } } },
      { m: 'backend.updatePeerEndpoint', a: { peer: 'n1', endpoint: { host: '127.0.0.1', port: 40002 } } },
    ]);
    expect(r.ctl.relayEndpointFor('n1')).to.deep.equal({ host: '127.0.0.1', port: 40002 });
    r.calls.length = 0;
    await r.ctl.stop();
    await r.ctl.reset('data plane stopped');
    expect(r.calls).to.deep.equal([]);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(r.switches.at(-1)).to.deep.include({ peer: 'n1', to: 'direct', reason: 'data plane stopped' });
  });
});
