/**
 * Integration test (root): exit node, LAN access and kill switch (docs/exit-nodes.md).
 *
 * Two real `rustynetd` nodes with the policy plugin: b advertises `0.0.0.0/0` and serves as the
 * exit; a chooses it (`exitNode: b`). An "internet" stub namespace hangs off b (203.0.113.0/24),
 * a "LAN" stub off a (192.0.2.0/24), and a gets an underlay default route via b's underlay
 * address, so that anything a leaks outside its tunnel has a way out (and shows on a's eth0).
 *
 * Checked on both reference backends: a reaches the internet host through b, which sees b's
 * side address as the source (NAT); the LAN is blocked without `exitLanAccess` and reachable with
 * it; when b stops (and when b leaves the netmap) a's traffic to the internet host is dropped by
 * the kill switch and a capture on a's underlay shows none of it; b back brings traffic back; b's
 * crash leaves forwarding on, its next start and stop turn it off; a clean stop leaves no table
 * or sysctl that Rustynet made. Prints the times it measured.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { expect } from 'chai';
import type { AclPolicy } from '@rustynet/plugin-api';
import { attachStubNetwork, Mesh, parsePcap, sleep, type StubNetwork } from '@rustynet/testbed';
import type { DaemonStatus } from '../src/api-client.js';
import { created, startMesh } from './mesh-fixture.js';

const BACKENDS: string[] = ['@rustynet/backend-wireguard', '@rustynet/backend-openvpn'];
const TABLE = 'rustynet_policy';
const ACL: AclPolicy = { rules: [{ id: 'all', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }] };
const EXIT_ROUTES = { b: ['0.0.0.0/0'] };

for (const backend of BACKENDS) {
  describe(`exit node, LAN access and kill switch (${backend})`, function () {
    this.timeout(240_000);
    let mesh: Mesh | undefined;
    let internet: StubNetwork | undefined;
    let lan: StubNetwork | undefined;
    let version = 1;
    const m = (): Mesh => created(mesh);
    const inet = (): StubNetwork =>
      internet ??
      (() => {
        throw new Error('no internet stub');
      })();

    /** Signs and publishes the next netmap version. @returns `Date.now()` just before it was written. */
    const publish = async (opts: Parameters<Mesh['netmap']>[1] = {}): Promise<number> => {
      version += 1;
      const doc = await m().sign(m().netmap(version, opts));
      const t = Date.now();
      await m().publish(doc);
      return t;
    };
    const sh = async (id: string, file: string, args: string[]): Promise<string> =>
      (await m().node(id).host.exec(file, args, { reject: false })).stdout;
    const forwarding = async (id: string): Promise<string> => (await sh(id, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).trim();
    const table = (id: string): Promise<string> => sh(id, 'nft', ['list', 'table', 'inet', TABLE]);
    const pingInternet = (attempts = 1): Promise<boolean> => m().node('a').host.ping(inet().address, { attempts, timeoutS: 1 });
    /** Rewrites a's config with `fields` (undefined deletes) and restarts its daemon, waiting until it is up. */
    const reconfigureA = async (fields: Record<string, unknown>): Promise<void> => {
      const file = m().node('a').configFile;
      const old = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      const cfg = Object.fromEntries(Object.entries({ ...old, ...fields }).filter(([, v]) => v !== undefined));
      await m().stopDaemon('a');
      await writeFile(file, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
      m().restartDaemon('a');
      await m().waitFor((_id, s) => s.state === 'up' && s.netmap?.version === version, 'a up again', 60_000);
    };

    /** Polls node `id`'s status until `pred` holds. @throws Error naming `what` after `ms`. */
    const waitNode = async (id: string, pred: (s: DaemonStatus) => boolean, what: string, ms: number): Promise<void> => {
      const end = Date.now() + ms;
      for (;;) {
        const s = await m()
          .status(id)
          .catch(() => undefined);
        if (s && pred(s)) return;
        if (Date.now() > end) throw new Error(`${id}: not ${what} after ${ms} ms:\n${await m().tail(id, 30)}`);
        await sleep(200);
      }
    };

    before(async function () {
      mesh = await startMesh(backend, {
        nodes: ['a', 'b'],
        policy: true,
        acl: ACL,
        logLevel: 'info',
        nodeConfig: { a: { exitNode: 'b' } },
      });
      internet = await attachStubNetwork(mesh.net, mesh.node('b').host, 'inet', '203.0.113');
      lan = await attachStubNetwork(mesh.net, mesh.node('a').host, 'lan', '192.0.2');
      // A way out for leaks: a's underlay default route via b's underlay address.
      await mesh.node('a').host.exec('ip', ['route', 'add', 'default', 'via', mesh.node('b').host.underlayAddress]);
    });

    after(async () => {
      await mesh?.destroy();
    });

    it('a reaches the internet host through b, which NATs it; the kill switch is armed', async () => {
      const t0 = await publish({ routes: EXIT_ROUTES });
      const pinger = m().continuousPing('a', inet().address, 0.1);
      const tFirst = await pinger.firstReplyAfter(t0, 30_000);
      await pinger.stop();
      console.log(
        `      time to traffic through the exit: ${tFirst === null ? 'never' : `${tFirst - t0} ms`} after the netmap naming b as exit was published`,
      );
      expect(tFirst, 'a ping a -> internet host through b').to.not.equal(null);
      const watch = inet().watchSources(3_000, ['icmp', 'and', 'dst', 'host', inet().address]);
      await sleep(500);
      expect(await pingInternet(2)).to.equal(true);
      const sources = await watch;
      console.log(`      internet host saw sources: ${[...new Set(sources)].join(', ')}`);
      expect(sources.length, 'packets seen by the internet host').to.be.greaterThan(0);
      expect([...new Set(sources)], 'source address at the internet host (NAT)').to.deep.equal([inet().hostSideAddress]);
      expect(await forwarding('b'), 'b turned IPv4 forwarding on').to.equal('1');
      expect(await table('b')).to.contain('masquerade');
      expect(await table('a')).to.contain('gw_kill');
      const sa = await m().status('a');
      const sb = await m().status('b');
      expect(sa.exit).to.include({ node: 'b', serving: false, killSwitch: 'armed', lanAccess: false });
      expect(sb.exit).to.include({ node: null, serving: true, killSwitch: 'off' });
    });

    it('LAN access off blocks the local subnet, on keeps it reachable directly; clearing the choice lifts the kill switch', async () => {
      const l =
        lan ??
        (() => {
          throw new Error('no lan stub');
        })();
      expect(await m().node('a').host.ping(l.address, { attempts: 2, timeoutS: 1 }), 'LAN with lanAccess off').to.equal(false);
      await reconfigureA({ exitLanAccess: true });
      expect(await m().node('a').host.ping(l.address, { attempts: 5, timeoutS: 1 }), 'LAN with lanAccess on').to.equal(true);
      expect((await m().status('a')).exit?.lanAccess).to.equal(true);
      expect(await pingInternet(5), 'internet still through the exit').to.equal(true);
      // The choice cleared: no kill switch, the LAN is reachable without lanAccess; then back.
      await reconfigureA({ exitLanAccess: undefined, exitNode: undefined });
      expect(await table('a'), "a's table without an exit").to.not.contain('gw_kill');
      expect((await m().status('a')).exit ?? null).to.equal(null);
      expect(await m().node('a').host.ping(l.address, { attempts: 5, timeoutS: 1 }), 'LAN without an exit').to.equal(true);
      await reconfigureA({ exitNode: 'b' });
      expect(await table('a')).to.contain('gw_kill');
    });

    it('the exit stops or leaves the netmap: a is blocked, nothing leaks on its underlay; the exit back brings traffic back', async () => {
      await waitNode('a', (s) => s.peers.length === 1, 'a sees b', 30_000);
      expect(await pingInternet(5)).to.equal(true);
      const cap = await m()
        .node('a')
        .host.capture({ filter: ['host', inet().address] });
      const pinger = m().continuousPing('a', inet().address, 0.1);
      await pinger.firstReplyAfter(Date.now(), 10_000);
      const tStop = Date.now();
      await m().stopDaemon('b');
      const tStopped = Date.now();
      await sleep(3_000);
      const last = pinger.replies.at(-1) ?? 0;
      console.log(
        `      time to block after the exit died: b's stop took ${tStopped - tStop} ms; last reply ${last - tStop} ms after the stop began, none in the 3 s after`,
      );
      expect(pinger.replies.filter((t) => t > tStopped).length, 'replies after b stopped').to.equal(0);
      // b leaves the netmap: a drops its default route; the kill switch keeps the traffic in.
      await publish({ without: ['b'] });
      await waitNode('a', (s) => s.netmap?.version === version && s.peers.length === 0, 'without b', 30_000);
      await sleep(3_000);
      const blockedReplies = pinger.replies.filter((t) => t > tStop + 2_000).length;
      await pinger.stop();
      const pcap = await cap.stop();
      const leaked = parsePcap(pcap).filter((p) => p.dst === inet().address);
      const drops = (await table('a')).match(/counter gw_kill_drop \{[^}]*packets (\d+)/s)?.[1] ?? '?';
      console.log(
        `      exit down: ${blockedReplies} replies, ${leaked.length} packets to the internet host on a's underlay, kill-switch drops ${drops}`,
      );
      expect(blockedReplies, 'replies while the exit is down').to.equal(0);
      expect(leaked.length, "packets to the internet host on a's underlay").to.equal(0);
      expect(Number(drops), 'kill switch drops counted').to.be.greaterThan(0);
      // b back.
      const tBack = await publish({ routes: EXIT_ROUTES });
      m().restartDaemon('b');
      const again = m().continuousPing('a', inet().address, 0.1);
      const tReply = await again.firstReplyAfter(tBack, 60_000);
      await again.stop();
      console.log(`      exit back: first reply ${tReply === null ? 'never' : `${tReply - tBack} ms`} after b restarted`);
      expect(tReply, 'traffic through the exit again').to.not.equal(null);
    });

    it("b's crash leaves forwarding on; its next start turns it back, and a clean stop leaves no residue", async () => {
      await m().killDaemon('b');
      expect(await forwarding('b'), 'after SIGKILL (crash)').to.equal('1');
      const tRestart = Date.now();
      m().restartDaemon('b');
      await m().waitFor((_id, s) => s.state === 'up' && s.netmap?.version === version, 'b up again', 60_000);
      const log = await m().tail('b', 400);
      expect(log, "b's log after the crash").to.contain('stale exit-node state found');
      // After a crash the client still holds a session with the dead exit; the backend's own
      // re-handshake (a WireGuard-style data timeout is 15 s) brings it back.
      const pinger = m().continuousPing('a', inet().address, 0.2);
      const tReply = await pinger.firstReplyAfter(tRestart, 45_000);
      await pinger.stop();
      console.log(
        `      exit crash and restart: first reply through it ${tReply === null ? 'never' : `${tReply - tRestart} ms`} after the restart`,
      );
      expect(tReply, 'traffic through the restarted exit').to.not.equal(null);
      await m().stopDaemons();
      for (const id of ['a', 'b']) {
        const tables = await sh(id, 'nft', ['list', 'tables']);
        expect(tables, `nft tables left on ${id}`).to.not.contain(TABLE);
        expect(await forwarding(id), `ip_forward on ${id} after stop`).to.equal('0');
      }
    });
  });
}
