import { expect } from 'chai';
import { verifySignedNetmap } from '@rustynet/daemon';
import { ControlNetmapSource } from '../src/index.js';
import { createKey, newClient, ENGINES, startHarness } from './helpers.js';

for (const engine of ENGINES) {
  describe(`control: ControlNetmapSource (daemon adapter) [${engine}]`, function () {
    this.timeout(20_000);

    it('delivers each new map once, re-delivers after invalidate, and stops on removal', async () => {
      const h = await startHarness({ engine });
      try {
        const key = await createKey(h.admin, { reusable: true });
        const c = newClient(h.server.url);
        await c.enrol({ authKey: key, name: 'a', keys: {} });
        let updates = 0;
        let wake: () => void = () => undefined;
        const src = new ControlNetmapSource(c, { waitMs: 5_000, onUpdate: () => (updates++, wake()) });
        const next = (): Promise<void> => new Promise((r) => (wake = r));
        let arrived = next();
        src.start();
        await arrived;
        const f1 = await src.fetch();
        expect(f1.changed).to.equal(true);
        const v1 = verifySignedNetmap(f1.value, h.server.service.key.publicKey).version;
        expect((await src.fetch()).changed).to.equal(false);
        src.invalidate();
        expect((await src.fetch()).changed).to.equal(true);
        arrived = next();
        await newClient(h.server.url).enrol({ authKey: key, name: 'b', keys: {} });
        await arrived;
        const nm = verifySignedNetmap((await src.fetch()).value, h.server.service.key.publicKey);
        expect(nm.version).to.be.greaterThan(v1);
        expect(nm.nodes.map((n) => n.id)).to.deep.equal(['a', 'b']);
        await h.admin.call('DELETE', '/admin/v1/nodes/a');
        for (let i = 0; i < 100 && !src.revoked; i++) await new Promise((r) => setTimeout(r, 20));
        expect(src.revoked?.code).to.equal('UNKNOWN_PEER');
        expect(updates).to.equal(2);
        await src.stop();
      } finally {
        await h.stop();
      }
    });
  });
}
