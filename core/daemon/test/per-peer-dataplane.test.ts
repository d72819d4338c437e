/**
 * A daemon whose backend makes tunnel devices per peer (like the OpenVPN backend): the policy and
 * DNS plugins follow the devices and the mesh address as they appear. Fakes in per-peer-fixture.ts.
 */
import { expect } from 'chai';
import { makeNetmap } from './helpers.js';
import { setUp, subset } from './per-peer-fixture.js';

describe('Daemon with a backend that makes tunnel devices per peer', function () {
  this.timeout(20000);

  it('brings the mesh up: no peers => policy skipped, DNS on loopback; peers => policy on the new devices in the same apply, DNS restarted on the mesh address', async () => {
    const { st, daemon, publish, methods, args } = await setUp();
    const full = makeNetmap(3, 1);
    publish(subset(full, 1, 1)); // only this node: no peer, no device, no overlay address yet
    await daemon.start();
    try {
      expect(methods()).to.deep.equal(['backend.start', 'backend.stats', 'policy.start', 'backend.stats', 'dns.start', 'dns.update']);
      let s = await daemon.status();
      expect(s.state).to.equal('up');
      expect(s.netmap!.version).to.equal(1);
      expect(s.lastRejection).to.equal(null);
      expect(args('policy.apply')).to.deep.equal([]);
      expect(args('dns.start')).to.deep.equal([{ listen: [{ host: '127.0.0.1', port: 5353 }] }]);
      expect(s.dns).to.deep.include({ listen: ['127.0.0.1:5353'], ok: true, failures: 0 });
      expect(s.policy).to.deep.include({ interfaces: [], ok: true });

      // Peers arrive: devices and the overlay address appear with applyPeers.
      const nm2 = structuredClone(full);
      nm2.version = 2;
      publish(nm2);
      const before = st.log.length;
      expect(await daemon.reload()).to.deep.equal({ result: 'applied', version: 2 });
      expect(methods(before)).to.deep.equal([
        'backend.applyPeers',
        'backend.applyRoutes',
        'backend.stats',
        'policy.apply',
        'dns.stop',
        'dns.start',
        'dns.update',
      ]);
      const policy = args('policy.apply')[0] as { interfaces: string[]; self: string };
      expect(policy.interfaces).to.deep.equal(['pp-n1', 'pp-n2']);
      expect(policy.self).to.equal('n0');
      expect(args('dns.start')[1]).to.deep.equal({
        listen: [
          { host: '100.64.0.1', port: 5353 },
          { host: 'fd00::1', port: 5353 },
          { host: '127.0.0.1', port: 5353 },
        ],
      });
      expect((args('dns.update')[1] as { nodes: unknown[] }).nodes).to.have.length(3);
      s = await daemon.status();
      expect(s.backend!.interfaces).to.deep.equal(['pp-n1', 'pp-n2']);
      expect(s.policy).to.deep.include({ interfaces: ['pp-n1', 'pp-n2'], ok: true });
      expect(s.dns!.listen).to.deep.equal(['100.64.0.1:5353', '[fd00::1]:5353', '127.0.0.1:5353']);

      // Nothing changed: a refresh makes one stats() call and no plugin call.
      const quiet = st.log.length;
      await daemon.refresh();
      expect(methods(quiet)).to.deep.equal(['backend.stats']);

      // All peers leave: devices and the overlay address go; policy kept (nothing to filter), DNS back to loopback only.
      const nm3 = subset(full, 1, 3);
      publish(nm3);
      const before3 = st.log.length;
      expect(await daemon.reload()).to.deep.equal({ result: 'applied', version: 3 });
      expect(methods(before3)).to.deep.equal([
        'backend.applyPeers',
        'backend.applyRoutes',
        'backend.stats',
        'dns.stop',
        'dns.start',
        'dns.update',
      ]);
      expect(args('dns.start')[2]).to.deep.equal({ listen: [{ host: '127.0.0.1', port: 5353 }] });
      expect((await daemon.status()).dns!.listen).to.deep.equal(['127.0.0.1:5353']);
    } finally {
      await daemon.stop();
    }
    expect(methods().slice(-3)).to.deep.equal(['dns.stop', 'policy.stop', 'backend.stop']);
  });

  it('applies the policy before the first apply with peers succeeds, and rolls the peers back when it fails (fail closed)', async () => {
    const { st, daemon, publish, methods, args, metrics } = await setUp({ dns: false });
    st.failPolicy = true;
    publish(makeNetmap(3, 1));
    await daemon.start();
    try {
      const log0 = methods();
      const s = await daemon.status();
      expect(s.netmap).to.equal(null);
      expect(s.lastRejection!.code).to.equal('POLICY_FAILED');
      expect(log0).to.deep.equal([
        'backend.start',
        'backend.stats',
        'policy.start',
        'backend.applyPeers',
        'backend.applyRoutes',
        'backend.stats',
        'policy.apply',
        'backend.applyRoutes',
        'backend.applyPeers',
      ]);
      expect(args('policy.apply')[0]).to.deep.include({ interfaces: ['pp-n1', 'pp-n2'] });
      // The rollback removed the new peers, and with them their devices.
      expect(args('backend.applyPeers')[1]).to.deep.equal({ upsert: [], remove: ['n1', 'n2'] });
      expect(s.peers).to.deep.equal([]);
      expect(await metrics()).to.include('rustynet_netmap_applies_total{result="failed"} 1');

      st.failPolicy = false;
      expect(await daemon.reload()).to.deep.equal({ result: 'applied', version: 1 });
      expect((await daemon.status()).policy).to.deep.include({ interfaces: ['pp-n1', 'pp-n2'], ok: true });
    } finally {
      await daemon.stop();
    }
  });

  it('re-applies the policy when the backend adds or removes a device between applies; a failure keeps the old policy and is retried', async () => {
    const { st, daemon, publish, methods, args, metrics } = await setUp({ dns: false });
    publish(makeNetmap(2, 1));
    await daemon.start();
    try {
      expect(args('policy.apply')).to.have.length(1);
      st.extraInterfaces = ['pp-extra'];
      let before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['backend.stats', 'policy.apply']);
      expect(args('policy.apply')[1]).to.deep.include({ interfaces: ['pp-extra', 'pp-n1'] });

      // Unchanged: no policy call.
      before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['backend.stats']);

      // The device goes away while the policy plugin fails: logged, counted, shown, retried.
      st.extraInterfaces = [];
      st.failPolicy = true;
      await daemon.refresh();
      let s = await daemon.status();
      expect(s.state).to.equal('up');
      expect(s.policy).to.deep.include({ interfaces: ['pp-extra', 'pp-n1'], ok: false, failures: 1 });
      expect(s.policy!.lastError!.code).to.equal('POLICY_FAILED');
      expect(await metrics()).to.include('rustynet_policy_sync_failures_total 1');
      st.failPolicy = false;
      before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['backend.stats', 'policy.apply']);
      s = await daemon.status();
      expect(s.policy).to.deep.include({ interfaces: ['pp-n1'], ok: true, failures: 1 });
    } finally {
      await daemon.stop();
    }
  });

  it('a DNS failure never rolls back the data plane: logged, counted, in status, retried on the next cycle', async () => {
    const { st, daemon, publish, methods, args, metrics } = await setUp();
    st.failDnsStart = true;
    publish(makeNetmap(3, 1));
    await daemon.start();
    try {
      let s = await daemon.status();
      expect(s.state).to.equal('up');
      expect(s.netmap!.version).to.equal(1);
      expect(s.lastRejection).to.equal(null);
      expect(s.peers.map((p) => p.id)).to.deep.equal(['n1', 'n2']);
      expect(args('backend.applyPeers')).to.have.length(1); // no rollback
      expect(s.dns).to.deep.include({ listen: [], ok: false, failures: 1 });
      expect(s.dns!.lastError).to.deep.include({ code: 'DNS_FAILED', message: 'port in use' });
      expect(await metrics()).to.include('rustynet_dns_failures_total{operation="start"} 1');

      // Still failing on the next cycle: counted again, still no data-plane change.
      await daemon.refresh();
      expect((await daemon.status()).dns).to.deep.include({ ok: false, failures: 2 });

      st.failDnsStart = false;
      const before = st.log.length;
      await daemon.refresh();
      expect(methods(before).filter((m) => m.startsWith('dns.'))).to.deep.equal(['dns.start', 'dns.update']);
      s = await daemon.status();
      expect(s.dns).to.deep.include({ listen: ['100.64.0.1:5353', '[fd00::1]:5353', '127.0.0.1:5353'], ok: true, failures: 2 });

      // A failed zone update is retried too, without a restart.
      st.failDnsUpdate = true;
      const nm2 = makeNetmap(3, 2);
      nm2.nodes[1].name = 'db'; // a zone change
      publish(nm2);
      expect((await daemon.reload()).result).to.equal('applied');
      expect((await daemon.status()).dns).to.deep.include({ ok: false, failures: 3 });
      expect(await metrics()).to.include('rustynet_dns_failures_total{operation="update"} 1');
      st.failDnsUpdate = false;
      const b2 = st.log.length;
      await daemon.refresh();
      expect(methods(b2).filter((m) => m.startsWith('dns.'))).to.deep.equal(['dns.update']);
      expect((await daemon.status()).dns!.ok).to.equal(true);
    } finally {
      await daemon.stop();
    }
  });

  it('restarts DNS when a mesh address is assigned or removed between applies', async () => {
    const { st, daemon, publish, methods, args } = await setUp({ policy: false });
    publish(makeNetmap(1, 1));
    await daemon.start();
    try {
      expect(args('dns.start')).to.deep.equal([{ listen: [{ host: '127.0.0.1', port: 5353 }] }]);
      st.assigned.add('fd00::1');
      let before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['dns.stop', 'dns.start', 'dns.update']);
      expect(args('dns.start')[1]).to.deep.equal({
        listen: [
          { host: 'fd00::1', port: 5353 },
          { host: '127.0.0.1', port: 5353 },
        ],
      });
      before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal([]); // no policy plugin: not even a stats() call
      st.assigned.delete('fd00::1');
      await daemon.refresh();
      expect(args('dns.start')[2]).to.deep.equal({ listen: [{ host: '127.0.0.1', port: 5353 }] });
    } finally {
      await daemon.stop();
    }
  });
});
