#!/usr/bin/env node
// Runs Rustynet's benchmarks (bench/*.mjs) one after the other and prints their figures.
// Prints, asserts nothing. Root script: `npm run bench` (= build, then this file).
//
//   node bench/run.mjs                       every bench
//   node bench/run.mjs daemon                a group (file name prefix before the first '-')
//   node bench/run.mjs daemon-wireguard dns  names and groups, in the order given
//   node bench/run.mjs --list                what exists, and what each needs
//   node bench/run.mjs --json                one JSON document on stdout (progress on stderr)
//   node bench/run.mjs daemon -- --peers 200 arguments after `--` go to every selected bench
//   (through npm: npm run bench -- daemon --json;  npm run bench -- daemon -- --runs 3)
//
// A bench whose prerequisites (root, tools, built packages) are missing is skipped with the
// reason; so is one that exits with code 77 (it prints its reason on stderr). Exit code: 0 when
// nothing failed, 1 when a bench failed, 2 for bad arguments, 130 on SIGINT (the running bench
// gets the signal and cleans up its namespaces first).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { SKIP_EXIT_CODE, problems } from './lib/prereq.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/** Scripts in bench/ that are helpers of another bench, not benches. */
const HELPERS = new Set(['run', 'dns-loadgen', 'gate', 'soak-chart']);

/**
 * What each bench needs and whether it speaks `--json`. Benches not listed here (added later)
 * get their group's defaults; a group without defaults runs unchecked.
 */
