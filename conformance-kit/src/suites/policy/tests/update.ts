import { fileURLToPath } from 'node:url';
import type { AclRule } from '@rustynet/plugin-api';
import type { ResultPromise } from 'execa';
import type { TestHost } from '../../../harness/test-network.js';
import type { KitTest } from '../../define.js';
import { expectFlows, MATRIX_RULES, type Flow } from '../flows.js';
import { applyOnA, flow } from './helpers.js';
import type { PolicyFixture } from '../fixture.js';

type T = KitTest<PolicyFixture>;

const UDP_PROBE = fileURLToPath(new URL('../udp-probe.js', import.meta.url));

/** Policy swaps during the probe (ends on the second policy). */
export const GAP_SWAPS = 21;
/** Fewest probes each prober must have sent for the test to mean anything. */
export const GAP_MIN_PROBES = 50;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A probe process running in a host namespace. */
interface Prober {
  what: string;
  child: ResultPromise;
  /** Resolves once the prober sent its first packet. */
  started: Promise<void>;
  /** Stops the prober; resolves with probes sent and replies received. */
  stop(): Promise<{ sent: number; received: number; raw: string }>;
}

/** Collects a child's stdout and stderr; `started` resolves once `marker` appears. */
function watch(child: ResultPromise, marker: RegExp | null, what: string): { started: Promise<void>; output: () => string } {
  let out = '';
  const started = new Promise<void>((res, rej) => {
    // no marker (the program buffers its stdout on a pipe): running after 300 ms counts as started
    const timer = setTimeout(() => (marker ? rej(new Error(`${what} did not start: ${out}`)) : res()), marker ? 10_000 : 300);
    const on = (d: Buffer): void => {
      out += d.toString();
      if (marker?.test(out)) {
        clearTimeout(timer);
        res();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    void Promise.resolve(child).then(() => {
      clearTimeout(timer);
      rej(new Error(`${what} exited early: ${out}`));
    });
  });
  started.catch(() => undefined);
  return { started, output: () => out };
}

/** `ping -i 0.002` (500 echo requests per second, root only) until stopped. */
function pingProber(host: TestHost, ip: string): Prober {
  const what = `ping -i 0.002 ${host.name} -> ${ip}`;
  const child = host.spawn('ping', [...(ip.includes(':') ? ['-6'] : []), '-n', '-i', '0.002', '-W', '1', ip], {
    stdin: 'ignore',
    buffer: false,
  });
  const w = watch(child, null, what);
  return {
    what,
    child,
    started: w.started,
    async stop() {
      child.kill('SIGINT');
      await child;
      const out = w.output();
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), raw: out.split('\n').slice(-3).join(' ').trim() };
    },
  };
}

/** UDP datagrams (2 per ms, a new flow every 20) until stopped, see udp-probe.ts. */
function udpProber(host: TestHost, ip: string, port: number): Prober {
  const what = `udp ${host.name} -> ${ip}:${port}`;
  const child = host.spawn(process.execPath, [UDP_PROBE, ip, String(port)], { stdin: 'ignore', buffer: false });
  const w = watch(child, /started/, what);
  return {
    what,
    child,
    started: w.started,
    async stop() {
      child.kill('SIGINT');
      await child;
      const out = w.output();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      const j = line ? (JSON.parse(line) as { sent: number; received: number }) : { sent: 0, received: 0 };
      return { sent: j.sent, received: j.received, raw: out.trim() };
    },
  };
}

/** The second policy of the swap: rule `web` also opens tcp/8082. Same denials for the probes. */
export function swapPolicy(): AclRule[] {
  return MATRIX_RULES.map((r) => (r.id === 'web' ? { ...r, ports: [80, '8080-8082'] } : r));
}

const C_8082: Flow = { from: 'c', proto: 'tcp', port: 8082, action: 'drop', ruleId: null };

