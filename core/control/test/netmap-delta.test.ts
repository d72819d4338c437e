import { expect } from 'chai';
import type { SignedNetmap, SignedNetmapDelta } from '@rustynet/plugin-api';
import { applySignedNetmapDelta, netmapDigest, publicKeyFromRawB64, verifySignedNetmap } from '@rustynet/daemon';
import { ControlNetmapSource } from '../src/index.js';
import { createKey, newClient, ENGINES, startHarness } from './helpers.js';

for (const engine of ENGINES) {
  describe(`control: signed netmap deltas on poll [${engine}]`, function () {
    this.timeout(20_000);

    it('answers delta=1 from a version it served with a signed delta, else with the full map', async () => {
      const h = await startHarness({ engine });
      try {
        const key = await createKey(h.admin, { reusable: true });
        const a = newClient(h.server.url);
        await a.enrol({ authKey: key, name: 'a', keys: {} });
        const cpKey = publicKeyFromRawB64(h.server.service.key.publicKey);
        const full1 = (await a.poll(0, { waitMs: 0 }))!;
        const nm1 = verifySignedNetmap(full1, cpKey);
        await newClient(h.server.url).enrol({ authKey: key, name: 'b', keys: {}, endpoints: [{ host: '198.18.0.2', port: 5000 }] });
        const got = (await a.poll(nm1.version, { waitMs: 0, delta: true })) as SignedNetmapDelta;
        expect(got).to.have.property('delta');
        const r = applySignedNetmapDelta(got, cpKey, { netmap: nm1, digest: netmapDigest(nm1) }, Date.now());
        const full2 = (await a.poll(0, { waitMs: 0 }))!;
        expect(r.digest).to.equal(netmapDigest(verifySignedNetmap(full2, cpKey)));
        expect(got.delta.ops.map((o) => o.op)).to.include('upsertNode');
        // Without delta=1 (an older daemon), and from a version never served: the full map.
        expect(await a.poll(nm1.version, { waitMs: 0 })).to.have.property('netmap');
        expect(await a.poll(nm1.version - 1 || 1, { waitMs: 0, delta: true })).to.have.property('netmap');
      } finally {
        await h.stop();
      }
    });

    it('ControlNetmapSource passes deltas on and fetches the full map on demand', async () => {
      const h = await startHarness({ engine });
      try {
        const key = await createKey(h.admin, { reusable: true });
        const c = newClient(h.server.url);
        await c.enrol({ authKey: key, name: 'a', keys: {} });
        let wake: () => void = () => undefined;
        const src = new ControlNetmapSource(c, { waitMs: 5_000, deltas: true, onUpdate: () => wake() });
        const next = (): Promise<void> => new Promise((r) => (wake = r));
        let arrived = next();
        src.start();
        await arrived;
        const first = (await src.fetch()).value as SignedNetmap;
        expect(first).to.have.property('netmap');
        arrived = next();
        await newClient(h.server.url).enrol({ authKey: key, name: 'b', keys: {} });
        await arrived;
        const second = (await src.fetch()).value as SignedNetmapDelta;
        expect(second).to.have.property('delta');
        expect(second.delta.baseVersion).to.equal(first.netmap.version);
        const full = await src.fetchFull();
        expect(full.changed).to.equal(true);
        expect((full.value as SignedNetmap).netmap.version).to.equal(second.delta.version);
        await src.stop();
      } finally {
        await h.stop();
      }
    });
  });
}
