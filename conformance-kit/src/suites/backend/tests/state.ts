import type { BackendRuntimeStats } from '@rustynet/plugin-api';
import type { PluginHost } from '../../../host/plugin-host-client.js';
import type { StepContext } from '../../step-context.js';
import type { KitTest } from '../../define.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';
import { expectSession, peerIds, whoami, withLoopback } from './helpers.js';

type T = KitTest<BackendFixture>;

/** Every method that must fail with NOT_RUNNING on a stopped instance, with plausible args. */
function notRunningCalls(fx: BackendFixture): [string, unknown[]][] {
  const peer = fx.peerOf(fx.nodes.a);
  return [
    ['applyPeers', [{ upsert: [peer], remove: [] }]],
    ['updatePeerEndpoint', [peer.id, { host: fx.nodes.a.host.underlayAddress, port: 51821 }]],
    ['applyRoutes', [{ add: [{ destination: '10.99.0.0/24', peer: peer.id }], remove: [] }]],
    ['stats', []],
  ];
}

async function expectAllNotRunning(t: StepContext, fx: BackendFixture, plugin: PluginHost, when: string): Promise<void> {
  for (const [method, args] of notRunningCalls(fx)) {
    t.begin(`${method} ${when}`);
    await t.rejects(`${method} ${when}`, plugin.call(method, args), 'NOT_RUNNING');
  }
}

/** Stops d (ignoring errors) so a test starts from a stopped instance. */
async function resetD(fx: BackendFixture): Promise<SuiteNode> {
  const d = fx.nodes.d;
  await fx.stop(d).catch(() => undefined);
  return d;
}