/** The `policy.update.*` tests (no enforcement gap while the policy is replaced), in run order. */
export const updateTests: T[] = [
  {
    id: 'policy.update.no-gap',
    title: `while the policy on a is replaced ${GAP_SWAPS} times, continuous probes of flows both policies deny (ICMP from c, UDP from b) never get one reply; the last policy is in force`,
    deadlineMs: 40_000,
    async run(t, fx) {
      await fx.protectedNode();
      const [p1, p2] = [MATRIX_RULES, swapPolicy()];
      const [in1, in2] = [await fx.input(p1), await fx.input(p2)];
      t.begin('apply the first policy');
      await t.ok('apply(first policy)', fx.apply(fx.a.plugin, in1));
      await expectFlows(t, fx, [C_8082], 'before the swaps: tcp/8082 from c is denied');
      const a = fx.node('a');
      t.begin('start the probes: ping c -> a (rule no-dev-icmp), UDP b -> a:5002 (rule b-rest), 2 probes/ms');
      const probers: Prober[] = [pingProber(fx.node('c').host, a.ip4), udpProber(fx.node('b').host, a.ip4, 5002)];
      if (fx.ipv6) probers.push(pingProber(fx.node('c').host, a.ip6));
      const results: { what: string; sent: number; received: number; raw: string }[] = [];
      try {
        await Promise.all(probers.map((p) => p.started));
        await sleep(200);
        t.begin(`replace the policy ${GAP_SWAPS} times while probing`);
        for (let i = 0; i < GAP_SWAPS; i++) {
          await t.ok(`apply #${i + 1}`, fx.apply(fx.a.plugin, i % 2 === 0 ? in2 : in1));
        }
        await sleep(200);
      } finally {
        for (const p of probers) results.push({ what: p.what, ...(await p.stop()) });
      }
      t.begin('every probe was dropped');
      const leaked = results.filter((r) => r.received > 0);
      t.check(
        leaked.length === 0,
        `denied flows got through while the policy was being replaced: ${leaked.map((r) => `${r.what}: ${r.received} of ${r.sent} answered`).join('; ')}`,
        'no reply to any probe (updates are atomic: no window without the policy)',
        results,
      );
      const thin = results.filter((r) => r.sent < GAP_MIN_PROBES);
      t.check(
        thin.length === 0,
        'the probers sent too few probes for the test to mean anything',
        `>= ${GAP_MIN_PROBES} probes each`,
        results,
      );
      await expectFlows(t, fx, [C_8082], 'after the swaps the second policy is in force: tcp/8082 from c gets through', () => 'accept');
    },
  },
  {
    id: 'policy.update.shrink',
    title:
      'rules re-applied under the same ids with fewer ports, a narrower range and fewer sources, and a rule left out, stop what they no longer allow while the rest still gets through',
    deadlineMs: 40_000,
    async run(t, fx) {
      const wide: AclRule[] = [
        { id: 'ssh', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: [22] },
        { id: 'web', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: [80, '8080-8082'] },
        { id: 'udp', action: 'accept', src: ['*'], dst: ['a'], proto: 'udp', ports: ['5000-5002', 6000] },
        { id: 'ping', action: 'accept', src: ['b', 'c'], dst: ['a'], proto: 'icmp' },
      ];
      const narrow: AclRule[] = [
        { id: 'web', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: [80, '8080-8081'] },
        { id: 'udp', action: 'accept', src: ['*'], dst: ['a'], proto: 'udp', ports: [5000] },
        { id: 'ping', action: 'accept', src: ['b'], dst: ['a'], proto: 'icmp' },
      ];
      const icmp = (from: 'b' | 'c', action: 'accept' | 'drop'): Flow => ({ from, proto: 'icmp', action, ruleId: null });
      await applyOnA(t, fx, wide, 'the wide rules');
      await expectFlows(
        t,
        fx,
        [flow('b', 'tcp', 22, 'accept'), flow('c', 'tcp', 8082, 'accept'), flow('c', 'udp', 5002, 'accept'), icmp('c', 'accept')],
        'wide rules',
      );
      await applyOnA(t, fx, narrow, 'the same ids, narrower (ssh left out)');
      await expectFlows(
        t,
        fx,
        [
          flow('b', 'tcp', 22, 'drop'),
          flow('c', 'tcp', 8082, 'drop'),
          flow('b', 'udp', 5002, 'drop'),
          flow('c', 'udp', 6000, 'drop'),
          icmp('c', 'drop'),
          flow('b', 'tcp', 80, 'accept'),
          flow('c', 'tcp', 8081, 'accept'),
          flow('b', 'udp', 5000, 'accept'),
          icmp('b', 'accept'),
        ],
        'narrowed rules',
      );
    },
  },
];
