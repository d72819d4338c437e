/**
 * Two control-plane instances on one PostgreSQL database (a real server, see pg-cluster.ts):
 * concurrent enrolments split across both keep one-time keys, versions, names and overlay
 * addresses correct, and a node enrolled on one instance is served by the other at once.
 */
import { expect } from 'chai';
import { verifySignedNetmap } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { transactionStats, type EnrolReply } from '../src/index.js';
import { createKey, ENGINES, newClient, twoInstances, type Harness } from './helpers.js';

(ENGINES.includes('postgres') ? describe : describe.skip)('control: two instances on one PostgreSQL database', function () {
  this.timeout(60_000);
  let a: Harness;
  let b: Harness;
  beforeEach(async () => {
    [a, b] = await twoInstances();
  });
  afterEach(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it('50 concurrent enrolments with 10 one-time keys across both: exactly 10 nodes, unique versions, names and addresses', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 10; i++) keys.push(await createKey(i % 2 === 0 ? a.admin : b.admin));
    const retriesBefore = transactionStats.retries;
    const t0 = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        // Every key raced by 5 clients, on alternating instances, all asking for the same name.
        newClient((i % 2 === 0 ? a : b).server.url).enrol({ authKey: keys[i % 10], name: 'node', keys: {} }),
      ),
    );
    const ms = Date.now() - t0;
    const ok = results.filter((r): r is PromiseFulfilledResult<EnrolReply> => r.status === 'fulfilled').map((r) => r.value);
    for (const r of results) {
      if (r.status === 'rejected') expect(isRustynetError(r.reason, 'AUTH_FAILED'), String(r.reason)).to.equal(true);
    }
    console.log(
      `      50 enrolments (10 one-time keys) over 2 instances in ${ms} ms: ${ok.length} ok, ${transactionStats.retries - retriesBefore} serialization retries`,
    );
    expect(ok).to.have.length(10);
    const versions = ok.map((r) => r.version);
    expect(new Set(versions).size, 'duplicate versions').to.equal(10);
    const names = ok.map((r) => r.node.id);
    expect(new Set(names).size, 'duplicate names').to.equal(10);
    expect(names).to.include('node');
    const addresses = ok.flatMap((r) => r.node.addresses);
    expect(new Set(addresses).size, 'an address handed out twice').to.equal(20);
    const listed = (await b.admin.call('GET', '/admin/v1/nodes')) as { nodes: Array<{ id: string }> };
    expect(listed.nodes.map((n) => n.id).sort()).to.deep.equal([...names].sort());
  });

  it('versions strictly increase under concurrent changes from both; both serve the same newest map', async () => {
    const key = await createKey(a.admin, { reusable: true });
    const clients = Array.from({ length: 20 }, (_, i) => ({ c: newClient((i % 2 === 0 ? a : b).server.url), i }));
    const replies = await Promise.all(clients.map(({ c, i }) => c.enrol({ authKey: key, name: `n${i % 4}`, keys: {} })));
    const seen = replies.map((r) => r.version);
    expect(new Set(seen).size).to.equal(20);
    // A node enrolled on one instance polls the other at once (it re-reads the state on a miss).
    const first = clients[0]?.c;
    const viaB = newClient(b.server.url);
    await viaB.enrol({ authKey: key, name: 'late', keys: {} });
    const pub = a.server.service.key.publicKey;
    const fromA = await newClient(a.server.url).enrol({ authKey: key, name: 'probe', keys: {} });
    expect(fromA.version).to.be.greaterThan(Math.max(...seen));
    // The LISTEN/NOTIFY path (or the periodic check) brings both to the same version.
    for (let i = 0; i < 100 && a.server.service.snapshot.version !== b.server.service.snapshot.version; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(a.server.service.snapshot.version).to.equal(b.server.service.snapshot.version);
    const nmA = verifySignedNetmap(await first.poll(0), pub);
    const nmB = verifySignedNetmap(await viaB.poll(0), pub);
    expect(nmA.version).to.equal(nmB.version);
    expect(nmA.nodes).to.have.length(22);
    const addrs = nmB.nodes.flatMap((n) => n.addresses);
    expect(new Set(addrs).size).to.equal(addrs.length);
  });
});
