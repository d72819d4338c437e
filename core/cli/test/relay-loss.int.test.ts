/**
 * Integration test (root): relay registration and path switching under 10 % loss (issue 16, part 5).
 *
 * Two real `rustynetd` nodes (a, b; WireGuard on wireguard-go) and `rustynet relay serve` on a
 * third host, namespaces `imp-<hex>-*`. Before the daemons start, nftables drops 10 % of every
 * underlay packet in both directions in a's and b's namespaces (`numgen random mod 100 < 10`,
 * harness `dropShare`): the relay legs, the direct path and the probes all lose packets, so a
 * round trip a -> relay -> b -> relay -> a loses about a third of its tries.
 *
 * A sampler reads both daemons' status every 100 ms during the whole run. "No wrong verdict":
 * - registration completes on both nodes (`relay_client_registrations_total` ≥ 1);
 * - while the direct path is blocked, once a daemon reported `relay` it never reports `direct`
 *   again until the unblock (a `direct` verdict then names a path that carries nothing);
 * - pings a -> b get a reply through the relay within 10 s of the block (the status may
 *   lead it: printed as relayStatusBeforeTrafficMs), and answers in every 2 s window outside the
 *   switch windows (the reported path carries traffic), and the endpoint matches the path
 *   (relay: the loopback proxy; direct: the peer's underlay address) outside the switch-back
 *   window, where backend roaming can run ahead of the status (counted and printed).
 * Prints its timings.
 */
import { expect } from 'chai';
import { Mesh, checkPrerequisites, type ContinuousPing } from '@rustynet/testbed';
import { REPO_ROOT, created, describeEachRelayBackend } from './mesh-fixture.js';
import { PathSampler, daemonMetrics, type PathSample, impPrefix, promValue, silentBuckets } from './impairment-fixture.js';

const BACKENDS = ['@rustynet/backend-wireguard'];
const LOSS_PERCENT = 10;
/** Generous bounds under loss (the loss-free targets are 3 s and 15 s). */
const TO_RELAY_MS = 10_000;
const TO_DIRECT_MS = 30_000;
const STEADY_MS = 8_000;
const BUCKET_MS = 2_000;
/** Two WireGuard handshake retries (REKEY_TIMEOUT 5 s each) plus slack. */
const FIRST_REPLY_MS = 12_000;

