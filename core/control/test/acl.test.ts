import { expect } from 'chai';
import { verifySignedNetmap } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { evaluateFlow, parseAclDocument, type AclNode } from '../src/index.js';
import { createKey, newClient, ENGINES, startHarness, type Harness } from './helpers.js';

const nodes: AclNode[] = [
  { id: 'web', tags: ['web'], addresses: ['100.64.0.1', 'fd00::1'] },
  { id: 'db', name: 'database', tags: ['db'], addresses: ['100.64.0.2', 'fd00::2'] },
  { id: 'laptop', tags: [], addresses: ['100.64.0.3'] },
];

describe('control: ACL evaluator (policy plugin semantics)', () => {
  const acl = {
    rules: [
      { id: 'web-to-db', action: 'accept' as const, src: ['tag:web'], dst: ['tag:db'], proto: 'tcp' as const, ports: [5432, '8000-8080'] },
      { id: 'no-laptop', action: 'drop' as const, src: ['laptop'], dst: ['*'], proto: 'any' as const },
      { action: 'accept' as const, src: ['100.64.0.0/10'], dst: ['node:web'], proto: 'icmp' as const },
    ],
  };
  it('first match wins, ports and ranges, node names and ids, CIDRs, default deny', () => {
    expect(evaluateFlow(acl, nodes, { src: 'web', dst: 'db', proto: 'tcp', port: 5432, expect: 'accept' })).to.deep.equal({
      action: 'accept',
      ruleId: 'web-to-db',
    });
    expect(evaluateFlow(acl, nodes, { src: 'web', dst: 'database', proto: 'tcp', port: 8080, expect: 'accept' }).action).to.equal('accept');
    expect(evaluateFlow(acl, nodes, { src: 'web', dst: 'db', proto: 'tcp', port: 22, expect: 'drop' })).to.deep.equal({
      action: 'drop',
      ruleId: null,
    });
    expect(evaluateFlow(acl, nodes, { src: 'laptop', dst: 'web', proto: 'icmp', expect: 'drop' })).to.deep.equal({
      action: 'drop',
      ruleId: 'no-laptop',
    });
    expect(evaluateFlow(acl, nodes, { src: 'db', dst: 'web', proto: 'icmp', expect: 'accept' })).to.deep.equal({
      action: 'accept',
      ruleId: 'rule-2',
    });
    expect(evaluateFlow(acl, nodes, { src: '100.64.9.9', dst: '100.64.0.2', proto: 'udp', port: 53, expect: 'drop' }).action).to.equal(
      'drop',
    );
  });
  it('refuses unknown nodes in a flow', () => {
    expect(() => evaluateFlow(acl, nodes, { src: 'ghost', dst: 'web', proto: 'icmp', expect: 'drop' })).to.throw(/unknown node/);
  });
  it('validates the document with the netmap ACL schema plus tests', () => {
    expect(() => parseAclDocument({ rules: [{ action: 'allow', src: ['*'], dst: ['*'], proto: 'any' }] })).to.throw(
      /acl\/rules\/0\/action/,
    );
    expect(() => parseAclDocument({ rules: [], tests: [{ src: 'a', dst: 'b', proto: 'tcp', expect: 'accept' }] })).to.throw(/needs a port/);
    expect(parseAclDocument({ rules: [], tests: [] }).rules).to.deep.equal([]);
  });
});

for (const engine of ENGINES) {
  describe(`control: ACL admin (set, tests, canary) [${engine}]`, function () {
    this.timeout(20_000);
    let h: Harness;
    beforeEach(async () => {
      h = await startHarness({ engine });
    });
    afterEach(async () => {
      await h.stop();
    });

    const allowAll = {
      rules: [{ id: 'all', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }],
      tests: [{ src: 'a', dst: 'b', proto: 'tcp', port: 22, expect: 'accept' }],
    };
    const denyAll = { rules: [], tests: [{ src: 'a', dst: 'b', proto: 'tcp', port: 22, expect: 'drop' }] };

    it('refuses an ACL whose tests fail, and stores nothing', async () => {
      const key = await createKey(h.admin, { reusable: true });
      for (const name of ['a', 'b']) await newClient(h.server.url).enrol({ authKey: key, name, keys: {} });
      const before = h.server.service.snapshot.version;
      const err = await h.admin
        .call('PUT', '/admin/v1/acl', { acl: { ...allowAll, tests: [{ ...allowAll.tests[0], expect: 'drop' }] } })
        .catch((e: unknown) => e);
      expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
      expect(h.server.service.snapshot.version).to.equal(before);
      expect(h.server.service.snapshot.acl).to.equal(null);
    });

    it('rolls a canary out to tagged nodes, then promotes or rolls back', async () => {
      const key = await createKey(h.admin, { reusable: true });
      const a = newClient(h.server.url);
      const b = newClient(h.server.url);
      await a.enrol({ authKey: key, name: 'a', keys: {} });
      await b.enrol({ authKey: key, name: 'b', keys: {} });
      await h.admin.call('POST', '/admin/v1/nodes/a/tags', { tags: ['canary'] });
      await h.admin.call('PUT', '/admin/v1/acl', { acl: denyAll });
      await h.admin.call('PUT', '/admin/v1/acl', { acl: allowAll, canary: 'canary' });
      const pub = h.server.service.key.publicKey;
      expect(verifySignedNetmap(await a.poll(0), pub).acl?.rules).to.have.length(1);
      expect(verifySignedNetmap(await b.poll(0), pub).acl?.rules).to.have.length(0);
      await h.admin.call('POST', '/admin/v1/acl/rollback');
      expect(verifySignedNetmap(await a.poll(0), pub).acl?.rules).to.have.length(0);
      await h.admin.call('PUT', '/admin/v1/acl', { acl: allowAll, canary: 'canary' });
      await h.admin.call('POST', '/admin/v1/acl/promote');
      expect(verifySignedNetmap(await b.poll(0), pub).acl?.rules).to.have.length(1);
      const err = await h.admin.call('POST', '/admin/v1/acl/promote').catch((e: unknown) => e);
      expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
    });

    it('refuses an ACL the daemon would refuse (CIDR selector with host bits)', async () => {
      const err = await h.admin
        .call('PUT', '/admin/v1/acl', { acl: { rules: [{ action: 'accept', src: ['100.64.0.1/10'], dst: ['*'], proto: 'any' }] } })
        .catch((e: unknown) => e);
      expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
      expect(String(err)).to.contain('host bits');
      expect(h.server.service.snapshot.acl).to.equal(null);
    });

    it('runs the tests of a proposed ACL without setting it', async () => {
      const key = await createKey(h.admin, { reusable: true });
      for (const name of ['a', 'b']) await newClient(h.server.url).enrol({ authKey: key, name, keys: {} });
      const r = (await h.admin.call('POST', '/admin/v1/acl/test', { acl: allowAll })) as { ok: boolean; tests: Array<{ pass: boolean }> };
      expect(r.ok).to.equal(true);
      expect(h.server.service.snapshot.acl).to.equal(null);
    });
  });
}
