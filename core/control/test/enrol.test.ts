import { expect } from 'chai';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateEd25519KeyPair, verifySignedNetmap } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { ControlClient } from '../src/index.js';
import { codeOf, createKey, newClient, ENGINES, startHarness, type Harness } from './helpers.js';

for (const engine of ENGINES) {
  describe(`control: enrolment [${engine}]`, function () {
    this.timeout(20_000);
    let h: Harness;
    beforeEach(async () => {
      h = await startHarness({ engine });
    });
    afterEach(async () => {
      await h.stop();
    });

    it('enrols a node, allocates overlay addresses and serves a signed netmap the daemon verifies', async () => {
      const key = await createKey(h.admin);
      const c = newClient(h.server.url);
      const r = await c.enrol({
        authKey: key,
        name: 'alpha',
        keys: { 'proto-a': 'opaque-public-key' },
        endpoints: [{ host: '198.18.0.1', port: 51820 }],
      });
      expect(r.created).to.equal(true);
      expect(r.node.id).to.equal('alpha');
      expect(r.node.addresses[0]).to.match(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+\/32$/);
      expect(r.node.addresses[1]).to.match(/^fd[0-9a-f]{2}:/);
      const signed = await c.poll(0);
      expect(signed).to.not.equal(null);
      const nm = verifySignedNetmap(signed, h.server.service.key.publicKey);
      expect(nm.nodes.map((n) => n.id)).to.deep.equal(['alpha']);
      expect(nm.nodes[0]?.keys).to.deep.equal({ 'proto-a': 'opaque-public-key' });
    });

    it('gives exactly one node for 20 concurrent enrolments with one one-time key', async () => {
      const key = await createKey(h.admin);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => newClient(h.server.url).enrol({ authKey: key, name: `n${i}`, keys: {} })),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).to.have.length(1);
      for (const r of results) if (r.status === 'rejected') expect(isRustynetError(r.reason, 'AUTH_FAILED')).to.equal(true);
      const nodes = (await h.admin.call('GET', '/admin/v1/nodes')) as { nodes: unknown[] };
      expect(nodes.nodes).to.have.length(1);
    });

    it('refuses a used, unknown or expired key with AUTH_FAILED and stores nothing', async () => {
      const key = await createKey(h.admin);
      await newClient(h.server.url).enrol({ authKey: key, name: 'a', keys: {} });
      expect(await codeOf(newClient(h.server.url).enrol({ authKey: key, name: 'b', keys: {} }))).to.equal('AUTH_FAILED:auth-key-used');
      expect(await codeOf(newClient(h.server.url).enrol({ authKey: 'rnk_nope', name: 'b', keys: {} }))).to.equal(
        'AUTH_FAILED:auth-key-unknown',
      );
      const short = await createKey(h.admin, { expiresInMs: 1 });
      await new Promise((r) => setTimeout(r, 5));
      expect(await codeOf(newClient(h.server.url).enrol({ authKey: short, name: 'b', keys: {} }))).to.equal('AUTH_FAILED:auth-key-expired');
      const nodes = (await h.admin.call('GET', '/admin/v1/nodes')) as { nodes: unknown[] };
      expect(nodes.nodes).to.have.length(1);
    });

    it('suffixes a clashing name and keeps id and addresses on re-enrolment of the same identity', async () => {
      const key = await createKey(h.admin, { reusable: true, tags: ['web'] });
      const pem = generateEd25519KeyPair().privateKeyPem;
      const a = await new ControlClient({ url: h.server.url, identityKeyPem: pem }).enrol({ authKey: key, name: 'web', keys: { p: 'k1' } });
      const b = await newClient(h.server.url).enrol({ authKey: key, name: 'web', keys: {} });
      expect(b.node.id).to.equal('web-2');
      const again = await new ControlClient({ url: h.server.url, identityKeyPem: pem }).enrol({
        authKey: key,
        name: 'other',
        keys: { p: 'k2' },
      });
      expect(again.created).to.equal(false);
      expect(again.node.id).to.equal(a.node.id);
      expect(again.node.addresses).to.deep.equal(a.node.addresses);
      expect(again.node.tags).to.deep.equal(['web']);
    });

    it('refuses a replayed challenge and a bad signature', async () => {
      const key = await createKey(h.admin, { reusable: true });
      const ch = (await (await fetch(`${h.server.url}/v1/enrol/challenge`, { method: 'POST' })).json()) as { challenge: string };
      const body = {
        authKey: key,
        challenge: ch.challenge,
        identityKey: newClient(h.server.url).identityKey,
        name: 'x',
        keys: {},
        endpoints: [],
        signature: `${'A'.repeat(86)}==`,
      };
      const r1 = await fetch(`${h.server.url}/v1/enrol`, { method: 'POST', body: JSON.stringify(body) });
      expect(r1.status).to.equal(401);
      expect(((await r1.json()) as { error: { details: { reason: string } } }).error.details.reason).to.equal('signature-invalid');
      const r2 = await fetch(`${h.server.url}/v1/enrol`, { method: 'POST', body: JSON.stringify(body) });
      expect(((await r2.json()) as { error: { details: { reason: string } } }).error.details.reason).to.equal('challenge-unknown');
    });

    it('refuses malformed and oversized bodies with INVALID_INPUT', async () => {
      const bad = await fetch(`${h.server.url}/v1/enrol`, { method: 'POST', body: '{not json' });
      expect(bad.status).to.equal(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).to.equal('INVALID_INPUT');
      const extra = await fetch(`${h.server.url}/v1/enrol`, { method: 'POST', body: JSON.stringify({ hello: 1 }) });
      expect(extra.status).to.equal(400);
      const dup = await fetch(`${h.server.url}/v1/enrol`, { method: 'POST', body: '{"name":"a","name":"b"}' });
      expect(dup.status).to.equal(400);
      expect(((await dup.json()) as { error: { message: string } }).error.message).to.contain('repeats the key "name"');
      const big = await fetch(`${h.server.url}/v1/enrol`, { method: 'POST', body: 'x'.repeat(200_000) });
      expect(big.status).to.equal(413);
    });

    it('logs enrolments and refusals without the pre-auth key', async () => {
      await h.stop();
      const records: string[] = [];
      const rec =
        (level: string) =>
        (obj: object | string, msg?: string): void =>
          void records.push(JSON.stringify({ level, obj, msg }));
      const logger = {
        trace: rec('trace'),
        debug: rec('debug'),
        info: rec('info'),
        warn: rec('warn'),
        error: rec('error'),
        child: () => logger,
      };
      h = await startHarness({ engine, logger });
      const key = await createKey(h.admin);
      await newClient(h.server.url).enrol({ authKey: key, name: 'a', keys: {} });
      await newClient(h.server.url)
        .enrol({ authKey: key, name: 'b', keys: {} })
        .catch(() => undefined);
      expect(records.some((r) => r.includes('node enrolled'))).to.equal(true);
      expect(records.some((r) => r.includes('auth-key-used'))).to.equal(true);
      for (const r of records) expect(r).to.not.contain(key);
    });

    it('keeps the data dir 0700 and database and key files 0600', async () => {
      expect((await stat(h.dir)).mode & 0o777).to.equal(0o700);
      const files = engine === 'sqlite' ? ['control.db', 'control-plane.key', 'admin.sock'] : ['control-plane.key', 'admin.sock'];
      for (const f of files) expect((await stat(join(h.dir, f))).mode & 0o777, f).to.equal(0o600);
    });
  });
}