const PAIRS: Array<[string, string]> = [
  ['a', 'b'],
  ['b', 'a'],
];

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `relay and path switching under ${LOSS_PERCENT} % underlay loss (${backend})`,
  function (backend) {
    this.timeout(180_000);
    let mesh: Mesh | undefined;
    let sampler: PathSampler | undefined;
    let pinger: ContinuousPing | undefined;
    const times: Record<string, number> = {};
    const m = (): Mesh => created(mesh);

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
      });
      await Promise.all(['a', 'b'].map((id) => m().node(id).host.dropShare(LOSS_PERCENT)));
      await mesh.publish(await mesh.sign(mesh.netmap(1)));
      const t0 = Date.now();
      await mesh.startDaemons(backend, 1);
      times['daemonsUpMs'] = Date.now() - t0;
    });

    after(async () => {
      await pinger?.stop();
      await sampler?.stop();
      await mesh?.destroy();
      console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it('registers both nodes with the relay despite the loss', async () => {
      const mesh = m();
      const t0 = Date.now();
      for (const id of ['a', 'b']) {
        let regs = 0;
        for (let i = 0; i < 100 && regs < 1; i++) {
          regs = promValue(await daemonMetrics(mesh, id), 'rustynet_plugin_relay_client_registrations_total');
          if (regs < 1) await new Promise((r) => setTimeout(r, 200));
        }
        expect(regs, `relay registrations of ${id}`).to.be.at.least(1);
      }
      times['registeredAfterUpMs'] = Date.now() - t0;
    });

    it(`stays on a path that carries traffic: direct, blocked -> relay, unblocked -> direct (${LOSS_PERCENT} % loss)`, async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      await mesh.waitForPath(PAIRS, 'direct', 30_000);
      sampler = new PathSampler(mesh, PAIRS);
      pinger = mesh.continuousPing('a', b.v4, 0.1);

      // 1. Steady state under loss. The steady window starts at the first reply: a lost
      // handshake initiation is retried by WireGuard only after REKEY_TIMEOUT (5 s, WireGuard
      // paper §6.1), so under 10 % loss the first data can wait one retry after `direct`.
      const tPing = Date.now();
      while (pinger.replies.length === 0 && Date.now() - tPing < FIRST_REPLY_MS) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(pinger.replies.length, `a reply within ${FIRST_REPLY_MS} ms on the direct path`).to.be.above(0);
      times['directToFirstReplyMs'] = Date.now() - tPing;
      const s0 = Date.now();
      await new Promise((r) => setTimeout(r, STEADY_MS));
      const steady = sampler.between(s0);
      times['steadySpuriousRelaySamples'] = steady.filter((s) => Object.values(s.paths).includes('relay')).length;

      // 2. Block the direct path.
      const tBlock = await mesh.blockDirect('a', 'b');
      const tRelay = await mesh.waitForPath(PAIRS, 'relay', TO_RELAY_MS);
      times['blockToRelayStatusMs'] = tRelay - tBlock;
      await new Promise((r) => setTimeout(r, STEADY_MS));
      const tUnblock = await mesh.unblockDirect('a', 'b');
      const blocked = sampler.between(tRelay, tUnblock);

      // 3. Unblock.
      const tDirect = await mesh.waitForPath(PAIRS, 'direct', TO_DIRECT_MS);
      times['unblockToDirectStatusMs'] = tDirect - tUnblock;
      await new Promise((r) => setTimeout(r, STEADY_MS));
      const tEnd = Date.now();
      await sampler.stop();
      const afterDirect = sampler.between(tDirect, tEnd);
      times['samples'] = sampler.samples.length;

      // Wrong verdicts: direct while blocked after the switch to relay.
      const wrong = blocked.filter((s) => Object.values(s.paths).some((p) => p !== 'relay'));
      expect(
        wrong.map((s) => `${s.t - tBlock} ms: ${JSON.stringify(s.paths)}`),
        'samples not on relay while blocked (after the switch)',
      ).to.deep.equal([]);
      // The endpoint matches the reported path (relay: the loopback proxy; direct: the peer's
      // underlay address) in the steady, blocked and direct-again phases. In the switch-back
      // window [unblock, both direct) a node still on relay may see its backend roam to the
      // peer's direct address once the peer moved first (WireGuard follows the source of
      // authenticated packets): traffic flows direct while status still says relay. That is
      // counted and printed (docs/relay.md, "Testing under impairment"), not a blocked path.
      const mismatch = (s: PathSample): boolean =>
        Object.entries(s.paths).some(([k, p]) => {
          const ep = s.endpoints[k] ?? '';
          return (p === 'relay' && !ep.startsWith('127.0.0.1:')) || (p === 'direct' && ep.startsWith('127.0.0.1:'));
        });
      const mismatched = [...sampler.between(s0, tUnblock), ...sampler.between(tDirect)].filter(mismatch);
      times['switchBackRoamedSamples'] = sampler.between(tUnblock, tDirect).filter(mismatch).length;
      // Traffic flows in every window outside the switch windows, whatever the reported path.
      const replies = pinger.replies;
      // +50 ms: a reply to a request sent before the block (sub-ms round trip) cannot count.
      const firstRelayed = replies.find((t) => t > tBlock + 50) ?? Infinity;
      times['blockToFirstRelayedReplyMs'] = firstRelayed - tBlock;
      // How long the status said relay before relayed traffic flowed (negative: traffic first).
      times['relayStatusBeforeTrafficMs'] = firstRelayed - tRelay;
      expect(firstRelayed - tBlock, 'block -> first reply through the relay (ms)').to.be.at.most(TO_RELAY_MS);
      const silent = [
        ...silentBuckets(replies, s0, tBlock, BUCKET_MS).map((b) => `steady ${b}`),
        ...silentBuckets(replies, firstRelayed, tUnblock, BUCKET_MS).map((b) => `relayed ${b}`),
        ...silentBuckets(replies, tDirect, tEnd, BUCKET_MS).map((b) => `direct again ${b}`),
      ];
      expect(silent, `${BUCKET_MS} ms windows without a ping reply`).to.deep.equal([]);
      expect(
        mismatched.map((s) => `${s.t - tBlock} ms: ${JSON.stringify(s.paths)} ${JSON.stringify(s.endpoints)}`),
        'samples whose endpoint does not match their path (times from the block)',
      ).to.deep.equal([]);
      // A flap back to relay is not a wrong verdict (the relay carries traffic): counted, printed.
      times['flapBackToRelaySamples'] = afterDirect.filter((s) => Object.values(s.paths).includes('relay')).length;
      expect(tRelay - tBlock).to.be.at.most(TO_RELAY_MS);
      expect(await a.host.ping(b.host.underlayAddress, { attempts: 5, timeoutS: 1 }), 'underlay a -> b open again').to.equal(true);
    });
  },
);
