/**
 * Integration test (root): several relays (issue 16, part 3; docs/relay.md, "Several relays").
 *
 * Two real `rustynetd` nodes (a, b; WireGuard on wireguard-go) and two relay hosts, each running
 * its own `rustynet relay serve` with its own identity key (`relay-1`, `relay-2`), namespaces
 * `mrl-<hex>-*`. The impairment shim sits in front of relay-1 (nftables redirect in its namespace)
 * and delays every datagram by 40 ms each way, so relay-1 is "far" (RTT ≈ 80 ms) and relay-2
 * "near", although relay-1 is listed first (and is where both nodes register first).
 *
 * 1. The nearest relay is chosen: both daemons report `relays[].home` = relay-2 in their status.
 * 2. Peers on different home relays reach each other: a loses relay-2 (all traffic between a and
 *    relay-2's host blocked in a's namespace), so a's home moves to relay-1 while b's stays
 *    relay-2; with the direct path a <-> b blocked, pings a -> b and b -> a still get answers.
 * 3. A relay killed: a reaches relay-2 again and both homes are relay-2; a continuous ping a -> b
 *    (every 100 ms) runs over the relay; relay-2 gets SIGKILL; the longest gap between replies
 *    around the kill must be under 3 s, and both homes are relay-1 afterwards.
 * Prints its timings.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { DaemonStatus } from '@rustynet/cli';
import { Mesh, RELAY_PORT, checkPrerequisites, startShimInNamespace, type ContinuousPing, type NamespaceShim } from '@rustynet/testbed';
import { REPO_ROOT, created, describeEachRelayBackend } from './mesh-fixture.js';
import { RELAY_METRICS, promValue } from './impairment-fixture.js';

const BACKENDS = ['@rustynet/backend-wireguard'];
const SHIM_PORT = 3479;
const FAR_DELAY_MS = 40;
const FAILOVER_BOUND_MS = 3_000;
const PAIRS: Array<[string, string]> = [
  ['a', 'b'],
  ['b', 'a'],
];

type Relays = NonNullable<DaemonStatus['relays']>;

/** Node `id`'s home relay id from its status (null: none), and every relay's RTT. */
async function relaysOf(mesh: Mesh, id: string): Promise<Relays> {
  return (await mesh.status(id)).relays ?? [];
}

async function homeOf(mesh: Mesh, id: string): Promise<string | null> {
  return (await relaysOf(mesh, id)).find((r) => r.home)?.id ?? null;
}