const KNOWN = {
  'daemon-wireguard': {
    what: 'daemon vs raw wg: 1000-peer apply, one-peer change, start -> first ping, RSS (docs/performance.md)',
    json: true,
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump'],
    files: [
      'core/testbed/dist/src/index.js',
      'core/daemon/dist/src/index.js',
      'plugins/backend-wireguard/dist/src/index.js',
      'conformance-kit/dist/src/harness/index.js',
    ],
  },
  'daemon-breakdown': {
    what: 'CPU cost of each stage of the daemon apply path (in-process)',
    json: true,
    root: false,
    files: ['core/daemon/dist/src/index.js', 'plugins/backend-wireguard/dist/src/validate.js'],
  },
  'dns-qps': { what: 'Magic DNS queries per second', files: ['plugins/dns-magic/dist/src/standalone.js'] },
  'policy-apply': {
    what: '1000 ACL rules through policy-nftables vs raw nft -f',
    root: true,
    tools: ['ip', 'nft'],
    files: ['plugins/policy-nftables/dist/src/index.js'],
  },
  'policy-throughput': {
    what: 'iperf3 throughput with and without a 1000-rule policy',
    root: true,
    tools: ['ip', 'nft', 'iperf3'],
    files: ['plugins/policy-nftables/dist/src/index.js'],
  },
  'openvpn-throughput': {
    what: 'OpenVPN backend: iperf3 through the plugin vs plain openvpn, 10-peer bring-up',
    root: true,
    tools: ['ip', 'openvpn', 'iperf3', 'ping'],
    files: ['plugins/backend-openvpn/dist/src/index.js', 'plugins/backend-openvpn/dist/test/support/netns.js'],
  },
  'relay-pps': { what: 'relay server packets per second on loopback', json: true, files: ['plugins/relay/dist/src/index.js'] },
  'relay-throughput': {
    what: 'iperf3 over WireGuard through the relay vs the direct path, same run (target >= 0.5x)',
    json: true,
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump', 'iperf3'],
    files: ['core/testbed/dist/src/index.js', 'plugins/relay/dist/src/index.js', 'plugins/backend-wireguard/dist/src/index.js'],
  },
  'relay-soak': {
    what: 'relayed 3-node mesh under pings, iperf3 bursts and netmap reloads for --minutes (default 10): RSS/fds/CPU/drops per minute, exit 1 on a leak',
    json: true,
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump', 'iperf3', 'curl'],
    files: ['core/testbed/dist/src/index.js', 'plugins/relay/dist/src/index.js', 'plugins/backend-wireguard/dist/src/index.js'],
  },
  'wireguard-policy-throughput': {
    what: 'iperf3 over WireGuard with the policy plugin on vs off, same run (target >= 0.95x)',
    json: true,
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'iperf3'],
    files: ['core/testbed/dist/src/index.js', 'plugins/policy-nftables/dist/src/index.js', 'plugins/backend-wireguard/dist/src/index.js'],
  },
  recovery: {
    what: 'median of 5: time to traffic after a backend process kill and a daemon kill + restart, both backends (docs/performance.md)',
    json: true,
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'openvpn', 'ping', 'nft', 'tcpdump'],
    files: [
      'core/testbed/dist/src/index.js',
      'core/daemon/dist/src/index.js',
      'plugins/backend-wireguard/dist/src/index.js',
      'plugins/backend-openvpn/dist/src/index.js',
      'conformance-kit/dist/src/harness/index.js',
    ],
  },
  'scale-curve': {
    what: 'daemon full apply time and RSS at 100, 1000 and 10000 peers vs raw wg setconf / wg set + ip -batch (docs/performance.md chart)',
    json: true,
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump'],
    files: [
      'core/testbed/dist/src/index.js',
      'core/daemon/dist/src/index.js',
      'plugins/backend-wireguard/dist/src/index.js',
      'conformance-kit/dist/src/harness/index.js',
    ],
  },
  control: {
    what: 'control plane: build+sign a 1000-node netmap (<= 50 ms), change -> 200 long-polling clients (p95 <= 500 ms)',
    json: true,
    root: false,
    files: ['core/control/dist/src/index.js'],
  },
  'path-failover': {
    what: 'seconds from a blocked direct path to relayed traffic, and back (real rustynetd + relay)',
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft'],
    files: ['core/daemon/dist/src/index.js', 'plugins/relay/dist/src/index.js', 'conformance-kit/dist/src/harness/index.js'],
  },
};
const GROUP_DEFAULTS = {
  daemon: { root: true, files: ['core/daemon/dist/src/index.js'] },
  dns: { files: ['plugins/dns-magic/dist/src/index.js'] },
  policy: { root: true, tools: ['nft'], files: ['plugins/policy-nftables/dist/src/index.js'] },
  relay: { files: ['plugins/relay/dist/src/index.js'] },
  openvpn: { root: true, tools: ['ip', 'openvpn'], files: ['plugins/backend-openvpn/dist/src/index.js'] },
};

/** First comment line of a bench file (its one-line description). */
function describe(file) {
  try {
    const head = readFileSync(file, 'utf8').split('\n').slice(0, 12);
    for (const l of head) {
      const m = /^\s*(?:\/\/|\*)\s*(\S.*)$/.exec(l);
      if (m && !m[1].startsWith('!')) return m[1].trim();
    }
  } catch {
    /* unreadable */
  }
  return '';
}

function discover() {
  return readdirSync(here)
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => f.slice(0, -4))
    .filter((n) => !HELPERS.has(n))
    .sort()
    .map((name) => {
      const group = name.split('-')[0];
      const file = join(here, `${name}.mjs`);
      return { name, group, file, what: describe(file), ...(GROUP_DEFAULTS[group] ?? {}), ...(KNOWN[name] ?? {}) };
    });
}

function usage(benches) {
  const lines = ['usage: node bench/run.mjs [--list] [--json] [name|group ...] [-- bench args]', '', 'benches:'];
  for (const b of benches) {
    const req = [b.root && 'root', ...(b.tools ?? []), ...(b.files?.length ? ['build'] : [])].filter(Boolean).join(', ');
    const missing = problems(b, root);
    lines.push(`  ${b.name.padEnd(20)} ${b.what ?? ''}`);
    lines.push(`  ${''.padEnd(20)} needs: ${req || 'nothing'}${missing.length ? `  -> would skip: ${missing.join('; ')}` : ''}`);
  }
  lines.push('', `groups: ${[...new Set(benches.map((b) => b.group))].join(', ')}`);
  return lines.join('\n');
}

