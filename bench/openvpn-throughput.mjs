#!/usr/bin/env node
/**
 * OpenVPN backend benchmark (prints, never asserts). Needs root; build first:
 *   cd /work/main && npx tsc -b plugins/backend-openvpn && node bench/openvpn-throughput.mjs [--seconds 8] [--rounds 5]
 *
 * 1. Throughput: iperf3 (TCP, one stream, a -> b) over a tunnel run by the plugin, and over a
 *    plain `openvpn` pair started by hand with the same cipher (AES-256-GCM), TLS p2p mode,
 *    peer-fingerprint and tun MTU. Rounds alternate plugin / plain; medians and the ratio print.
 * 2. Bring-up: time for node a to apply 10 real peers (10 more namespaces running the plugin),
 *    until applyPeers returns and until all 10 report state "up" and answer ping.
 * Everything runs in network namespaces created here (198.18.0.0/24 underlay) and is removed
 * at the end, on failure and on SIGINT.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestNet } from '../plugins/backend-openvpn/dist/test/support/netns.js';
import { makeNodes, peerOf, removeRoot, startNode, BASE_PORT } from '../plugins/backend-openvpn/dist/test/support/mesh.js';
import { CERT_FILE, KEY_FILE } from '../plugins/backend-openvpn/dist/src/keys.js';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '5' },
    peers: { type: 'string', default: '10' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const PEERS = Number(values.peers);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** pids of the openvpn processes in the given namespaces. */
function openvpnPids(namespaces) {
  return namespaces.flatMap((ns) =>
    spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
      .stdout.split(/\s+/)
      .filter(Boolean)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'openvpn';
        } catch {
          return false;
        }
      }),
  );
}

/** utime + stime of the processes, in seconds. */
function cpuSeconds(pids) {
  const hz = 100; // USER_HZ on Linux
  return pids.reduce((acc, pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return acc + (Number(f[11]) + Number(f[12])) / hz;
  }, 0);
}

/** iperf3 a -> b; returns Mbit/s and the CPU seconds both openvpn ends spent per GB carried. */
function iperf(net, client, server, ip) {
  const srv = spawn('ip', ['netns', 'exec', server.netns, 'iperf3', '-s', '-1', '-B', ip], { stdio: 'ignore' });
  spawnSync('sleep', ['0.5']);
  const pids = openvpnPids([client.netns, server.netns]);
  const c0 = cpuSeconds(pids);
  const r = net.exec(client.netns, 'iperf3', ['-c', ip, '-t', String(SECONDS), '-J']);
  const c1 = cpuSeconds(pids);
  srv.kill();
  if (r.code !== 0) throw new Error(`iperf3 failed: ${r.stdout.slice(0, 400)} ${r.stderr}`);
  const end = JSON.parse(r.stdout).end.sum_received;
  return { mbps: end.bits_per_second / 1e6, cpuPerGB: (c1 - c0) / (end.bytes / 1e9) };
}

