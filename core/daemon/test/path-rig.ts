/** The path controller test rig: n0 runs the controller, n1 and n2 answer on a fake network. */
import type { Endpoint, NetmapNode, PeerEndpointContext } from '@rustynet/plugin-api';
import { PromMetrics } from '../src/services/metrics.js';
import { DirectPathProber } from '../src/path/prober.js';
import { RELAY_PROBE_PORT } from '../src/path/relay-probe-transport.js';
import { PathController, type PathControllerOptions, type PathSwitch } from '../src/path/path-controller.js';
import { FakeNet, ManualClock, identity, type TestIdentity } from './path-fakes.js';
import { makeNode } from './helpers.js';

const PROBE_PORT = 41641;

export interface Rig {
  net: FakeNet;
  /** The relay's probe channel: nodes attached at `{ host: <id>, port: 0 }`; `block(id)` = the relay cannot reach that daemon. */
  relayNet: FakeNet;
  clock: ManualClock;
  metrics: PromMetrics;
  calls: Array<{ m: string; a: unknown }>;
  switches: PathSwitch[];
  noted: Array<[string, Endpoint]>;
  nodes: NetmapNode[];
  ctl: PathController;
  ids: Record<string, TestIdentity>;
  relayFails: { open: boolean };
  backendFails: { update: boolean };
  hookSeen: string[];
}

/** n0 (this node, controller) and peers n1, n2 (responders on the fake network). */
export function rig(extra: Partial<PathControllerOptions> = {}): Rig {
  const net = new FakeNet();
  const relayNet = new FakeNet();
  const clock = new ManualClock();
  const metrics = new PromMetrics();
  const ids: Record<string, TestIdentity> = { n0: identity(), n1: identity(), n2: identity() };
  const nodes = [0, 1, 2].map((i) => makeNode(i, { identityKey: ids[`n${i}`].publicKeyB64, probePort: PROBE_PORT }));
  for (const n of nodes.slice(1)) {
    const r = new DirectPathProber({
      selfId: n.id,
      sign: ids[n.id].sign,
      clock,
      transport: net.attach({ host: n.endpoints[0].host, port: PROBE_PORT }),
    });
    r.setPeers(nodes.filter((x) => x.id !== n.id).map((x) => ({ id: x.id, identityKey: x.identityKey })));
    const relayed = new DirectPathProber({
      selfId: n.id,
      sign: ids[n.id].sign,
      clock,
      channel: 'relay',
      transport: relayNet.attach({ host: n.id, port: RELAY_PROBE_PORT }),
    });
    relayed.setPeers(nodes.filter((x) => x.id !== n.id).map((x) => ({ id: x.id, identityKey: x.identityKey })));
  }
  const relayProber = new DirectPathProber({
    selfId: 'n0',
    sign: ids.n0.sign,
    clock,
    channel: 'relay',
    transport: relayNet.attach({ host: 'n0', port: RELAY_PROBE_PORT }),
  });
  const prober = new DirectPathProber({
    selfId: 'n0',
    sign: ids.n0.sign,
    clock,
    transport: net.attach({ host: nodes[0].endpoints[0].host, port: PROBE_PORT }),
  });
  const calls: Rig['calls'] = [];
  const switches: PathSwitch[] = [];
  const noted: Rig['noted'] = [];
  const relayFails = { open: false };
  const backendFails = { update: false };
  const hookSeen: string[] = [];
  let port = 40000;
  const ctl = new PathController({
    selfId: 'n0',
    prober,
    relayProber,
    relay: {
      async openPath(req) {
        calls.push({ m: 'relay.openPath', a: req });
        if (relayFails.open) throw Object.assign(new Error('relay down'), { name: 'RustynetError', code: 'RELAY_FAILED' });
        return { host: '127.0.0.1', port: ++port };
      },
      async closePath(peer) {
        calls.push({ m: 'relay.closePath', a: peer });
      },
    },
    backend: {
      async updatePeerEndpoint(peer, endpoint) {
        calls.push({ m: 'backend.updatePeerEndpoint', a: { peer, endpoint } });
        if (backendFails.update) throw Object.assign(new Error('nope'), { name: 'RustynetError', code: 'BACKEND_FAILED' });
      },
    },
    backendEndpoint: () => ({ host: '127.0.0.1', port: 51820 }),
    resolveEndpoint: async (ep: Endpoint | undefined, ctx: PeerEndpointContext) => {
      hookSeen.push(`${ctx.peer.id}:${ctx.path}`);
      return ep;
    },
    onEndpointChanged: (peer, ep) => noted.push([peer, ep]),
    onSwitch: (s) => {
      switches.push(s);
    },
    clock,
    metrics,
    ...extra,
  });
  return { net, relayNet, clock, metrics, calls, switches, noted, nodes, ctl, ids, relayFails, backendFails, hookSeen };
}

export async function switchCount(metrics: PromMetrics): Promise<Record<string, number>> {
  const m = await metrics.registry.getSingleMetric('rustynet_path_switches_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.to), v.value]));
}

export async function ticks(r: Rig, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    r.clock.advance(500);
    await r.ctl.tick();
  }
}