// ------------------------------------------------------------------ arguments
const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
const passThrough = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
const json = own.includes('--json');
const benches = discover();
if (own.includes('--list') || own.includes('--help') || own.includes('-h')) {
  console.log(usage(benches));
  process.exit(0);
}
const unknownFlags = own.filter((a) => a.startsWith('-') && a !== '--json');
if (unknownFlags.length > 0) {
  console.error(`unknown option ${unknownFlags.join(' ')}\n${usage(benches)}`);
  process.exit(2);
}
const wanted = own.filter((a) => !a.startsWith('-'));
let selected = benches;
if (wanted.length > 0) {
  selected = [];
  for (const w of wanted) {
    const hits = benches.filter((b) => b.name === w || b.group === w);
    if (hits.length === 0) {
      console.error(`no bench or group named "${w}"\n${usage(benches)}`);
      process.exit(2);
    }
    for (const h of hits) if (!selected.includes(h)) selected.push(h);
  }
}

// ------------------------------------------------------------------ running
let current;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    interrupted = true;
    // Children run in their own process group (detached), so only this one signal reaches them.
    if (current && current.exitCode === null) current.kill(sig);
    else process.exit(130);
  });
}

function runOne(b) {
  const args = [b.file, ...(json && b.json ? ['--json'] : []), ...passThrough];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', json ? 'pipe' : 'inherit', 'pipe'], detached: true });
    current = child;
    let stdout = '';
    let stderrTail = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      stderrTail = (stderrTail + d).slice(-2000);
    });
    child.on('close', (code, signal) => {
      current = undefined;
      resolve({ code, signal, stdout, stderrTail });
    });
  });
}

const machine = machineInfo();
const log = (s) => (json ? process.stderr : process.stdout).write(`${s}\n`);
log(`Rustynet benchmarks: ${selected.map((b) => b.name).join(', ')}`);
log(machineLine(machine));
const report = [];
for (const b of selected) {
  if (interrupted) break;
  const missing = problems(b, root);
  if (missing.length > 0) {
    log(`\n=== ${b.name}: SKIPPED (${missing.join('; ')})`);
    report.push({ name: b.name, status: 'skipped', reason: missing.join('; ') });
    continue;
  }
  log(`\n=== ${b.name}${b.what ? `: ${b.what}` : ''}`);
  const t0 = performance.now();
  const r = await runOne(b);
  const durationMs = Math.round(performance.now() - t0);
  const entry = { name: b.name, durationMs };
  if (r.code === SKIP_EXIT_CODE) {
    const reason = r.stderrTail.trim().split('\n').at(-1) ?? 'skipped by the bench';
    log(`=== ${b.name}: SKIPPED (${reason})`);
    Object.assign(entry, { status: 'skipped', reason });
  } else if (r.code === 0) {
    entry.status = 'ok';
    if (json) {
      if (b.json) {
        try {
          entry.result = JSON.parse(r.stdout);
        } catch {
          entry.output = r.stdout;
        }
      } else entry.output = r.stdout;
    }
  } else {
    entry.status = interrupted ? 'interrupted' : 'failed';
    entry.exit = r.signal ?? r.code;
    if (json) entry.output = r.stdout;
    log(`=== ${b.name}: ${entry.status.toUpperCase()} (exit ${entry.exit}); see its messages above`);
  }
  report.push(entry);
}

log(`\nsummary: ${report.map((e) => `${e.name} ${e.status}${e.reason ? ` (${e.reason})` : ''}`).join('; ') || 'nothing ran'}`);
if (json) process.stdout.write(`${JSON.stringify({ machine, startedAt: new Date().toISOString(), benches: report }, null, 2)}\n`);
process.exit(interrupted ? 130 : report.some((e) => e.status === 'failed') ? 1 : 0);
