#!/usr/bin/env node
// Policy apply time: 1000 ACL rules through @rustynet/policy-nftables (validate + compile +
// one `nft -f -` transaction) vs. raw `nft -f -` of the very same generated ruleset, in the
// same run, inside a network namespace this script creates (and removes, also on SIGINT).
// Prints figures and the ratio (target <= 1.5x). Needs root; build first:
//   npx tsc -b plugins/policy-nftables && node bench/policy-apply.mjs [--rules 1000] [--runs 15]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { compileRuleset, createPlugin, resolvePolicy, DEFAULT_OPTIONS } from '../plugins/policy-nftables/dist/src/index.js';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const { values } = parseArgs({ options: { rules: { type: 'string', default: '1000' }, runs: { type: 'string', default: '15' } } });
const RULES = Number(values.rules);
const RUNS = Number(values.runs);
const ns = `rnpb${randomBytes(2).toString('hex')}`;

function cleanup() {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    /* gone */
  }
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
// stale namespaces of earlier runs of this bench
for (const line of execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n')) {
  const name = line.split(' ')[0];
  if (/^rnpb[0-9a-f]{4}$/.test(name) && execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).trim() === '') {
    execFileSync('ip', ['netns', 'del', name]);
  }
}

function run(file, args, input) {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ stdout, stderr, exitCode: code ?? -1 }));
    if (input !== undefined) child.stdin.end(input);
  });
}
const runner = {
  async run(file, args, options = {}) {
    const input = options.input === undefined ? undefined : String(options.input);
    const r = await run(file, args, input);
    if (r.exitCode !== 0 && options.reject !== false) {
      const e = new Error(`${file} failed: ${r.stderr}`);
      Object.assign(e, { name: 'RustynetError', code: 'COMMAND_FAILED', details: { exitCode: r.exitCode, stderr: r.stderr } });
      throw e;
    }
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

// A 250-node mesh and RULES rules mixing node ids, tags, CIDRs, ports and ranges, v4 and v6.
function makeInput() {
  const tags = ['web', 'db', 'ops', 'dev', 'ci', 'mon'];
  const nodes = Array.from({ length: 250 }, (_, i) => ({
    id: `n${i}`,
    addresses: [`100.64.${i >> 8}.${(i & 255) + 1}/32`, `fd00::${(i + 1).toString(16)}/128`],
    tags: [tags[i % tags.length], tags[(i * 7) % tags.length]],
  }));
  const protos = ['tcp', 'udp', 'icmp', 'any'];
  const rules = Array.from({ length: RULES }, (_, i) => {
    const proto = protos[i % 4];
    const pick = (k) =>
      [`n${(i * 13 + k) % 250}`, `tag:${tags[(i + k) % tags.length]}`, `100.64.${k % 4}.0/24`, `node:n${(i * 31 + k) % 250}`, 'fd00::/112'][
        (i + k) % 5
      ];
    const rule = { id: `r${i}`, action: i % 7 === 0 ? 'drop' : 'accept', src: [pick(1), pick(2)], dst: [pick(3)], proto };
    if (proto === 'tcp' || proto === 'udp') rule.ports = [1000 + (i % 500), `${2000 + i}-${2010 + i}`];
    return rule;
  });
  return { self: 'n0', nodes, interfaces: ['rnb0', 'rnb1'], acl: { rules } };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (ms) => `${ms.toFixed(1)} ms`;

execFileSync('ip', ['netns', 'add', ns]);
try {
  const input = makeInput();
  const plugin = createPlugin(context);
  await plugin.start();
  const t0 = performance.now();
  const text = compileRuleset(resolvePolicy(input), DEFAULT_OPTIONS);
  const compileMs = performance.now() - t0;
  const rawApply = async () => {
    const r = await run('nft', ['-f', '-'], text);
    if (r.exitCode !== 0) throw new Error(`raw nft failed: ${r.stderr}`);
  };
  // warm up both paths
  await plugin.apply(input);
  await rawApply();
  await plugin.apply(input);
  await rawApply();
  const viaPlugin = [],
    raw = [];
  for (let i = 0; i < RUNS; i++) {
    // alternate which goes first to spread any drift evenly
    const order = i % 2 === 0 ? ['p', 'r'] : ['r', 'p'];
    for (const o of order) {
      const s = performance.now();
      if (o === 'p') await plugin.apply(input);
      else await rawApply();
      (o === 'p' ? viaPlugin : raw).push(performance.now() - s);
    }
  }
  const lines = text.split('\n').filter((l) => /counter name "r_/.test(l)).length;
  const listed = await run('nft', ['list', 'table', 'inet', DEFAULT_OPTIONS.table]);
  await plugin.stop();
  const ratio = median(viaPlugin) / median(raw);
  console.log(
    `policy apply bench: ${RULES} ACL rules -> ${lines} nft rules, ${(text.length / 1024).toFixed(0)} KiB ruleset, ${RUNS} runs each, netns ${ns}`,
  );
  console.log(`  compile (validate+resolve+render) once: ${fmt(compileMs)}`);
  console.log(
    `  raw nft -f      median ${fmt(median(raw))}  mean ${fmt(mean(raw))}  min ${fmt(Math.min(...raw))}  max ${fmt(Math.max(...raw))}`,
  );
  console.log(
    `  plugin.apply()  median ${fmt(median(viaPlugin))}  mean ${fmt(mean(viaPlugin))}  min ${fmt(Math.min(...viaPlugin))}  max ${fmt(Math.max(...viaPlugin))}`,
  );
  console.log(`  ratio plugin/raw (medians): ${ratio.toFixed(3)}x  (target <= 1.5x: ${ratio <= 1.5 ? 'met' : 'NOT met'})`);
  console.log(`  kernel table after apply: ${listed.stdout.split('\n').filter((l) => l.includes('counter name "r_')).length} rules listed`);
} finally {
  cleanup();
}
