import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEd25519KeyPair, verifySignedNetmap } from '@rustynet/daemon';
import { ControlClient } from '../src/index.js';
import { createKey, ENGINES, freshDatabase, startHarness } from './helpers.js';

for (const engine of ENGINES) {
  describe(`control: restarts and re-signing [${engine}]`, function () {
    this.timeout(20_000);

    it('keeps nodes, addresses, the ULA prefix and the key across a restart, and serves higher versions', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rn-control-restart-'));
      try {
        const pem = generateEd25519KeyPair().privateKeyPem;
        const database = await freshDatabase(engine);
        const opts = { engine, ...(database !== undefined && { database }) };
        let h = await startHarness(opts, dir);
        const key = await createKey(h.admin);
        const first = await new ControlClient({ url: h.server.url, identityKeyPem: pem }).enrol({ authKey: key, name: 'a', keys: {} });
        const pub = h.server.service.key.publicKey;
        const served = verifySignedNetmap(await new ControlClient({ url: h.server.url, identityKeyPem: pem }).poll(0), pub).version;
        await h.stop();
        h = await startHarness(opts, dir);
        expect(h.server.service.key.publicKey).to.equal(pub);
        const c = new ControlClient({ url: h.server.url, identityKeyPem: pem });
        const nm = verifySignedNetmap(await c.poll(0), pub);
        expect(nm.version).to.be.greaterThan(served);
        expect(nm.nodes[0]?.addresses).to.deep.equal(first.node.addresses);
        await h.stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('re-signs with a new version before half the lifetime is gone (at 40%)', async () => {
      const h = await startHarness({ engine, netmapLifetimeMs: 60_000 });
      try {
        const svc = h.server.service;
        const v = svc.snapshot.version;
        expect(await svc.resignIfDue(svc.snapshot.issuedAt + 20_000)).to.equal(false);
        expect(await svc.resignIfDue(svc.snapshot.issuedAt + 24_000)).to.equal(true);
        // Versions follow the clock (see store/meta.ts): the new one is above the old and at least `now`.
        expect(svc.snapshot.version).to.be.greaterThan(v);
        expect(svc.snapshot.version).to.be.at.least(svc.snapshot.issuedAt);
      } finally {
        await h.stop();
      }
    });
  });
}
