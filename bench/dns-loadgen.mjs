#!/usr/bin/env node
// Bounded DNS load generator over UDP (used by bench/dns-qps.mjs; runs on its own too).
//   node bench/dns-loadgen.mjs --host 127.0.0.1 --port 5353 --seconds 5 --concurrency 64
// Keeps `concurrency` queries in flight for `seconds`, cycling through a fixed query mix,
// then prints one JSON line: { sent, answered, lost, qps, latencyMs: { p50, p90, p99, max }, rcodes }.
// A query unanswered after 1 s counts as lost and frees its slot.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import * as dnsPacket from 'dns-packet';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '53' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    names: { type: 'string', default: 'b.rustynet:A,alpha.rustynet:AAAA,n42.rustynet:A,nobody.rustynet:A,B.RUSTYNET:A' },
  },
});
const port = Number(values.port);
const seconds = Number(values.seconds);
const concurrency = Math.max(1, Math.min(4096, Number(values.concurrency)));
const mix = values.names.split(',').map((s) => {
  const [name, type] = s.split(':');
  return { name, type };
});

const sock = dgram.createSocket(isIPv6(values.host) ? 'udp6' : 'udp4');
const inflight = new Map(); // id -> start (hrtime bigint)
const latencies = [];
const rcodes = {};
let sent = 0;
let answered = 0;
let lost = 0;
let nextId = 0;
let running = true;
const started = process.hrtime.bigint();
const deadline = started + BigInt(Math.round(seconds * 1e9));

function sendOne() {
  if (!running) return;
  let id = nextId;
  for (let i = 0; i < 65536 && inflight.has(id); i++) id = (id + 1) & 0xffff;
  nextId = (id + 1) & 0xffff;
  const q = mix[sent % mix.length];
  const msg = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: q.name, type: q.type }] });
  inflight.set(id, process.hrtime.bigint());
  sent++;
  sock.send(msg, port, values.host);
}

sock.on('message', (m) => {
  if (m.length < 12) return;
  const id = m.readUInt16BE(0);
  const t0 = inflight.get(id);
  if (t0 === undefined) return;
  inflight.delete(id);
  const now = process.hrtime.bigint();
  latencies.push(Number(now - t0) / 1e6);
  answered++;
  const rc = m[3] & 0xf;
  rcodes[rc] = (rcodes[rc] ?? 0) + 1;
  if (now < deadline) sendOne();
});

const sweeper = setInterval(() => {
  const now = process.hrtime.bigint();
  for (const [id, t0] of inflight) {
    if (now - t0 > 1_000_000_000n) {
      inflight.delete(id);
      lost++;
      if (now < deadline) sendOne();
    }
  }
  if (now >= deadline) finish();
}, 50);

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(3));
}

function finish() {
  if (!running) return;
  running = false;
  clearInterval(sweeper);
  // Give in-flight queries a moment to come back; they are not counted as lost.
  setTimeout(() => {
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    const sorted = latencies.sort((a, b) => a - b);
    const names = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };
    process.stdout.write(
      `${JSON.stringify({
        sent,
        answered,
        lost,
        seconds: Number(elapsed.toFixed(2)),
        qps: Math.round(answered / seconds),
        latencyMs: { p50: pct(sorted, 50), p90: pct(sorted, 90), p99: pct(sorted, 99), max: pct(sorted, 100) },
        rcodes: Object.fromEntries(Object.entries(rcodes).map(([k, v]) => [names[k] ?? k, v])),
      })}\n`,
    );
    sock.close();
  }, 200);
}

sock.bind(0, () => {
  for (let i = 0; i < concurrency; i++) sendOne();
});
