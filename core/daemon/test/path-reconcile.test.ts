import { expect } from 'chai';
import type { Endpoint, PeerBatch } from '@rustynet/plugin-api';
import { Reconciler } from '../src/reconciler/reconciler.js';
import type { PeerPaths } from '../src/reconciler/plan.js';
import { FAKE_KEY_SCHEMA, FAKE_PROTOCOL, RecordingBackend, makeNetmap } from './helpers.js';

describe('reconciler and the path controller', () => {
  it('a re-applied netmap keeps a relayed peer on its relay endpoint', async () => {
    const b = new RecordingBackend();
    const paths = new Map<string, 'direct' | 'relay'>();
    const relayEps = new Map<string, Endpoint>();
    const r = new Reconciler({
      backend: b,
      backendProtocol: FAKE_PROTOCOL,
      peerKeySchema: FAKE_KEY_SCHEMA,
    });
    // The path controller's snapshot, as data (what the daemon passes to each reconcile).
    const snapshot = (): PeerPaths =>
      new Map(
        [...paths].map(([id, path]) => [id, path === 'relay' && relayEps.has(id) ? { path, relayEndpoint: relayEps.get(id)! } : { path }]),
      );
    const nm = makeNetmap(3, 1);
    await r.reconcile(nm, 'n0', [], snapshot());
    // The path controller switches n1 through the fast path and tells the reconciler.
    const local = { host: '127.0.0.1', port: 40001 };
    paths.set('n1', 'relay');
    relayEps.set('n1', local);
    r.noteEndpoint('n1', local);
    b.calls = [];

    // Same netmap again: nothing to do (no overwrite with the direct endpoint).
    expect((await r.reconcile(structuredClone(nm), 'n0', [], snapshot())).noop).to.equal(true);
    expect(b.calls).to.deep.equal([]);

    // A new version that changes another peer: n1 is not touched.
    const nm2 = structuredClone(nm);
    nm2.version = 2;
    nm2.nodes[2].endpoints = [{ host: '198.18.0.33', port: 51820 }];
    await r.reconcile(nm2, 'n0', [], snapshot());
    expect((b.calls[0].arg as PeerBatch).upsert.map((p) => p.id)).to.deep.equal(['n2']);

    // A new version that changes n1 itself (even its direct endpoint): the upsert keeps the relay endpoint.
    const nm3 = structuredClone(nm2);
    nm3.version = 3;
    nm3.nodes[1].routes = ['10.1.0.0/16'];
    nm3.nodes[1].endpoints = [{ host: '198.18.0.22', port: 51820 }];
    b.calls = [];
    await r.reconcile(nm3, 'n0', [], snapshot());
    const up = (b.calls[0].arg as PeerBatch).upsert;
    expect(up.map((p) => [p.id, p.endpoint])).to.deep.equal([['n1', local]]);

    // Back to direct: the next apply uses the netmap endpoint.
    paths.set('n1', 'direct');
    r.noteEndpoint('n1', { host: '198.18.0.22', port: 51820 });
    b.calls = [];
    expect((await r.reconcile(nm3, 'n0', [], snapshot())).noop).to.equal(true);
  });
});
