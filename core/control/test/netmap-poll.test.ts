import { expect } from 'chai';
import { generateEd25519KeyPair, privateKeyFromPem, verifySignedNetmap } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { ControlClient, signRequest } from '../src/index.js';
import { createKey, newClient, ENGINES, startHarness, type Harness } from './helpers.js';

for (const engine of ENGINES) {
  describe(`control: netmaps and long-poll [${engine}]`, function () {
    this.timeout(20_000);
    let h: Harness;
    let key: string;
    beforeEach(async () => {
      h = await startHarness({ engine });
      key = await createKey(h.admin, { reusable: true });
    });
    afterEach(async () => {
      await h.stop();
    });

    it('holds a poll until a change, then wakes every waiting poll with a higher version', async () => {
      const clients = await Promise.all(
        ['a', 'b', 'c'].map(async (name) => {
          const c = newClient(h.server.url);
          await c.enrol({ authKey: key, name, keys: {} });
          return c;
        }),
      );
      const version = h.server.service.snapshot.version;
      const polls = clients.map((c) => c.poll(version, { waitMs: 10_000 }));
      await new Promise((r) => setTimeout(r, 100));
      expect(h.server.service.waitingPolls).to.equal(3);
      const t0 = Date.now();
      await newClient(h.server.url).enrol({ authKey: key, name: 'd', keys: {} });
      const maps = await Promise.all(polls);
      console.log(`      change reached 3 polls in ${Date.now() - t0} ms`);
      for (const m of maps) {
        const nm = verifySignedNetmap(m, h.server.service.key.publicKey);
        expect(nm.version).to.be.greaterThan(version);
        expect(nm.nodes.map((n) => n.id)).to.include('d');
      }
    });

    it('answers 204 (null) when nothing changed within wait', async () => {
      const c = newClient(h.server.url);
      await c.enrol({ authKey: key, name: 'a', keys: {} });
      expect(await c.poll(h.server.service.snapshot.version, { waitMs: 50 })).to.equal(null);
    });

    it('takes a removed node out of every netmap at once and refuses its polls', async () => {
      const a = newClient(h.server.url);
      const b = newClient(h.server.url);
      await a.enrol({ authKey: key, name: 'a', keys: {} });
      await b.enrol({ authKey: key, name: 'b', keys: {} });
      const v = h.server.service.snapshot.version;
      const pa = a.poll(v, { waitMs: 10_000 });
      const pb = b.poll(v, { waitMs: 10_000 }).then(
        () => 'no error',
        (err: unknown) => (isRustynetError(err) ? err.code : 'other'),
      );
      await new Promise((r) => setTimeout(r, 50));
      await h.admin.call('DELETE', '/admin/v1/nodes/b');
      const nm = verifySignedNetmap(await pa, h.server.service.key.publicKey);
      expect(nm.nodes.map((n) => n.id)).to.deep.equal(['a']);
      expect(await pb).to.equal('UNKNOWN_PEER');
    });

    it('leaves expired nodes out until they re-enrol', async () => {
      const pem = generateEd25519KeyPair().privateKeyPem;
      const b = new ControlClient({ url: h.server.url, identityKeyPem: pem });
      await b.enrol({ authKey: key, name: 'b', keys: {} });
      const a = newClient(h.server.url);
      await a.enrol({ authKey: key, name: 'a', keys: {} });
      await h.admin.call('POST', '/admin/v1/nodes/b/expire');
      const nm = verifySignedNetmap(await a.poll(0), h.server.service.key.publicKey);
      expect(nm.nodes.map((n) => n.id)).to.deep.equal(['a']);
      const err = await b.poll(0).catch((e: unknown) => e);
      expect(isRustynetError(err, 'AUTH_FAILED')).to.equal(true);
      await b.enrol({ authKey: key, name: 'b', keys: {} });
      const nm2 = verifySignedNetmap(await a.poll(nm.version), h.server.service.key.publicKey);
      expect(nm2.nodes.map((n) => n.id)).to.deep.equal(['a', 'b']);
    });

    it('publishes reported endpoints and keys', async () => {
      const a = newClient(h.server.url);
      await a.enrol({ authKey: key, name: 'a', keys: {} });
      const v = await a.report({ endpoints: [{ host: '198.18.0.7', port: 4000 }], keys: { p: 'pub' }, probePort: 4001 });
      const nm = verifySignedNetmap(await a.poll(v - 1), h.server.service.key.publicKey);
      expect(nm.nodes[0]).to.include({ probePort: 4001 });
      expect(nm.nodes[0]?.endpoints).to.deep.equal([{ host: '198.18.0.7', port: 4000 }]);
    });

    it('refuses unsigned, stale, replayed and unknown-node poll requests', async () => {
      const pem = generateEd25519KeyPair().privateKeyPem;
      const a = new ControlClient({ url: h.server.url, identityKeyPem: pem });
      await a.enrol({ authKey: key, name: 'a', keys: {} });
      const path = '/v1/netmap?after=0';
      const reason = async (headers: Record<string, string>): Promise<string> => {
        const r = await fetch(h.server.url + path, { headers });
        const body = (await r.json()) as { error: { code: string; details?: { reason?: string } } };
        return `${r.status} ${body.error.code}${body.error.details?.reason ? `:${body.error.details.reason}` : ''}`;
      };
      expect(await reason({})).to.equal('401 AUTH_FAILED:headers-missing');
      const pk = privateKeyFromPem(pem);
      expect(await reason(signRequest(pk, a.identityKey, 'GET', path, '', Date.now() - 120_000))).to.equal(
        '401 AUTH_FAILED:timestamp-stale',
      );
      const once = signRequest(pk, a.identityKey, 'GET', path, '');
      expect((await fetch(h.server.url + path, { headers: once })).status).to.equal(200);
      expect(await reason(once)).to.equal('401 AUTH_FAILED:nonce-replayed');
      const forged = { ...signRequest(pk, a.identityKey, 'GET', '/v1/netmap?after=1', ''), 'x-rustynet-nonce': 'AAAAAAAAAAAAAAAAAAAAAA' };
      expect(await reason(forged)).to.equal('401 AUTH_FAILED:signature-invalid');
      const stranger = newClient(h.server.url);
      const err = await stranger.poll(0).catch((e: unknown) => e);
      expect(isRustynetError(err, 'UNKNOWN_PEER')).to.equal(true);
    });
  });
}
