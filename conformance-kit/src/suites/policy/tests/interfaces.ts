import type { AclRule, PolicyInput } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import type { TestHost } from '../../../harness/test-network.js';
import { ECHO_UDP_PORT, type NodeName } from '../../backend/fixture.js';
import { createKitDevices, kitAddress, type KitDevicePeer } from '../kit-devices.js';
import { NODE_TAGS, type PolicyFixture } from '../fixture.js';
import { expectFlows, MATRIX_RULES, type Flow } from '../flows.js';
import { applyInput, applyOnA } from './helpers.js';

type T = KitTest<PolicyFixture>;

/** The ACL over the kit devices: each peer gets one service, everything else is the default deny. */
const KIT_RULES: AclRule[] = [
  { id: 'ops-web', action: 'accept', src: ['tag:ops'], dst: ['a'], proto: 'tcp', ports: [80] },
  { id: 'dev-dns', action: 'accept', src: ['tag:dev'], dst: ['a'], proto: 'udp', ports: [53] },
  { id: 'd-icmp', action: 'accept', src: ['d'], dst: ['node:a'], proto: 'icmp' },
];

/** One probe from a peer to a over its kit device and whether it must get through. */
interface KitFlow {
  from: KitDevicePeer;
  proto: 'tcp' | 'udp' | 'icmp';
  port?: number;
  accept: boolean;
}

/** Per device one flow the ACL accepts and at least one it drops. */
const KIT_FLOWS: KitFlow[] = [
  { from: 'b', proto: 'tcp', port: 80, accept: true },
  { from: 'b', proto: 'udp', port: 53, accept: false },
  { from: 'b', proto: 'icmp', accept: false },
  { from: 'c', proto: 'udp', port: 53, accept: true },
  { from: 'c', proto: 'tcp', port: 80, accept: false },
  { from: 'd', proto: 'icmp', accept: true },
  { from: 'd', proto: 'tcp', port: 80, accept: false },
];

let seq = 0;

/** The test hosts a, b, c, d of the backend fixture underneath. */
const hostsOf = (fx: PolicyFixture): Record<NodeName, TestHost> => ({
  a: fx.node('a').host,
  b: fx.node('b').host,
  c: fx.node('c').host,
  d: fx.node('d').host,
});

/** Sends one real probe of `f` from its peer to a's kit address; true when it got through. */
async function probeKit(fx: PolicyFixture, f: KitFlow): Promise<boolean> {
  const src = fx.node(f.from).host;
  const dst = kitAddress('a');
  const payload = `policy-kitdev-${f.from}-${f.proto}-${++seq}`;
  switch (f.proto) {
    case 'icmp':
      return src.ping(dst, { count: 1, timeoutS: 1, attempts: f.accept ? 3 : 2 });
    case 'udp':
      return (
        (await src.udpSend(dst, f.port!, payload, { timeoutMs: f.accept ? 1000 : 700, attempts: f.accept ? 3 : 2 }))?.toString() === payload
      );
    case 'tcp':
      for (let i = 0; i < (f.accept ? 2 : 1); i++)
        if ((await src.tcpSend(dst, f.port!, payload, { timeoutMs: f.accept ? 3000 : 1500 }))?.toString() === payload) return true;
      return false;
  }
}

/** `c udp/53 over rk…c` */
const kitFlowName = (f: KitFlow, ifname: string): string =>
  `${f.from} -> a ${f.proto}${f.port !== undefined ? `/${f.port}` : ''} over ${ifname}`;