async function plainPair(net, a, b) {
  // Hand-written configs: the same cipher, TLS p2p mode, fingerprints and MTU as the plugin, no plugin involved.
  const dir = mkdtempSync(join(tmpdir(), 'rn-ovpn-bench-plain-'));
  const conf = (self, peer, role, lport, rport) =>
    [
      'dev tun',
      'proto udp',
      `lport ${lport}`,
      `remote ${peer.host.underlay} ${rport}`,
      role,
      ...(role === 'tls-server' ? ['dh none'] : []),
      `cert ${join(self.keyDir, CERT_FILE)}`,
      `key ${join(self.keyDir, KEY_FILE)}`,
      `peer-fingerprint ${peer.fingerprint}`,
      'data-ciphers AES-256-GCM',
      `ifconfig 10.200.0.${self === a ? 1 : 2} 10.200.0.${self === a ? 2 : 1}`,
      'tun-mtu 1420',
      'ping 5',
      'verb 3',
    ].join('\n') + '\n';
  writeFileSync(join(dir, 'a.conf'), conf(a, b, 'tls-server', 41001, 41002), { mode: 0o600 });
  writeFileSync(join(dir, 'b.conf'), conf(b, a, 'tls-client', 41002, 41001), { mode: 0o600 });
  const procs = [
    spawn('ip', ['netns', 'exec', a.host.netns, 'openvpn', '--config', join(dir, 'a.conf')], { stdio: 'ignore' }),
    spawn('ip', ['netns', 'exec', b.host.netns, 'openvpn', '--config', join(dir, 'b.conf')], { stdio: 'ignore' }),
  ];
  if (!(await net.pingUntil(a.host.netns, '10.200.0.2', 20_000))) throw new Error('plain openvpn pair did not come up');
  return {
    async stop() {
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', r)))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function throughput() {
  const net = TestNet.create(2);
  let nodes;
  try {
    nodes = await makeNodes(net, ['a', 'b'], { dataCiphers: ['AES-256-GCM'] });
    const [a, b] = nodes;
    const plugin = [];
    const plain = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await startNode(a);
      await startNode(b);
      await a.backend.applyPeers({ upsert: [peerOf(b)], remove: [] });
      await b.backend.applyPeers({ upsert: [peerOf(a)], remove: [] });
      if (!(await net.pingUntil(a.host.netns, b.v4, 20_000))) throw new Error('plugin tunnel did not come up');
      plugin.push(iperf(net, a.host, b.host, b.v4));
      await a.backend.stop();
      await b.backend.stop();
      const pp = await plainPair(net, a, b);
      plain.push(iperf(net, a.host, b.host, '10.200.0.2'));
      await pp.stop();
      const [x, y] = [plugin.at(-1), plain.at(-1)];
      console.log(
        `round ${round}: plugin ${x.mbps.toFixed(0)} Mbit/s (${x.cpuPerGB.toFixed(1)} cpu-s/GB), plain ${y.mbps.toFixed(0)} Mbit/s (${y.cpuPerGB.toFixed(1)} cpu-s/GB)`,
      );
    }
    const p = median(plugin.map((r) => r.mbps));
    const q = median(plain.map((r) => r.mbps));
    const pc = median(plugin.map((r) => r.cpuPerGB));
    const qc = median(plain.map((r) => r.cpuPerGB));
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`\nthroughput (iperf3 TCP a -> b, ${SECONDS}s per run, median of ${ROUNDS} alternating rounds, AES-256-GCM, tun-mtu 1420)`);
    console.log(`  plugin (rustynet backend-openvpn): ${p.toFixed(0)} Mbit/s   ${pc.toFixed(1)} openvpn cpu-s per GB`);
    console.log(`  plain openvpn pair by hand:        ${q.toFixed(0)} Mbit/s   ${qc.toFixed(1)} openvpn cpu-s per GB`);
    console.log(
      `  ratio plugin / plain:              ${(p / q).toFixed(3)} (throughput)   ${(qc / pc).toFixed(3)} (inverse cpu cost per byte)`,
    );
    console.log(
      `  host load average during the run: ${load} (${cpus().length} CPUs); throughput is noisy on a shared host, cpu-s/GB much less so`,
    );
  } finally {
    for (const n of nodes ?? []) await n.backend.stop().catch(() => undefined);
    net.destroySync();
    if (nodes) removeRoot(nodes);
  }
}

async function bringUp() {
  const net = TestNet.create(PEERS + 1);
  let nodes;
  try {
    const ids = ['a', ...Array.from({ length: PEERS }, (_, i) => `p${String(i).padStart(2, '0')}`)];
    nodes = await makeNodes(net, ids);
    for (const n of nodes) await startNode(n);
    const [a, ...peers] = nodes;
    // The peers know a first (as they would from the same netmap).
    await Promise.all(peers.map((p) => p.backend.applyPeers({ upsert: [peerOf(a)], remove: [] })));
    const t0 = performance.now();
    await a.backend.applyPeers({ upsert: peers.map(peerOf), remove: [] });
    const tApplied = performance.now() - t0;
    for (;;) {
      const st = await a.backend.stats();
      if (st.peers.filter((p) => p.state === 'up').length === PEERS) break;
      if (performance.now() - t0 > 60_000) throw new Error('peers did not come up within 60 s');
      await sleep(50);
    }
    const tUp = performance.now() - t0;
    for (const p of peers) if (!(await net.pingUntil(a.host.netns, p.v4, 20_000))) throw new Error(`no ping to ${p.id}`);
    const tPing = performance.now() - t0;
    console.log(`\nbring-up of ${PEERS} peers on one node (${PEERS} openvpn instances started concurrently)`);
    console.log(`  applyPeers returned (processes up; it waits up to connectWaitMs for handshakes): ${tApplied.toFixed(0)} ms`);
    console.log(`  all ${PEERS} tunnels CONNECTED (TLS handshake done, stats state "up"): ${tUp.toFixed(0)} ms`);
    console.log(`  all ${PEERS} peers answered ping through their tunnel:                ${tPing.toFixed(0)} ms`);
  } finally {
    for (const n of nodes ?? []) await n.backend.stop().catch(() => undefined);
    net.destroySync();
    if (nodes) removeRoot(nodes);
  }
}

if (!process.env.SKIP_TPUT) await throughput();
await bringUp();