/** Polls until every node in `want` reports its home relay as given; @returns Date.now() then. */
async function waitForHomes(mesh: Mesh, want: Record<string, string>, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last: Record<string, string | null> = {};
  for (;;) {
    last = Object.fromEntries(await Promise.all(Object.keys(want).map(async (id) => [id, await homeOf(mesh, id)] as const)));
    if (Object.entries(want).every(([id, h]) => last[id] === h)) return Date.now();
    if (Date.now() > end) throw new Error(`home relays ${JSON.stringify(last)}, wanted ${JSON.stringify(want)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Datagrams relay `i` of the mesh forwarded so far (its `/metrics`, curl inside its namespace). */
async function forwarded(mesh: Mesh, i: number): Promise<number> {
  const r = await mesh.relays[i].host.exec('curl', ['-sf', '--max-time', '5', `http://${RELAY_METRICS}/metrics`]);
  return promValue(r.stdout, 'relay_server_forwarded_packets_total');
}

/** The longest gap between consecutive replies in `replies` that spans `t` (ms). */
function gapAround(replies: readonly number[], t: number): number {
  const before = [...replies].reverse().find((r) => r <= t) ?? t;
  const after = replies.find((r) => r > t);
  return after === undefined ? Number.POSITIVE_INFINITY : after - before;
}

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `several relays: nearest, different homes, failover (${backend})`,
  function (backend) {
    this.timeout(240_000);
    let mesh: Mesh | undefined;
    let shim: NamespaceShim | undefined;
    let pinger: ContinuousPing | undefined;
    const times: Record<string, unknown> = {};
    const m = (): Mesh => created(mesh);

    before(async function () {
      const problems = checkPrerequisites([backend]);
      if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
      mesh = await Mesh.create({
        backends: [backend],
        nodes: ['a', 'b'],
        relay: true,
        extraRelays: 1,
        cwd: REPO_ROOT,
        logLevel: 'info',
        namePrefix: `mrl-${randomBytes(2).toString('hex')}`,
        relayExtraArgs: ['--metrics-listen', RELAY_METRICS],
      });
      const far = mesh.relays[0].host;
      const delay = { delayMs: FAR_DELAY_MS };
      shim = await startShimInNamespace(far, {
        listen: { host: far.underlayAddress, port: SHIM_PORT },
        upstream: { host: far.underlayAddress, port: RELAY_PORT },
        upstreamBind: far.underlayAddress,
        seed: 3,
        toServer: delay,
        toClient: delay,
        redirectPort: RELAY_PORT,
      });
      await mesh.publish(await mesh.sign(mesh.netmap(1)));
      const t0 = Date.now();
      await mesh.startDaemons(backend, 1);
      times['daemonsUpMs'] = Date.now() - t0;
      times['t0'] = t0;
    });

    after(async () => {
      await pinger?.stop();
      await shim?.stop();
      await mesh?.destroy();
      console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it('chooses the nearest relay (relay-2) as home, although relay-1 is listed first', async () => {
      const mesh = m();
      const t = await waitForHomes(mesh, { a: 'relay-2', b: 'relay-2' }, 30_000);
      times['upToNearestHomeMs'] = t - (times['t0'] as number) - (times['daemonsUpMs'] as number);
      const rel = await relaysOf(mesh, 'a');
      times['rttMsOfA'] = Object.fromEntries(rel.map((r) => [r.id, r.rttMs]));
      expect(rel.map((r) => [r.id, r.registered, r.healthy])).to.deep.equal([
        ['relay-1', true, true],
        ['relay-2', true, true],
      ]);
      const [far, near] = rel.map((r) => r.rttMs ?? Number.NaN);
      expect(far, 'relay-1 RTT (ms) includes the shim delay both ways').to.be.at.least(2 * FAR_DELAY_MS * 0.9);
      expect(near).to.be.below(far);
      // no flapping once chosen: 3 s later both still on relay-2
      await new Promise((r) => setTimeout(r, 3_000));
      expect([await homeOf(mesh, 'a'), await homeOf(mesh, 'b')]).to.deep.equal(['relay-2', 'relay-2']);
    });

    it('peers on different home relays (a: relay-1, b: relay-2) reach each other', async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      const relay2 = mesh.relays[1].host;
      const tCut = Date.now();
      await a.host.blockPath(relay2);
      const tHomes = await waitForHomes(mesh, { a: 'relay-1', b: 'relay-2' }, 15_000);
      times['cutToDifferentHomesMs'] = tHomes - tCut;
      const tBlock = await mesh.blockDirect('a', 'b');
      const tRelay = await mesh.waitForPath(PAIRS, 'relay', 20_000);
      times['blockToRelayPathMs'] = tRelay - tBlock;
      expect(await a.host.ping(b.v4, { attempts: 10, timeoutS: 1 }), 'a -> b over the mesh through the relays').to.equal(true);
      expect(await b.host.ping(a.v4, { attempts: 10, timeoutS: 1 }), 'b -> a over the mesh through the relays').to.equal(true);
      times['blockToPingsMs'] = Date.now() - tBlock;
      expect([await homeOf(mesh, 'a'), await homeOf(mesh, 'b')], 'homes still differ').to.deep.equal(['relay-1', 'relay-2']);
      await a.host.unblockPath(relay2);
    });

    it(`a relay killed: relayed traffic continues through the other relay within ${FAILOVER_BOUND_MS} ms`, async () => {
      const mesh = m();
      const b = mesh.node('b');
      // a reaches relay-2 again (registers there in the background) and moves home to it
      const tBack = Date.now();
      await waitForHomes(mesh, { a: 'relay-2', b: 'relay-2' }, 30_000);
      times['reachableAgainToNearestHomeMs'] = Date.now() - tBack;
      await mesh.waitForPath(PAIRS, 'relay', 20_000);
      pinger = mesh.continuousPing('a', b.v4, 0.1);
      const first = await pinger.firstReplyAfter(Date.now(), 10_000);
      expect(first, 'a relayed ping reply before the kill').to.not.equal(null);
      // both sides moved their sends to the common home relay-2 (and none goes through relay-1)
      const end = Date.now() + 10_000;
      let through: [number, number] = [0, 0];
      while (Date.now() < end) {
        const f0 = [await forwarded(mesh, 0), await forwarded(mesh, 1)];
        await new Promise((r) => setTimeout(r, 1_000));
        through = [(await forwarded(mesh, 0)) - f0[0], (await forwarded(mesh, 1)) - f0[1]];
        if (through[0] === 0 && through[1] >= 10) break;
      }
      times['forwardedPerSecondBeforeKill'] = { 'relay-1': through[0], 'relay-2': through[1] };
      expect(through[1], 'datagrams through relay-2 in 1 s before the kill').to.be.at.least(10);
      const tKill = Date.now();
      await mesh.stopRelayServer(10_000, 'relay-2', true);
      const after = await pinger.firstReplyAfter(tKill + 1, 15_000);
      expect(after, 'a reply after the kill').to.not.equal(null);
      await new Promise((r) => setTimeout(r, 2_000));
      const gap = gapAround(pinger.replies, tKill);
      times['killToFirstReplyMs'] = (after ?? Number.NaN) - tKill;
      times['longestReplyGapAroundKillMs'] = gap;
      await waitForHomes(mesh, { a: 'relay-1', b: 'relay-1' }, 10_000);
      expect(gap, 'ping reply gap across the relay kill (ms)').to.be.below(FAILOVER_BOUND_MS);
      const rel = await relaysOf(mesh, 'a');
      expect(rel.find((r) => r.id === 'relay-2')?.healthy).to.equal(false);
      // every peer is still relayed (direct is blocked) and traffic flows
      expect(pinger.replies.filter((r) => r > tKill + gap).length).to.be.greaterThan(5);
    });
  },
);
