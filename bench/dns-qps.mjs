#!/usr/bin/env node
// Magic DNS queries per second.
//   npx tsc -b plugins/dns-magic && node bench/dns-qps.mjs [--seconds 5] [--concurrency 64]
//
// Serves a 1000-node zone with @rustynet/dns-magic (standalone script, rate limit off) on
// 127.0.0.1 and loads it with
//   1. dnsperf (Debian package `dnsperf`) when installed: qps and average latency;
//   2. bench/dns-loadgen.mjs (bounded node UDP load generator): qps and latency percentiles.
// Reference: the same two loads against a raw node:dgram server that answers every query with
// its own bytes (QR set, no DNS parsing, no zone): the ceiling of a single-threaded node UDP
// server on this machine. As root, everything runs inside a fresh network namespace (created
// and removed here, also on SIGINT); otherwise on the current namespace's loopback.
// Prints figures only; it asserts nothing.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const standalone = join(root, 'plugins/dns-magic/dist/src/standalone.js');
const loadgen = join(root, 'bench/dns-loadgen.mjs');
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '64' } },
});
const seconds = Number(values.seconds);

if (!existsSync(standalone)) {
  console.error('build first: npx tsc -b plugins/dns-magic');
  process.exit(1);
}

const isRoot = process.getuid?.() === 0;
const ns = isRoot ? `rnb${randomBytes(2).toString('hex')}` : null;
const work = mkdtempSync(join(tmpdir(), 'dns-bench-'));
const children = new Set();

function inNs(file, args) {
  return ns ? ['ip', ['netns', 'exec', ns, file, ...args]] : [file, args];
}

function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  if (ns) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

function startServer(kind, port) {
  let args;
  if (kind === 'magic') {
    const nodes = Array.from({ length: 1000 }, (_, i) => ({
      id: `n${i}`,
      name: `n${i}`,
      addresses: [`100.64.${i >> 8}.${i & 255}`, `fd00::${i.toString(16)}`],
    }));
    nodes.push({ id: 'b', name: 'b', addresses: ['100.64.10.2'] }, { id: 'a', name: 'alpha', addresses: ['100.64.10.1', 'fd00:a::1'] });
    const zoneFile = join(work, 'zone.json');
    writeFileSync(zoneFile, JSON.stringify({ zone: 'rustynet', nodes }));
    args = [standalone, '--listen', `127.0.0.1:${port}`, '--zone-file', zoneFile, '--options', JSON.stringify({ rateLimit: false })];
  } else {
    const echo = `
      const d = require('node:dgram').createSocket('udp4');
      d.on('message', (m, r) => { if (m.length >= 12) { m[2] |= 0x80; d.send(m, r.port, r.address); } });
      d.bind(${port}, '127.0.0.1', () => console.log(JSON.stringify({ event: 'ready' })));`;
    args = ['-e', echo];
  }
  const [file, a] = inNs(process.execPath, args);
  const child = spawn(file, a, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (l) => {
      const msg = JSON.parse(l);
      if (msg.event === 'ready') resolve(child);
      else reject(new Error(l));
    });
  });
}

async function stopServer(child) {
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  children.delete(child);
}

function haveDnsperf() {
  return spawnSync('dnsperf', ['-h'], { stdio: 'ignore' }).error === undefined;
}

function dnsperf(port) {
  const data = join(work, 'queries.txt');
  writeFileSync(data, ['b.rustynet A', 'alpha.rustynet AAAA', 'n42.rustynet A', 'nobody.rustynet A', 'B.RUSTYNET A'].join('\n') + '\n');
  const [file, args] = inNs('dnsperf', [
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '-d',
    data,
    '-l',
    String(seconds),
    '-q',
    values.concurrency,
  ]);
  const out = execFileSync(file, args, { encoding: 'utf8' });
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    lostPct: num(/Queries lost:\s+\d+ \(([\d.]+)%\)/),
    avgLatencyMs: ((v) => (v === null ? null : Number((v * 1000).toFixed(3))))(num(/Average Latency \(s\):\s+([\d.]+)/)),
  };
}

function nodeLoad(port) {
  const [file, args] = inNs(process.execPath, [
    loadgen,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--seconds',
    String(seconds),
    '--concurrency',
    values.concurrency,
  ]);
  return JSON.parse(execFileSync(file, args, { encoding: 'utf8', cwd: root }).trim());
}

async function measure(kind) {
  const port = 20000 + (randomBytes(2).readUInt16BE(0) % 30000);
  const child = await startServer(kind, port);
  try {
    return { dnsperf: haveDnsperf() ? dnsperf(port) : null, loadgen: nodeLoad(port) };
  } finally {
    await stopServer(child);
  }
}

try {
  if (ns) {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  console.log(
    `dns-qps: ${seconds}s per run, concurrency ${values.concurrency}, ${ns ? `namespace ${ns}` : 'current namespace'} loopback, 1 server process`,
  );
  if (!haveDnsperf()) console.log('dnsperf not installed (apt-get install dnsperf): node load generator only');
  const magic = await measure('magic');
  const raw = await measure('raw');
  const row = (label, r) => {
    const d = r.dnsperf;
    const l = r.loadgen;
    console.log(
      `${label.padEnd(34)} dnsperf: ${d ? `${Math.round(d.qps)} qps, avg ${d.avgLatencyMs} ms, lost ${d.lostPct}%` : 'n/a'}` +
        ` | loadgen: ${l.qps} qps, p50 ${l.latencyMs.p50} ms, p90 ${l.latencyMs.p90} ms, p99 ${l.latencyMs.p99} ms, lost ${l.lost}`,
    );
  };
  row('magic DNS (1002-node zone)', magic);
  row('reference: raw dgram echo server', raw);
  const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : 'n/a');
  console.log(
    `ratio magic/raw qps: dnsperf ${ratio(magic.dnsperf?.qps, raw.dnsperf?.qps)}, loadgen ${ratio(magic.loadgen.qps, raw.loadgen.qps)}`,
  );
  console.log(`magic rcodes (loadgen): ${JSON.stringify(magic.loadgen.rcodes)}`);
} finally {
  cleanup();
}
