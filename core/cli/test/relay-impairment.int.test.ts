/**
 * Integration test (root): the relay protocol under duplication and reordering (issue 16, part 5).
 *
 * Two real `rustynetd` nodes (a, b; WireGuard on wireguard-go) and `rustynet relay serve` on a
 * third host, namespaces `imp-<hex>-*`. The testbed's impairment shim runs in the relay host's
 * namespace and an nftables `redirect` there puts it transparently in front of the relay port
 * before anything registers: every datagram between the nodes and the relay, both ways (HELLO,
 * REGISTER, KEEPALIVE, PROBE, DATA), is duplicated (20 %), reordered (20 %, 3 later datagrams
 * overtake it) and delayed (2 ± 2 ms). The direct path a <-> b is blocked, so the mesh is relayed.
 *
 * Checks: both nodes register and reach each other through the relay; duplicates are not new
 * sessions (the relay holds exactly 2); no session is torn down (no node registers again, the
 * relay never answers NOT_REGISTERED, both daemons stay on `relay` at every sample); duplicated
 * tunnel packets are discarded by the backend's replay window (ping shows no `DUP!`);
 * duplicated path probes are refused by the receiver's replay protection; a REGISTER (REGISTER_ID
 * with a relay identity key) replayed from another source port is dropped as `bad_token` and makes no session. Prints its timings.
 */
import { expect } from 'chai';
import { Mesh, RELAY_PORT, checkPrerequisites, startShimInNamespace, type NamespaceShim } from '@rustynet/testbed';
import { REPO_ROOT, created, describeEachRelayBackend } from './mesh-fixture.js';
import { PathSampler, RELAY_METRICS, daemonMetrics, impPrefix, promValue, relayMetrics } from './impairment-fixture.js';

const BACKENDS = ['@rustynet/backend-wireguard'];
const PROFILE = { duplicatePercent: 20, reorderPercent: 20, reorderWindow: 3, delayMs: 2, jitterMs: 2 };
const SHIM_PORT = 3479;
const SOAK_MS = 15_000;
const REG = 'rustynet_plugin_relay_client_registrations_total';

