#!/usr/bin/env node
// Data-path cost of the policy: iperf3 TCP throughput between two network namespaces joined by
// a veth pair (the "mesh interface"), with no policy vs. with a 1000-rule policy applied by
// @rustynet/policy-nftables whose only matching accept rule is the LAST one (worst case for new
// flows; established packets are accepted by the first rule of the acl chain). Same run,
// alternating off/on. Prints figures and the ratio (target >= 0.95x). Needs root and iperf3.
// Over a real tunnel the backend's own cost dominates; this isolates the policy's share.
//   npx tsc -b plugins/policy-nftables && node bench/policy-throughput.mjs [--seconds 4] [--rounds 3]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createPlugin } from '../plugins/policy-nftables/dist/src/index.js';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '3' } } });
const id = randomBytes(2).toString('hex');
const A = `rnpt${id}a`,
  B = `rnpt${id}b`,
  IFA = `rnpt${id}m`,
  IFB = `rnpt${id}n`;
const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
function cleanup() {
  for (const ns of [A, B]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      /* gone */
    }
  }
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
for (const line of ip('netns', 'list').split('\n')) {
  const name = line.split(' ')[0];
  if (/^rnpt[0-9a-f]{4}[ab]$/.test(name) && ip('netns', 'pids', name).trim() === '') ip('netns', 'del', name);
}

const exec = (ns, file, args, input) =>
  new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ stdout, stderr, exitCode: code ?? -1 }));
    if (input !== undefined) c.stdin.end(input);
  });
const runner = {
  async run(file, args, o = {}) {
    const r = await exec(A, file, args, o.input === undefined ? undefined : String(o.input));
    if (r.exitCode !== 0 && o.reject !== false)
      throw Object.assign(new Error(r.stderr), { name: 'RustynetError', code: 'COMMAND_FAILED', details: r });
    return r;
  },
  spawn() {
    throw new Error('unused');
  },
};
const noop = () => undefined;
const logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, child: () => logger };
const metric = { inc: noop, set: noop, observe: noop };
const context = {
  pluginName: '@rustynet/policy-nftables',
  apiVersion: '1.0',
  options: { counterPollIntervalMs: 0 },
  logger,
  runner,
  metrics: { counter: () => metric, gauge: () => metric, histogram: () => metric },
  clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
  state: { dir: '/nonexistent', read: async () => undefined, write: async () => undefined, delete: async () => undefined },
  hooks: {},
};

async function iperf() {
  const server = spawn('ip', ['netns', 'exec', A, 'iperf3', '-s', '-1', '-B', '100.64.0.1', '-p', '5201'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const r = await exec(B, 'iperf3', ['-c', '100.64.0.1', '-B', '100.64.0.2', '-p', '5201', '-t', values.seconds, '-J']);
  server.kill();
  if (r.exitCode !== 0) throw new Error(`iperf3 failed: ${r.stderr || r.stdout.slice(0, 300)}`);
  return JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e9;
}

try {
  ip('netns', 'add', A);
  ip('netns', 'add', B);
  ip('-n', A, 'link', 'add', IFA, 'type', 'veth', 'peer', 'name', IFB, 'netns', B);
  ip('-n', A, 'addr', 'add', '100.64.0.1/24', 'dev', IFA);
  ip('-n', B, 'addr', 'add', '100.64.0.2/24', 'dev', IFB);
  for (const [ns, dev] of [
    [A, IFA],
    [B, IFB],
    [A, 'lo'],
    [B, 'lo'],
  ])
    ip('-n', ns, 'link', 'set', dev, 'up');
  const nodes = [
    { id: 'a', addresses: ['100.64.0.1/32'] },
    { id: 'b', addresses: ['100.64.0.2/32'] },
    ...Array.from({ length: 200 }, (_, i) => ({ id: `x${i}`, addresses: [`100.65.${i >> 8}.${(i & 255) + 1}/32`], tags: ['other'] })),
  ];
  const rules = Array.from({ length: 999 }, (_, i) => ({
    id: `r${i}`,
    action: 'accept',
    src: [i % 2 ? 'tag:other' : `x${i % 200}`],
    dst: ['a'],
    proto: 'tcp',
    ports: [10000 + i],
  }));
  rules.push({ id: 'iperf', action: 'accept', src: ['b'], dst: ['a'], proto: 'tcp', ports: [5201] });
  const input = { self: 'a', nodes, interfaces: [IFA], acl: { rules } };
  const plugin = createPlugin(context);
  await plugin.start();
  const off = [],
    on = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    await plugin.stop();
    off.push(await iperf());
    await plugin.start();
    await plugin.apply(input);
    on.push(await iperf());
  }
  const counters = await plugin.counters();
  await plugin.stop();
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratio = med(on) / med(off);
  console.log(`policy throughput bench (veth, iperf3 TCP ${values.seconds}s x ${values.rounds} rounds, 1000 rules, match on the last)`);
  console.log(`  policy off: ${off.map((x) => x.toFixed(2)).join(', ')} Gbit/s (median ${med(off).toFixed(2)})`);
  console.log(`  policy on:  ${on.map((x) => x.toFixed(2)).join(', ')} Gbit/s (median ${med(on).toFixed(2)})`);
  console.log(
    `  ratio on/off: ${ratio.toFixed(3)}x (target >= 0.95x: ${ratio >= 0.95 ? 'met' : 'NOT met'}); rule "iperf" counted ${counters.at(-1).packets} packets (new-flow packets only)`,
  );
} finally {
  cleanup();
}
