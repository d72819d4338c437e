import { expect } from 'chai';
import { verifySignedNetmap } from '@rustynet/daemon';
import { RustynetError } from '@rustynet/plugin-api';
import { ControlNetmapSource, REFUSAL_ACTIONS, refusalOf } from '../src/index.js';
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

/** Waits (bounded) until `cond` holds; the test then asserts on state, never on time. */
async function until(cond: () => boolean, limitMs = 15_000): Promise<void> {
  for (const end = Date.now() + limitMs; !cond() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
}

describe('control: ControlNetmapSource tells why the control plane refuses the node', function () {
  this.timeout(30_000);

  it('node key expired: the refusal names the reason and how to re-authenticate', async () => {
    const h = await startHarness({ nodeKeyLifetimeMs: 1_000 });
    try {
      const c = newClient(h.server.url);
      await c.enrol({ authKey: await createKey(h.admin), name: 'a', keys: {} });
      const src = new ControlNetmapSource(c, { waitMs: 500, minRetryMs: 50, maxRetryMs: 200 });
      expect(src.controlStatus()).to.deep.equal({ refusal: null });
      src.start();
      await until(() => src.controlStatus().refusal !== null);
      await src.stop();
      const r = src.controlStatus().refusal!;
      expect(r.reason).to.equal('node-key-expired');
      expect(r.message).to.match(/node a: its keys expired at .*node key lifetime/);
      expect(r.action).to.contain('rustynet control keys create').and.contain('netmap.control.authKeyFile').and.contain('rotate-keys');
      expect(Number.isNaN(Date.parse(r.since))).to.equal(false);
    } finally {
      await h.stop();
    }
  });

  it('expired by an admin: refused until re-enrolment clears it; removed: node-removed', async () => {
    const h = await startHarness();
    try {
      const c = newClient(h.server.url);
      await c.enrol({ authKey: await createKey(h.admin), name: 'a', keys: {} });
      const src = new ControlNetmapSource(c, { waitMs: 500, minRetryMs: 50, maxRetryMs: 200 });
      src.start();
      await h.admin.call('POST', '/admin/v1/nodes/a/expire');
      await until(() => src.controlStatus().refusal !== null);
      const r = src.controlStatus().refusal!;
      expect([r.reason, r.action]).to.deep.equal(['node-expired', REFUSAL_ACTIONS['node-expired']]);
      await c.enrol({ authKey: await createKey(h.admin), name: 'a', keys: {} });
      await until(() => src.controlStatus().refusal === null);
      expect(src.controlStatus().refusal).to.equal(null);
      await h.admin.call('DELETE', '/admin/v1/nodes/a');
      await until(() => src.revoked !== undefined);
      expect(src.controlStatus().refusal?.reason).to.equal('node-removed');
      await src.stop();
    } finally {
      await h.stop();
    }
  });

  it('refusalOf keeps `since` while the reason stays, and ignores errors that are not refusals', () => {
    const expired = new RustynetError('AUTH_FAILED', 'node a: its keys expired', { details: { reason: 'node-key-expired' } });
    const first = refusalOf(expired, null)!;
    expect(refusalOf(expired, { ...first, since: '2026-01-01T00:00:00.000Z' })!.since).to.equal('2026-01-01T00:00:00.000Z');
    expect(refusalOf(new Error('ECONNREFUSED'), first)).to.equal(first);
    expect(refusalOf(new RustynetError('AUTH_FAILED', 'bad signature', { details: { reason: 'bad-signature' } }), null)).to.equal(null);
  });
});