/** The `policy.interfaces.*` tests, in run order. */
export const interfacesTests: T[] = [
  {
    id: 'policy.interfaces.kit-devices',
    title:
      'several tunnel interfaces under every backend: with three kit-made per-peer devices (veth a<->b, a<->c, a<->d) as `interfaces`, the ACL holds on each of them: per device one accepted flow gets through and the others are dropped, and a gets the replies to its own datagrams over each',
    deadlineMs: 40_000,
    async run(t, fx) {
      await fx.protectedNode();
      t.begin('create the kit devices a<->b, a<->c, a<->d (100.64.220.0/24)');
      const kit = await t.ok('veth pairs', createKitDevices(hostsOf(fx), fx.backend.net.runId));
      try {
        const ifOf = Object.fromEntries(kit.devices.map((d) => [d.peer, d.ifname])) as Record<KitDevicePeer, string>;
        const nodes: PolicyInput['nodes'] = (['a', 'b', 'c', 'd'] as NodeName[]).map((n) => ({
          id: n,
          addresses: [`${kitAddress(n)}/32`],
          tags: NODE_TAGS[n],
        }));
        const input: PolicyInput = { self: 'a', nodes, acl: { rules: KIT_RULES }, interfaces: kit.devices.map((d) => d.ifname) };
        await applyInput(t, fx, input, `the kit-device ACL with interfaces ${input.interfaces.join(', ')}`);
        await expectKitFlows(t, fx, ifOf);
        t.begin("a's own datagrams to each peer over its device get their replies (established traffic)");
        const replies = await Promise.all(
          kit.devices.map(async (d) => {
            const payload = `policy-kitdev-a-${d.peer}-${++seq}`;
            const r = await fx.node('a').host.udpSend(d.address, ECHO_UDP_PORT, payload, { timeoutMs: 1000, attempts: 3 });
            return [d.ifname, r?.toString() === payload] as const;
          }),
        );
        const lost = replies.filter(([, ok]) => !ok).map(([i]) => i);
        t.check(lost.length === 0, `replies to a's own datagrams were dropped on ${lost.join(', ')}`, 'replies on every device', {
          noReplyOn: lost,
        });
      } finally {
        await kit.remove();
      }
    },
  },
  {
    id: 'policy.interfaces.backend-devices',
    title:
      "several tunnel interfaces of the backend itself (a backend with per-peer devices, e.g. --backend @rustynet/backend-openvpn): the matrix ACL holds for b and c, each arriving on its own device of the backend's stats().interfaces",
    gate: 'backend reports several interfaces on a',
    deadlineMs: 30_000,
    async skipIf(fx) {
      await fx.ready();
      await fx.backend.mesh();
      const ifs = await fx.interfaces('a');
      return ifs.length >= 2
        ? undefined
        : `the backend ${fx.backend.manifest.name} reports ${ifs.length} tunnel interface on a (${ifs.join(', ')}): several interfaces are covered by policy.interfaces.kit-devices; run with --backend <a backend with per-peer devices> for this variant`;
    },
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL on every interface the backend reports');
      const flows: Flow[] = [
        { from: 'b', proto: 'tcp', port: 22, action: 'accept', ruleId: 'ssh' },
        { from: 'b', proto: 'tcp', port: 9000, action: 'drop', ruleId: 'b-rest' },
        { from: 'c', proto: 'udp', port: 53, action: 'accept', ruleId: 'dns' },
        { from: 'c', proto: 'tcp', port: 22, action: 'drop', ruleId: null },
      ];
      await expectFlows(t, fx, flows, 'b and c on their own backend devices');
    },
  },
];

/** Probes {@link KIT_FLOWS} concurrently and fails with every flow whose outcome is wrong. */
async function expectKitFlows(t: StepContext, fx: PolicyFixture, ifOf: Record<KitDevicePeer, string>): Promise<void> {
  t.begin(`probe ${KIT_FLOWS.length} flows over the kit devices with real packets`);
  const got = await Promise.all(KIT_FLOWS.map((f) => probeKit(fx, f)));
  const wrong = KIT_FLOWS.filter((f, i) => got[i] !== f.accept);
  t.check(
    wrong.length === 0,
    `${wrong.length} of ${KIT_FLOWS.length} flows over the kit devices do not match the rules: the policy does not hold on every tunnel interface it was given: ${wrong
      .map((f) => `${kitFlowName(f, ifOf[f.from])} ${f.accept ? 'dropped' : 'got through'}`)
      .join('; ')}`,
    wrong.map((f) => `${kitFlowName(f, ifOf[f.from])}: ${f.accept ? 'gets through' : 'dropped'}`),
    wrong.map((f) => `${kitFlowName(f, ifOf[f.from])}: ${f.accept ? 'dropped' : 'got through'}`),
  );
}