export const stateTests: T[] = [
  {
    id: 'backend.state.not-running-before-start',
    title: 'applyPeers, updatePeerEndpoint, applyRoutes and stats fail with NOT_RUNNING before start',
    async run(t, fx) {
      t.begin('load a fresh instance');
      const fresh = await fx.freshInstance('d');
      await expectAllNotRunning(t, fx, fresh, 'before start');
      t.begin('stop before start is a no-op');
      await t.ok('stop() before start', fresh.call('stop'));
      await fresh.close();
    },
  },
  {
    id: 'backend.state.already-running',
    title: 'a second start fails with ALREADY_RUNNING and leaves the instance running',
    async run(t, fx) {
      const d = await resetD(fx);
      t.begin('first start');
      await t.ok('start', fx.start(d));
      t.begin('second start');
      await t.rejects('second start', d.plugin.call('start', [fx.startConfig(d)]), 'ALREADY_RUNNING');
      t.begin('still running');
      await t.ok('stats() after the refused start', fx.stats(d));
      t.begin('stop');
      await t.ok('stop', fx.stop(d));
    },
  },
  {
    id: 'backend.state.stop-idempotent',
    title: 'stop twice in a row succeeds both times',
    async run(t, fx) {
      const d = await resetD(fx);
      t.begin('start');
      await t.ok('start', fx.start(d));
      t.begin('first stop');
      await t.ok('first stop', fx.stop(d));
      t.begin('second stop');
      await t.ok('second stop', fx.stop(d));
    },
  },
  {
    id: 'backend.state.not-running-after-stop',
    title: 'every operation fails with NOT_RUNNING after stop',
    async run(t, fx) {
      const d = await resetD(fx);
      t.begin('start and stop');
      await t.ok('start', fx.start(d));
      await t.ok('stop', fx.stop(d));
      await expectAllNotRunning(t, fx, d.plugin, 'after stop');
    },
  },
  {
    id: 'backend.state.restart',
    title: 'start after stop works: the restarted instance carries traffic again',
    deadlineMs: 30_000,
    sessionWaits: 1,
    covers: ['sessionReestablishSeconds'],
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      t.begin('stop b');
      await t.ok('stop', fx.stop(b));
      t.begin('start b again');
      await t.ok('start after stop', fx.start(b));
      const st = await t.ok('stats', fx.stats(b));
      t.equal(st.peers.length, 0, 'a restarted instance must start without peers');
      await t.ok('applyPeers + applyRoutes', fx.connect(b, fx.baselinePeers('b')));
      await expectSession(t, fx, a, b.ip4, 'through the restarted instance', 5);
    },
  },
  {
    id: 'backend.state.bad-start-config',
    title: 'start with an invalid config fails with INVALID_INPUT naming the field and leaves the instance stopped',
    async run(t, fx) {
      const d = await resetD(fx);
      const bad: [string, Record<string, unknown>, RegExp][] = [
        ['interface name longer than 15 bytes', { interfaceName: 'x'.repeat(16) }, /(^|\.)interfaceName$/],
        ['listen port 70000', { listenPort: 70000 }, /(^|\.)listenPort$/],
        ['address that is not a CIDR', { addresses: ['100.64.0.4/33'] }, /(^|\.)addresses\[0\]$/],
      ];
      for (const [what, over, field] of bad) {
        t.begin(`start with ${what}`);
        await t.rejects(`start with ${what}`, d.plugin.call('start', [{ ...fx.startConfig(d), ...over }]), 'INVALID_INPUT', field);
        t.begin(`not running after start with ${what}`);
        await t.rejects('stats() after a refused start', d.plugin.call<BackendRuntimeStats>('stats'), 'NOT_RUNNING');
      }
    },
  },
  {
    id: 'backend.state.aborted-call',
    title: 'calls whose signal is already aborted reject with ABORTED and change nothing (peers, routes, start)',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const d = await resetD(fx);
      t.begin('applyPeers (add d, remove c) with an aborted signal');
      const batch = { upsert: [fx.peerOf(d)], remove: [c.name] };
      await t.rejects(
        'applyPeers with an aborted signal',
        a.plugin.call('applyPeers', [batch], fx.ms(30_000), { aborted: true }),
        ABORT_CODES,
      );
      const st = await t.ok('stats', fx.stats(a));
      t.equal(peerIdsOf(st), ['b', 'c'], "an aborted applyPeers must leave a's peers as they were");
      t.begin('applyRoutes (add a LAN route via b) with an aborted signal');
      const route = { destination: ABORTED_ROUTE, peer: b.name };
      await t.rejects(
        'applyRoutes with an aborted signal',
        a.plugin.call('applyRoutes', [{ add: [route], remove: [] }], fx.ms(30_000), { aborted: true }),
        ABORT_CODES,
      );
      const shown = await a.host.exec('ip', ['-4', 'route', 'show', ABORTED_ROUTE], { reject: false });
      t.equal(shown.stdout.trim(), '', `an aborted applyRoutes must not install ${ABORTED_ROUTE}`);
      t.begin('start on d with an aborted signal');
      await t.rejects(
        'start with an aborted signal',
        d.plugin.call('start', [fx.startConfig(d)], fx.ms(30_000), { aborted: true }),
        ABORT_CODES,
      );
      await t.rejects('stats() after an aborted start', d.plugin.call<BackendRuntimeStats>('stats'), 'NOT_RUNNING');
      t.begin('the mesh still works');
      await expectSession(t, fx, a, b.ip4, 'after the aborted calls', 3);
      await expectSession(t, fx, a, c.ip4, 'after the aborted calls (c was in the aborted removal)', 3);
    },
  },
  {
    id: 'backend.state.concurrent-calls',
    title:
      'calls the host makes without waiting for each other all take effect: two applyPeers at once, then two applyRoutes and stats at once, growing and then shrinking allowed IPs',
    // a backend without allowedIpsUpdate may re-establish the sessions at each of the two changes
    sessionWaits: 2,
    covers: ['sessionReestablishSeconds'],
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const ipB = `${CONCURRENT_B}/32`;
      const ipC = `${CONCURRENT_C}/32`;
      const routes = [
        { destination: ipB, peer: b.name },
        { destination: ipC, peer: c.name },
      ];
      await withLoopback([b], ipB, () =>
        withLoopback([c], ipC, async () => {
          t.begin(`at once: applyPeers giving b ${ipB} and applyPeers giving c ${ipC}`);
          await t.ok(
            'two concurrent applyPeers',
            Promise.all([fx.applyPeers(a, { upsert: [fx.peerOf(b, [ipB])] }), fx.applyPeers(a, { upsert: [fx.peerOf(c, [ipC])] })]),
          );
          t.begin('at once: the two routes (one call each) and stats()');
          const [, , st] = await t.ok(
            'two concurrent applyRoutes and stats',
            Promise.all([fx.applyRoutes(a, { add: [routes[0]] }), fx.applyRoutes(a, { add: [routes[1]] }), fx.stats(a)]),
          );
          t.equal(peerIds(st), ['b', 'c'], 'peers of a listed by a stats() made during the route calls');
          const [whoB, whoC] = await Promise.all([whoamiWithin(fx, a, CONCURRENT_B), whoamiWithin(fx, a, CONCURRENT_C)]);
          t.equal(whoB, 'b', `${CONCURRENT_B} should answer as b: a concurrent call must not undo b's batch`);
          t.equal(whoC, 'c', `${CONCURRENT_C} should answer as c: a concurrent call must not undo c's batch`);
          t.begin('at once: applyPeers taking the extra IP from b and applyPeers taking it from c (routes stay)');
          await t.ok(
            'two concurrent applyPeers',
            Promise.all([fx.applyPeers(a, { upsert: [fx.peerOf(b)] }), fx.applyPeers(a, { upsert: [fx.peerOf(c)] })]),
          );
          await expectSession(t, fx, a, b.ip4, 'b keeps its own address');
          await expectSession(t, fx, a, c.ip4, 'c keeps its own address');
          t.equal(await whoami(a, CONCURRENT_B, 2), null, `${CONCURRENT_B} is no longer an allowed IP of b: it must not reach b`);
          t.equal(await whoami(a, CONCURRENT_C, 2), null, `${CONCURRENT_C} is no longer an allowed IP of c: it must not reach c`);
          t.begin('at once: both routes removed');
          await t.ok(
            'two concurrent applyRoutes',
            Promise.all([fx.applyRoutes(a, { remove: [routes[0]] }), fx.applyRoutes(a, { remove: [routes[1]] })]),
          );
        }),
      );
    },
  },
];

/**
 * {@link whoami} (one try a second) until it answers, for at least 3 tries and, when the plugin
 * declares `sessionReestablishSeconds`, up to that bound (multiplied). @returns the name or null.
 */
async function whoamiWithin(fx: BackendFixture, from: SuiteNode, ip: string): Promise<string | null> {
  const until = Date.now() + fx.ms(fx.sessionWaitMs());
  for (let i = 0; ; i++) {
    const name = await whoami(from, ip, 1);
    if (name !== null || (i >= 2 && Date.now() >= until)) return name;
  }
}

/** Extra addresses of backend.state.concurrent-calls, on b's and c's loopback. */
const CONCURRENT_B = '100.64.206.1';
const CONCURRENT_C = '100.64.206.2';

/** What an aborted call may reject with (`CallOptions` in `@rustynet/plugin-api`). */
const ABORT_CODES = ['ABORTED', 'TIMEOUT'];

/** A LAN prefix no other test routes, for the aborted applyRoutes. */
const ABORTED_ROUTE = '10.99.77.0/24';

/** Peer ids listed by stats(), sorted. */
function peerIdsOf(st: BackendRuntimeStats): string[] {
  return st.peers.map((p) => p.id).sort();
}