const PAIRS: Array<[string, string]> = [
  ['a', 'b'],
  ['b', 'a'],
];

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `relay protocol under duplication and reordering (${backend})`,
  function (backend) {
    this.timeout(180_000);
    let mesh: Mesh | undefined;
    let shim: NamespaceShim | undefined;
    const times: Record<string, number | string> = {};
    const m = (): Mesh => created(mesh);
    const regs: Record<string, number> = {};

    before(async function () {
      const problems = checkPrerequisites([backend]);
      if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
      mesh = await Mesh.create({
        backends: [backend],
        nodes: ['a', 'b'],
        relay: true,
        cwd: REPO_ROOT,
        logLevel: 'info',
        namePrefix: impPrefix(),
        relayExtraArgs: ['--metrics-listen', RELAY_METRICS],
      });
      const relay = mesh.relayHost!;
      shim = await startShimInNamespace(relay, {
        listen: { host: relay.underlayAddress, port: SHIM_PORT },
        upstream: { host: relay.underlayAddress, port: RELAY_PORT },
        upstreamBind: relay.underlayAddress,
        seed: 16,
        toServer: PROFILE,
        toClient: PROFILE,
        redirectPort: RELAY_PORT,
      });
      await mesh.publish(await mesh.sign(mesh.netmap(1)));
      const t0 = Date.now();
      await mesh.startDaemons(backend, 1);
      times['daemonsUpMs'] = Date.now() - t0;
    });

    after(async () => {
      const final = await shim?.stop();
      await mesh?.destroy();
      if (final) times['shim'] = JSON.stringify(final);
      console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it('registers both nodes through the shim and relays a <-> b once the direct path is blocked', async () => {
      const mesh = m();
      const t0 = Date.now();
      for (const id of ['a', 'b']) {
        for (let i = 0; i < 100; i++) {
          regs[id] = promValue(await daemonMetrics(mesh, id), REG);
          if ((regs[id] ?? 0) >= 1) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(regs[id], `relay registrations of ${id}`).to.be.at.least(1);
      }
      times['registeredAfterUpMs'] = Date.now() - t0;
      const tBlock = await mesh.blockDirect('a', 'b');
      const tRelay = await mesh.waitForPath(PAIRS, 'relay', 15_000);
      times['blockToRelayStatusMs'] = tRelay - tBlock;
      const s = await shim!.stats();
      expect(s.toServer.duplicated, 'datagrams duplicated towards the relay').to.be.greaterThan(0);
      expect(s.toServer.reordered, 'datagrams reordered towards the relay').to.be.greaterThan(0);
      expect(s.toClient.duplicated, 'datagrams duplicated towards the nodes').to.be.greaterThan(0);
      expect(s.clients, 'one upstream socket per node').to.equal(2);
    });

    it(`keeps both sessions for ${SOAK_MS / 1000} s of relayed traffic: no teardown, no re-registration, duplicates discarded`, async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      const before = { relay: await relayMetrics(mesh), a: await daemonMetrics(mesh, 'a'), b: await daemonMetrics(mesh, 'b') };
      const sampler = new PathSampler(mesh, PAIRS, 200);
      const count = Math.round(SOAK_MS / 200);
      const ping = await a.host.exec('ping', ['-c', String(count), '-i', '0.2', '-W', '2', b.v4], {
        reject: false,
        timeoutMs: SOAK_MS + 20_000,
      });
      await sampler.stop();
      const relay = await relayMetrics(mesh);
      const received = Number(/(\d+) received/.exec(ping.stdout)?.[1] ?? 0);
      times['pingReceived'] = `${received}/${count}`;
      expect(received, `ping replies a -> b through the impaired relay\n${ping.stdout.slice(-300)}`).to.be.at.least(count * 0.9);
      expect(ping.stdout, 'duplicated tunnel packets reach ping (the backend must discard replays)').to.not.include('DUP!');
      expect(promValue(relay, 'relay_server_sessions'), 'relay sessions (duplicates are not new sessions)').to.equal(2);
      const notRegistered = promValue(relay, 'relay_server_drops_total', ['reason="not_registered"']);
      expect(
        notRegistered - promValue(before.relay, 'relay_server_drops_total', ['reason="not_registered"']),
        'datagrams from a node the relay forgot',
      ).to.equal(0);
      for (const id of ['a', 'b'] as const) {
        const now = promValue(await daemonMetrics(mesh, id), REG);
        expect(now, `relay registrations of ${id} during the run (a session torn down re-registers)`).to.equal(promValue(before[id], REG));
      }
      const off = sampler.samples.filter((s) => Object.values(s.paths).some((p) => p !== 'relay'));
      expect(
        off.map((s) => JSON.stringify(s.paths)),
        'samples off the relay path',
      ).to.deep.equal([]);
      times['samples'] = sampler.samples.length;
      times['relayForwarded'] = promValue(relay, 'relay_server_forwarded_packets_total');
    });

    it('refuses duplicated path probes as replays (the receiver’s replay protection holds)', async function () {
      const mesh = m();
      let replayed = 0;
      let replies = 0;
      for (const id of ['a', 'b']) {
        const t = await daemonMetrics(mesh, id);
        replayed += promValue(t, 'rustynet_path_probe_dropped_total', ['channel="relay"', 'reason="replayed"']);
        replies += promValue(t, 'rustynet_path_probe_replies_total', ['channel="relay"']);
      }
      times['relayProbeReplies'] = replies;
      times['relayProbesRefusedAsReplayed'] = replayed;
      const s = await shim!.stats();
      // Duplicated relay probes existed only if probes went through the relay at all.
      if (replies === 0) this.skip();
      expect(s.toClient.duplicated).to.be.greaterThan(0);
      expect(replayed, 'duplicated PROBEs refused by the receiving daemon').to.be.greaterThan(0);
    });

    it('drops a REGISTER replayed from another source port (bad_token); a same-source duplicate refreshes, never adds a session', async () => {
      const mesh = m();
      const drops = async (): Promise<number> => promValue(await relayMetrics(mesh), 'relay_server_drops_total', ['reason="bad_token"']);
      const before = await drops();
      // REGISTER_ID (0x0c) with a relay identity key in the netmap (the mesh's default), else REGISTER (0x03).
      const type = await shim!.replay(0x0c, 'new').then(
        () => 0x0c,
        async () => (await shim!.replay(0x03, 'new'), 0x03),
      );
      times['replayedType'] = type;
      let after = before;
      for (let i = 0; i < 50 && after === before; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = await drops();
      }
      expect(after - before, 'bad_token drops after the replay from a new port').to.equal(1);
      await shim!.replay(type, 'same');
      await new Promise((r) => setTimeout(r, 500));
      const relay = await relayMetrics(mesh);
      expect(promValue(relay, 'relay_server_sessions'), 'relay sessions after both replays').to.equal(2);
      const ping = await mesh.node('b').host.ping(mesh.node('a').v4, { attempts: 5, timeoutS: 2 });
      expect(ping, 'b -> a still relayed after the replays').to.equal(true);
    });
  },
);
