/**
 * Integration test (root): the netmap's ACL and Magic DNS in a real 3-node mesh.
 *
 * Three real `rustynetd` processes (one network namespace each, WireGuard backend) load
 * `@rustynet/policy-nftables` and `@rustynet/dns-magic`. Real TCP/UDP/ICMP flows between the
 * namespaces must pass or be dropped exactly as the netmap's ACL says, a new netmap with a changed
 * ACL must take effect, `dig @<mesh address>` must answer for every node from every node, a node
 * renamed in a new netmap must resolve under its new name, and `ping <node>.rustynet` must work
 * through each namespace's own resolv.conf (`/etc/netns/<ns>/resolv.conf`).
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import type { AclPolicy } from '@rustynet/plugin-api';
import { DNS_ZONE, Mesh, rustynet } from '@rustynet/testbed';
import { REPO_ROOT, created, startMesh } from './mesh-fixture.js';

const BACKEND = '@rustynet/backend-wireguard';
const TCP_PORT = 5201;
const UDP_PORT = 9999;

/** Version 1: c may not open TCP/5201 to a; UDP/9999 only from a to b. */
const ACL_V1: AclPolicy = {
  rules: [
    { id: 'deny-c-to-a', action: 'drop', src: ['c'], dst: ['a'], proto: 'tcp', ports: [TCP_PORT] },
    { id: 'icmp', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
    { id: 'magic-dns', action: 'accept', src: ['*'], dst: ['*'], proto: 'udp', ports: [53] },
    { id: 'tcp', action: 'accept', src: ['*'], dst: ['*'], proto: 'tcp', ports: [TCP_PORT] },
    { id: 'udp-a-to-b', action: 'accept', src: ['a'], dst: ['b'], proto: 'udp', ports: [UDP_PORT] },
  ],
};

/** Version 2: now b may not open TCP/5201 to a (c may); UDP/9999 from anyone to b. */
const ACL_V2: AclPolicy = {
  rules: [
    { id: 'deny-b-to-a', action: 'drop', src: ['b'], dst: ['a'], proto: 'tcp', ports: [TCP_PORT] },
    { id: 'icmp', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
    { id: 'magic-dns', action: 'accept', src: ['*'], dst: ['*'], proto: 'udp', ports: [53] },
    { id: 'tcp', action: 'accept', src: ['*'], dst: ['*'], proto: 'tcp', ports: [TCP_PORT] },
    { id: 'udp-to-b', action: 'accept', src: ['*'], dst: ['b'], proto: 'udp', ports: [UDP_PORT] },
  ],
};

type Flow = `${'tcp' | 'udp'} ${string}->${string}`;

describe(`policy and Magic DNS in a 3-node mesh through rustynetd (${BACKEND})`, function () {
  this.timeout(120_000);
  let mesh: Mesh | undefined;
  let version = 1;
  const servers: Array<{ close(): Promise<void> }> = [];

  const m = (): Mesh => created(mesh);

  before(async function () {
    mesh = await startMesh(BACKEND, { policy: true, dns: true, acl: ACL_V1, logLevel: 'info' }, version);
    for (const n of mesh.nodes) {
      servers.push(await n.host.tcpEchoServer(TCP_PORT), await n.host.udpEchoServer(UDP_PORT));
    }
  });

  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    await mesh?.destroy();
  });

  /** Tries every TCP/5201 and UDP/9999 flow between the nodes (IPv4, in parallel). */
  async function flows(): Promise<Record<Flow, boolean>> {
    const mesh = m();
    const out: Partial<Record<Flow, boolean>> = {};
    await Promise.all(
      mesh.nodes.flatMap((x) =>
        mesh.nodes
          .filter((y) => y !== x)
          .flatMap((y) => [
            (async () => {
              const payload = `tcp ${x.id}->${y.id}`;
              const r = await x.host.tcpSend(y.v4, TCP_PORT, payload, { timeoutMs: 2000 });
              out[`tcp ${x.id}->${y.id}`] = r?.toString() === payload;
            })(),
            (async () => {
              const payload = `udp ${x.id}->${y.id}`;
              const r = await x.host.udpSend(y.v4, UDP_PORT, payload, { timeoutMs: 700, attempts: 3 });
              out[`udp ${x.id}->${y.id}`] = r?.toString() === payload;
            })(),
          ]),
      ),
    );
    return Object.fromEntries(Object.entries(out).sort(([p], [q]) => p.localeCompare(q))) as Record<Flow, boolean>;
  }

  function expected(deniedTcp: string, udpAllowed: (from: string, to: string) => boolean): Record<Flow, boolean> {
    const out: Partial<Record<Flow, boolean>> = {};
    for (const x of m().nodes) {
      for (const y of m().nodes) {
        if (x === y) continue;
        out[`tcp ${x.id}->${y.id}`] = `${x.id}->${y.id}` !== deniedTcp;
        out[`udp ${x.id}->${y.id}`] = udpAllowed(x.id, y.id);
      }
    }
    return Object.fromEntries(Object.entries(out).sort(([p], [q]) => p.localeCompare(q))) as Record<Flow, boolean>;
  }

  async function explain(src: string, dst: string, proto: string): Promise<{ action: string; ruleId: string | null }> {
    const out = JSON.parse(
      await rustynet(['policy', 'explain', src, dst, proto, '--netmap', m().node(dst).netmapFile, '--json'], { cwd: REPO_ROOT }),
    ) as {
      decision: { action: string; ruleId: string | null };
    };
    return { action: out.decision.action, ruleId: out.decision.ruleId };
  }

  async function publish(opts: Parameters<Mesh['netmap']>[1]): Promise<void> {
    const mesh = m();
    version += 1;
    const errs = await mesh.publish(await mesh.sign(mesh.netmap(version, opts)));
    expect(Object.values(errs).filter(Boolean), 'reload errors').to.deep.equal([]);
    await mesh.waitFor((_id, s) => s.netmap?.version === version, `at netmap version ${version}`, 20_000);
  }

  it('ICMP passes between all nodes (IPv4 and IPv6), as the ACL allows', async () => {
    const results = await m().pingMatrix();
    expect(results.filter((r) => !r.ok).map((r) => `${r.from}->${r.to} ${r.address}`)).to.deep.equal([]);
  });

  it('drops the denied flow and passes the allowed ones, exactly per the netmap ACL (version 1)', async () => {
    const mesh = m();
    const before = (await mesh.policyCounters('a')).find((c) => c.rule === 'deny-c-to-a')?.packets ?? 0;
    expect(await flows()).to.deep.equal(expected('c->a', (x, y) => x === 'a' && y === 'b'));
    const after = (await mesh.policyCounters('a')).find((c) => c.rule === 'deny-c-to-a')?.packets ?? 0;
    expect(after, "a's counter of rule deny-c-to-a").to.be.greaterThan(before);
    expect(await explain('c', 'a', `tcp/${TCP_PORT}`)).to.deep.equal({ action: 'drop', ruleId: 'deny-c-to-a' });
    expect(await explain('b', 'a', `tcp/${TCP_PORT}`)).to.deep.equal({ action: 'accept', ruleId: 'tcp' });
    expect(await explain('b', 'a', `udp/${UDP_PORT}`)).to.deep.equal({ action: 'drop', ruleId: null });
  });

  it('a new netmap with a changed ACL takes effect on every node', async () => {
    await publish({ acl: ACL_V2 });
    expect(await flows()).to.deep.equal(expected('b->a', (_x, y) => y === 'b'));
    expect(await explain('b', 'a', `tcp/${TCP_PORT}`)).to.deep.equal({ action: 'drop', ruleId: 'deny-b-to-a' });
    expect(await explain('c', 'a', `tcp/${TCP_PORT}`)).to.deep.equal({ action: 'accept', ruleId: 'tcp' });
  });

  it(`dig @<mesh address> <node>.${DNS_ZONE} answers for every node from every node, at every node's Magic DNS`, async () => {
    const mesh = m();
    const problems: string[] = [];
    await Promise.all(
      mesh.nodes.flatMap((from) =>
        mesh.nodes.flatMap((server) =>
          mesh.nodes.map(async (target) => {
            const r = await mesh.dig(from.id, server.v4, `${target.id}.${DNS_ZONE}`, 'A');
            if (r.status !== 'NOERROR' || r.answers.join() !== target.v4) {
              problems.push(`${from.id} @${server.v4} ${target.id}: ${r.status} ${r.answers.join(' ')}`);
            }
          }),
        ),
      ),
    );
    expect(problems).to.deep.equal([]);
    const a = mesh.node('a');
    expect(await mesh.dig('a', a.v4, `c.${DNS_ZONE}`, 'AAAA')).to.deep.equal({ status: 'NOERROR', answers: [mesh.node('c').v6] });
    expect((await mesh.dig('a', a.v4, `nobody.${DNS_ZONE}`, 'A')).status).to.equal('NXDOMAIN');
  });

  it('each namespace resolves through its own /etc/netns/<ns>/resolv.conf; ping <node>.rustynet works from every node', async () => {
    const mesh = m();
    for (const n of mesh.nodes) {
      expect(readFileSync(mesh.resolvConfFile(n), 'utf8')).to.contain(`nameserver ${n.v4}`);
      const seen = await n.host.exec('cat', ['/etc/resolv.conf']);
      expect(seen.stdout, `/etc/resolv.conf seen inside ${n.host.netns}`).to.contain(`nameserver ${n.v4}`);
    }
    const failures: string[] = [];
    await Promise.all(
      mesh.nodes.flatMap((from) =>
        mesh.nodes
          .filter((to) => to !== from)
          .map(async (to) => {
            const r = await mesh.pingByName(from.id, `${to.id}.${DNS_ZONE}`);
            if (!r.ok || ![to.v4, to.v6].includes(r.address ?? ''))
              failures.push(`${from.id} -> ${to.id}.${DNS_ZONE}: ${r.address} ${r.output}`);
          }),
      ),
    );
    expect(failures).to.deep.equal([]);
  });

  it('a node renamed in a new netmap resolves under its new name on every node (and by id)', async () => {
    const mesh = m();
    const c = mesh.node('c');
    for (const n of mesh.nodes)
      expect((await mesh.dig(n.id, n.v4, `web.${DNS_ZONE}`)).status, `web before the rename on ${n.id}`).to.equal('NXDOMAIN');
    await publish({ acl: ACL_V2, names: { c: 'web' } });
    // The DNS update follows the netmap apply; allow a moment for it on every node.
    const deadline = Date.now() + 10_000;
    let results: Array<{ id: string; status: string; answers: string[] }>;
    do {
      results = await Promise.all(mesh.nodes.map(async (n) => ({ id: n.id, ...(await mesh.dig(n.id, n.v4, `web.${DNS_ZONE}`)) })));
      if (results.every((r) => r.status === 'NOERROR')) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
    for (const r of results)
      expect({ id: r.id, status: r.status, answers: r.answers }).to.deep.equal({ id: r.id, status: 'NOERROR', answers: [c.v4] });
    for (const n of mesh.nodes) expect((await mesh.dig(n.id, n.v4, `c.${DNS_ZONE}`)).answers, `c by id on ${n.id}`).to.deep.equal([c.v4]);
    const r = await mesh.pingByName('a', `web.${DNS_ZONE}`);
    expect(r.ok, r.output).to.equal(true);
    expect([c.v4, c.v6]).to.include(r.address);
    const short = await mesh.pingByName('b', 'web');
    expect(short.ok, `ping web (search ${DNS_ZONE}): ${short.output}`).to.equal(true);
  });

  it('cleanup removes the policy tables, daemons, namespaces and resolv.conf files', async () => {
    const mesh = m();
    for (const s of servers.splice(0)) await s.close();
    const exits = await mesh.stopDaemons();
    for (const [id, e] of Object.entries(exits)) expect(e, `exit of rustynetd on ${id}`).to.deep.equal({ code: 0, signal: null });
    expect(await mesh.leftovers(), 'left behind in the namespaces').to.deep.equal([]);
    const files = mesh.nodes.map((n) => mesh.resolvConfFile(n));
    await mesh.destroy();
    expect(
      files.filter((f) => existsSync(f)),
      'resolv.conf files after teardown',
    ).to.deep.equal([]);
    expect(await mesh.leftovers({ namespacesGone: true }), 'left behind after teardown').to.deep.equal([]);
  });
});
