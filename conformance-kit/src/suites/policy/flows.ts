/**
 * The ACL the policy suite enforces on node a, the flows it probes, and the probes themselves
 * (real TCP, UDP and ICMP from b and c to a through the backend's tunnel).
 */
import type { AclRule } from '@rustynet/plugin-api';
import type { StepContext } from '../step-context.js';
import type { PolicyFixture } from './fixture.js';

/** A flow from peer b or c to the protected node a, and what the ACL must decide for it. */
export interface Flow {
  from: 'b' | 'c';
  proto: 'tcp' | 'udp' | 'icmp';
  port?: number;
  v6?: boolean;
  /** Expected decision: `accept` means the probe gets through. */
  action: 'accept' | 'drop';
  /** Id of the deciding rule; null for the default deny. */
  ruleId: string | null;
}

/**
 * The suite's ACL (nodes: a tag `server`, b tag `ops`, c tag `dev`). First match wins; no match
 * is the default deny. Covers tags, node ids (`b`, `node:a`), `*`, a CIDR, single ports and
 * ranges, tcp/udp/icmp/any, accept and drop, and rule order (a drop before a broader accept).
 */
export const MATRIX_RULES: AclRule[] = [
  { id: 'ssh', action: 'accept', src: ['tag:ops'], dst: ['tag:server'], proto: 'tcp', ports: [22] },
  { id: 'web', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: [80, '8080-8081'] },
  { id: 'dns', action: 'accept', src: ['c'], dst: ['a'], proto: 'udp', ports: [53] },
  { id: 'no-dev-icmp', action: 'drop', src: ['tag:dev'], dst: ['*'], proto: 'icmp' },
  { id: 'icmp', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
  { id: 'udp-range', action: 'accept', src: ['100.64.0.2/32'], dst: ['node:a'], proto: 'udp', ports: ['5000-5001'] },
  { id: 'no-b-8443', action: 'drop', src: ['b'], dst: ['a'], proto: 'tcp', ports: [8443] },
  { id: 'tls-alt', action: 'accept', src: ['*'], dst: ['*'], proto: 'tcp', ports: [8443] },
  { id: 'b-rest', action: 'drop', src: ['b'], dst: ['a'], proto: 'any' },
  { id: 'c-6000', action: 'accept', src: ['tag:dev'], dst: ['a'], proto: 'udp', ports: [6000] },
];

/** IPv4 flows and the decision {@link MATRIX_RULES} implies for each. */
export const MATRIX_V4: Flow[] = [
  { from: 'b', proto: 'tcp', port: 22, action: 'accept', ruleId: 'ssh' },
  { from: 'c', proto: 'tcp', port: 22, action: 'drop', ruleId: null },
  { from: 'b', proto: 'tcp', port: 80, action: 'accept', ruleId: 'web' },
  { from: 'c', proto: 'tcp', port: 8081, action: 'accept', ruleId: 'web' },
  { from: 'c', proto: 'tcp', port: 8082, action: 'drop', ruleId: null },
  { from: 'b', proto: 'tcp', port: 8443, action: 'drop', ruleId: 'no-b-8443' },
  { from: 'c', proto: 'tcp', port: 8443, action: 'accept', ruleId: 'tls-alt' },
  { from: 'b', proto: 'tcp', port: 9000, action: 'drop', ruleId: 'b-rest' },
  { from: 'c', proto: 'tcp', port: 9000, action: 'drop', ruleId: null },
  { from: 'c', proto: 'udp', port: 53, action: 'accept', ruleId: 'dns' },
  { from: 'b', proto: 'udp', port: 53, action: 'drop', ruleId: 'b-rest' },
  { from: 'b', proto: 'udp', port: 5000, action: 'accept', ruleId: 'udp-range' },
  { from: 'b', proto: 'udp', port: 5001, action: 'accept', ruleId: 'udp-range' },
  { from: 'b', proto: 'udp', port: 5002, action: 'drop', ruleId: 'b-rest' },
  { from: 'c', proto: 'udp', port: 5000, action: 'drop', ruleId: null },
  { from: 'c', proto: 'udp', port: 6000, action: 'accept', ruleId: 'c-6000' },
  { from: 'b', proto: 'udp', port: 6000, action: 'drop', ruleId: 'b-rest' },
  { from: 'b', proto: 'icmp', action: 'accept', ruleId: 'icmp' },
  { from: 'c', proto: 'icmp', action: 'drop', ruleId: 'no-dev-icmp' },
];

/** IPv6 flows (overlay `fd00:7e57::/64`): the CIDR rule `udp-range` is IPv4 only. */
export const MATRIX_V6: Flow[] = [
  { from: 'b', proto: 'tcp', port: 22, v6: true, action: 'accept', ruleId: 'ssh' },
  { from: 'c', proto: 'tcp', port: 22, v6: true, action: 'drop', ruleId: null },
  { from: 'c', proto: 'tcp', port: 8081, v6: true, action: 'accept', ruleId: 'web' },
  { from: 'b', proto: 'tcp', port: 9000, v6: true, action: 'drop', ruleId: 'b-rest' },
  { from: 'c', proto: 'udp', port: 53, v6: true, action: 'accept', ruleId: 'dns' },
  { from: 'b', proto: 'udp', port: 5000, v6: true, action: 'drop', ruleId: 'b-rest' },
  { from: 'c', proto: 'udp', port: 5000, v6: true, action: 'drop', ruleId: null },
  { from: 'b', proto: 'icmp', v6: true, action: 'accept', ruleId: 'icmp' },
  { from: 'c', proto: 'icmp', v6: true, action: 'drop', ruleId: 'no-dev-icmp' },
];

/** `b tcp/22`, `c icmp (v6)`, ... */
export function flowName(f: Flow): string {
  return `${f.from} -> a ${f.proto}${f.port !== undefined ? `/${f.port}` : ''}${f.v6 ? ' (IPv6)' : ''}`;
}

let probeSeq = 0;

/**
 * Sends one real probe of `f` from its source host to a's overlay address.
 * An allowed flow gets several tries (loss tolerance); a denied one fewer, shorter ones.
 * @returns true when the probe got its echo (or ping reply) back: the flow got through.
 */
export async function probe(fx: PolicyFixture, f: Flow, expectOpen = f.action === 'accept'): Promise<boolean> {
  const src = fx.node(f.from);
  const a = fx.node('a');
  const dst = f.v6 ? a.ip6 : a.ip4;
  switch (f.proto) {
    case 'icmp':
      return src.host.ping(dst, { count: 1, timeoutS: 1, attempts: expectOpen ? 3 : 2 });
    case 'udp': {
      if (f.port === undefined) throw new Error(`flow ${f.from} udp needs a port`);
      const payload = `policy-probe-${f.from}-${f.port}-${++probeSeq}`;
      const r = await src.host.udpSend(dst, f.port, payload, { timeoutMs: expectOpen ? 1000 : 700, attempts: expectOpen ? 3 : 2 });
      return r !== null && r.toString() === payload;
    }
    case 'tcp': {
      if (f.port === undefined) throw new Error(`flow ${f.from} tcp needs a port`);
      const payload = `policy-probe-${f.from}-${f.port}-${++probeSeq}`;
      for (let i = 0; i < (expectOpen ? 2 : 1); i++) {
        const r = await src.host.tcpSend(dst, f.port, payload, { timeoutMs: expectOpen ? 3000 : 1500 });
        if (r !== null && r.toString() === payload) return true;
      }
      return false;
    }
  }
}

/** Probes every flow concurrently. @returns, per flow, whether it got through. */
export async function probeAll(fx: PolicyFixture, flows: Flow[], expectOpen?: (f: Flow) => boolean): Promise<boolean[]> {
  return Promise.all(flows.map((f) => probe(fx, f, expectOpen ? expectOpen(f) : undefined)));
}

/**
 * Probes every flow and fails with the list of flows whose outcome differs from `expected`
 * (default: each flow's own `action`), as expected vs. actual.
 */
export async function expectFlows(
  t: StepContext,
  fx: PolicyFixture,
  flows: Flow[],
  why: string,
  expected: (f: Flow) => 'accept' | 'drop' = (f) => f.action,
): Promise<void> {
  t.begin(`probe ${flows.length} flows with real packets (${why})`);
  const got = await probeAll(fx, flows, (f) => expected(f) === 'accept');
  const wrong = flows
    .map((f, i) => ({
      flow: flowName(f),
      expected: expected(f) === 'accept' ? 'gets through' : 'dropped',
      actual: got[i] ? 'got through' : 'dropped',
    }))
    .filter((w) => w.expected.startsWith('gets') !== w.actual.startsWith('got'));
  t.check(
    wrong.length === 0,
    `${wrong.length} of ${flows.length} flows do not match the rules (${why}): ${wrong.map((w) => `${w.flow} ${w.actual}`).join('; ')}`,
    wrong.map((w) => `${w.flow}: ${w.expected}`),
    wrong.map((w) => `${w.flow}: ${w.actual}`),
  );
}
