import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';
import { snapshotNode } from '../snapshot.js';
import { udpSink } from './traffic.js';

type T = KitTest<BackendFixture>;

/** A listen port no other test uses. */
const TAKEN_PORT = 51999;

/** Snapshot parts a failed start must leave as they were (sockets and processes hold the kit's blocker). */
const RESIDUE_KEYS = ['links', 'addrs', 'routes4', 'routes6', 'rules', 'nftTables', 'stateFiles', 'runFiles'];

/** Local UDP ports bound in `n`'s namespace (`ss -uan`). */
async function boundUdpPorts(n: SuiteNode): Promise<number[]> {
  const out = (await n.host.exec('ss', ['-H', '-uan'], { reject: false })).stdout;
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[3] ?? '')
    .map((local) => Number(local.slice(local.lastIndexOf(':') + 1)))
    .filter((p) => Number.isInteger(p) && p > 0);
}

/** Stops d (errors ignored) so a test starts from a stopped instance. */
async function stoppedD(fx: BackendFixture): Promise<SuiteNode> {
  await fx.stop(fx.nodes.d).catch(() => undefined);
  return fx.nodes.d;
}

/** What of `keys` differs in d's namespace from the baseline taken before the plugin first started. */
async function residue(fx: BackendFixture, keys: readonly string[]): Promise<Record<string, string[]>> {
  const after = await snapshotNode(fx.nodes.d);
  return Object.fromEntries(
    keys.map((k) => [k, (after[k] ?? []).filter((x) => !(fx.baseline[k] ?? []).includes(x))] as const).filter(([, v]) => v.length > 0),
  );
}

/** Starts d with `over`, adds peer a (a backend may create devices per peer) and returns its stats. */
async function startWithPeer(t: StepContext, fx: BackendFixture, over: Parameters<BackendFixture['startConfig']>[1]) {
  const d = fx.nodes.d;
  await t.ok('start', fx.start(d, fx.startConfig(d, over)));
  await t.ok('applyPeers + applyRoutes (peer a)', fx.connect(d, [fx.peerOf(fx.nodes.a)]));
  return t.ok('stats', fx.stats(d));
}

export const startTests: T[] = [
  {
    id: 'backend.start.mtu',
    title: 'a non-default MTU (1280) in the start config is the MTU of every interface stats() reports',
    async run(t, fx) {
      const d = await stoppedD(fx);
      try {
        t.begin('start d with mtu 1280 and peer a');
        const st = await startWithPeer(t, fx, { mtu: 1280 });
        t.check(st.interfaces.length > 0, 'stats().interfaces is empty: no device to read the MTU from', '>= 1 interface', st.interfaces);
        for (const i of st.interfaces) {
          t.begin(`MTU of ${i}`);
          const link = (await d.host.exec('ip', ['-o', 'link', 'show', 'dev', i], { reject: false })).stdout;
          const mtu = Number(/ mtu (\d+)/.exec(link)?.[1] ?? NaN);
          t.equal(mtu, 1280, `MTU of ${i} does not follow the start config`);
        }
      } finally {
        await fx.stop(d).catch(() => undefined);
      }
    },
  },
  {
    id: 'backend.start.listen-port-zero',
    title: 'listenPort 0: stats().listenPort is a real port, and the port(s) carrying peers are bound in the namespace',
    async run(t, fx) {
      const d = await stoppedD(fx);
      try {
        t.begin('start d with listenPort 0 and peer a');
        const st = await startWithPeer(t, fx, { listenPort: 0 });
        const lp = st.listenPort;
        t.check(
          typeof lp === 'number' && Number.isInteger(lp) && lp > 0 && lp < 65536,
          'stats().listenPort is not the port chosen for listenPort 0',
          '1..65535',
          lp ?? null,
        );
        const wanted = [...new Set(st.peers.map((p) => p.localPort ?? lp))];
        t.begin(`ports ${wanted.join(', ')} are bound (ss -uan)`);
        const bound = await boundUdpPorts(d);
        t.check(
          wanted.every((p) => p !== undefined && bound.includes(p)),
          'the port stats() reports is not bound in the namespace',
          wanted,
          bound,
        );
      } finally {
        await fx.stop(d).catch(() => undefined);
      }
    },
  },
  {
    id: 'backend.start.port-in-use',
    title: 'start on a taken listen port fails and leaves nothing; after the port is freed the same start works',
    gate: '!processPerPeer',
    skipIf: (fx) => (fx.caps.processPerPeer ? 'the plugin binds one port per peer at applyPeers (processPerPeer)' : undefined),
    async run(t, fx) {
      const d = await stoppedD(fx);
      t.begin(`take UDP port ${TAKEN_PORT} on d`);
      const blocker = await udpSink(d.host, TAKEN_PORT);
      try {
        t.begin(`start d with listenPort ${TAKEN_PORT}`);
        await t.rejects('start on a taken port', d.plugin.call('start', [fx.startConfig(d, { listenPort: TAKEN_PORT })], fx.ms(30_000)), [
          'BACKEND_FAILED',
          'INVALID_INPUT',
          'PERMISSION_DENIED',
        ]);
        t.begin('nothing is left after the failed start');
        await t.rejects('stats() after the failed start', d.plugin.call('stats'), 'NOT_RUNNING');
        let left: Record<string, string[]> = {};
        for (let i = 0; i < 10; i++) {
          left = await residue(fx, RESIDUE_KEYS);
          if (Object.keys(left).length === 0) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        t.check(Object.keys(left).length === 0, 'the failed start left resources behind', 'nothing new since the baseline', left);
      } finally {
        await blocker.close();
      }
      t.begin('start again once the port is free');
      await t.ok('start after the port was freed', fx.start(d, fx.startConfig(d, { listenPort: TAKEN_PORT })));
      const bound = await boundUdpPorts(d);
      t.check(bound.includes(TAKEN_PORT), `port ${TAKEN_PORT} is not bound after the retry`, TAKEN_PORT, bound);
      await t.ok('stop', fx.stop(d));
    },
  },
];
