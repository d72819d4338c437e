// Phase 1 of bench/daemon-wireguard.mjs: an N-peer netmap applied through a real rustynetd
// (POST /v1/netmap/reload) vs the same peers applied by wg/ip alone in a second namespace;
// one-peer changes (full netmap, add, signed delta), RSS, log volume and, with --profile, a CPU
// profile (daemon-wg-profile.mjs). Imported after the bench's prerequisite check (needs a build).
import { rmSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Mesh } from '../../core/testbed/dist/src/index.js';
import { TestNetwork } from '../../conformance-kit/dist/src/harness/index.js';
import { readPrivateKeyFile } from '../../core/daemon/dist/src/index.js';
import { fmt, summarize } from './stats.mjs';
import { commOf, findPids, memoryOf } from './proc.mjs';
import { x25519Pair } from './keys.mjs';
import { startDaemon, lastAudit, timedReload, wgPeerCount } from './daemon.mjs';
import { trackNetwork } from './cleanup.mjs';
import { Publisher, deltaFileOf, syntheticPeers } from './synthetic-netmap.mjs';
import { startRawWorker } from './raw-worker-client.mjs';
import { profileApplies } from './daemon-wg-profile.mjs';
import { measureFullApplies } from './full-apply.mjs';

/**
 * Runs phase 1 and stores its samples in `results` (full, change, add, delta, memory,
 * applyCountFromMetrics, rawWireguardGoPid, logLines, maxRoutesAdded, profile).
 * `cfg`: { root, log, backend, protocol, peers, runs, changeRuns, only (Set), profile, nodeArgs }.
 * Everything it creates is removed at the end, also on failure.
 */
export async function applyPhase(results, cfg) {
  const {
    root,
    log,
    backend: BACKEND,
    protocol: PROTOCOL,
    peers: N,
    runs: RUNS,
    changeRuns: CHANGE_RUNS,
    only: ONLY,
    nodeArgs: NODE_ARGS,
  } = cfg;
  log(`phase 1: ${N}-peer netmap through rustynetd vs raw wg/ip (runs ${RUNS} + 1 warm-up, change runs ${CHANGE_RUNS})`);
  const mesh = await Mesh.create({ backends: [BACKEND], nodes: ['a'], cwd: root, logLevel: 'info', pollIntervalMs: 3_600_000, log });
  const rawNet = await TestNetwork.create({ hosts: ['raw'] });
  const rawIf = `rnm${rawNet.runId}r`;
  trackNetwork(mesh.net, [mesh.node('a').ifname], [mesh.workDir]);
  trackNetwork(rawNet, [rawIf]);
  let daemon;
  let worker;
  try {
    const a = mesh.node('a');
    const self = mesh.netmapNode(a);
    const cpPem = await readPrivateKeyFile(mesh.cpKeyFile);
    const pub = new Publisher(mesh, cpPem);
    log(`generating ${N + 1} synthetic peers (X25519 + Ed25519 keys)`);
    const peers = syntheticPeers(N + 1);
    const extra = peers.pop();
    const rawPeer = (p) => ({
      publicKey: p.keys[PROTOCOL],
      endpoint: `${p.endpoints[0].host}:${p.endpoints[0].port}`,
      allowedIps: p.addresses,
    });

    // Raw side.
    worker = startRawWorker(rawNet.host('raw'));
    const rawDir = join(mesh.workDir, 'raw');
    await mkdir(rawDir, { recursive: true, mode: 0o700 });
    const setup = await worker.cmd({
      op: 'setup',
      ifname: rawIf,
      dir: rawDir,
      listenPort: 51820,
      mtu: 1420,
      addresses: self.addresses,
      privateKey: x25519Pair().privateKey,
      peers: peers.map(rawPeer),
    });

    // Daemon side: start with a netmap holding only itself.
    let v = await pub.publish([self]);
    daemon = await startDaemon(mesh, a, { backend: BACKEND, cwd: root, nodeArgs: NODE_ARGS, deltaFile: deltaFileOf(a) });
    await daemon.waitUp(v);
    if (commOf(daemon.pid) !== 'node') throw new Error(`pid ${daemon.pid} is ${commOf(daemon.pid)}, not the daemon's node process`);
    const rssIdle = memoryOf(daemon.pid);

    const m = await measureFullApplies({
      runs: RUNS,
      self,
      peers,
      pub,
      daemon,
      worker,
      node: a,
      protocol: PROTOCOL,
      log: (r, line) => log(`full apply ${r === 0 ? 'warm-up' : `run ${r}`}: ${line}`),
    });
    const { daemon: dm, reconcile, setconf, wgset, routes, rawTotal, rss } = m;
    const full = { daemon: dm, reconcile, setconf, wgset, routes, rawTotal, firstDaemon: m.first, rss };

    // One-peer changes on top of the full netmap.
    const change = { daemon: [], reconcile: [], raw: [] };
    const add = { daemon: [], reconcile: [], rawWg: [], rawRoutes: [], rawTotal: [] };
    const delta = { daemon: [], reconcile: [], raw: [] };
    if (ONLY.has('change')) {
      const p0 = peers[0];
      for (let r = 0; r <= CHANGE_RUNS; r++) {
        const port = 51821 + (r % 2);
        const raw = await worker.cmd({ op: 'change', port });
        p0.endpoints = [{ host: p0.endpoints[0].host, port }];
        v = await pub.publish([self, ...peers]);
        const ms = await timedReload(daemon, v);
        const audit = await lastAudit(a, PROTOCOL, 'apply');
        if (audit?.data?.peersUpserted !== 1) throw new Error(`endpoint change upserted ${audit?.data?.peersUpserted} peers, want 1`);
        if (r === 0) continue;
        change.daemon.push(ms);
        change.reconcile.push(audit.data.durationMs);
        change.raw.push(raw.wgset);
      }
      log(
        `one-peer endpoint change: daemon median ${fmt(summarize(change.daemon).median)} ms, raw wg set ${fmt(summarize(change.raw).median)} ms`,
      );
      for (let r = 0; r <= CHANGE_RUNS; r++) {
        const raw = await worker.cmd({ op: 'add', peer: rawPeer(extra) });
        v = await pub.publish([self, ...peers, extra]);
        const ms = await timedReload(daemon, v);
        const audit = await lastAudit(a, PROTOCOL, 'apply');
        if (audit?.data?.peersUpserted !== 1 || audit?.data?.routesAdded !== 2)
          throw new Error(`peer add: unexpected plan ${JSON.stringify(audit?.data)}`);
        v = await pub.publish([self, ...peers]);
        await timedReload(daemon, v);
        if (r === 0) continue;
        add.daemon.push(ms);
        add.reconcile.push(audit.data.durationMs);
        add.rawWg.push(raw.wgset);
        add.rawRoutes.push(raw.routes);
        add.rawTotal.push(raw.wgset + raw.routes);
      }
      log(
        `one-peer add: daemon median ${fmt(summarize(add.daemon).median)} ms, raw wg set + ip -batch ${fmt(summarize(add.rawTotal).median)} ms`,
      );
      // The same one-peer endpoint change, shipped as a signed delta (netmap.deltaFile).
      for (let r = 0; r <= CHANGE_RUNS; r++) {
        const port = 51821 + (r % 2);
        const raw = await worker.cmd({ op: 'change', port });
        p0.endpoints = [{ host: p0.endpoints[0].host, port }];
        v = await pub.publishDelta([self, ...peers]);
        const ms = await timedReload(daemon, v);
        const audit = await lastAudit(a, PROTOCOL, 'apply');
        const accepted = await lastAudit(a, PROTOCOL, 'netmap.accepted');
        if (audit?.data?.peersUpserted !== 1) throw new Error(`delta change upserted ${audit?.data?.peersUpserted} peers, want 1`);
        if (accepted?.data?.origin !== 'delta') throw new Error(`version ${v} was not applied from the delta (${accepted?.data?.origin})`);
        if (r === 0) continue;
        delta.daemon.push(ms);
        delta.reconcile.push(audit.data.durationMs);
        delta.raw.push(raw.wgset);
      }
      log(
        `one-peer change by delta: daemon median ${fmt(summarize(delta.daemon).median)} ms, raw wg set ${fmt(summarize(delta.raw).median)} ms`,
      );
    }

    const rssFinal = memoryOf(daemon.pid);
    const wgGoPid = findPids(['wireguard-go', a.ifname])[0];
    const wgGoMem = wgGoPid ? memoryOf(wgGoPid) : null;
    const metrics = await daemon.api.metrics().catch(() => '');
    const applyHist = /rustynet_apply_duration_seconds_count\s+(\d+)/.exec(metrics)?.[1];
    Object.assign(results, {
      full,
      change,
      add,
      delta,
      memory: {
        daemonIdleRssKiB: rssIdle?.rssKiB,
        daemonRssAfterApplyKiB: summarize(full.rss),
        daemonRssFinalKiB: rssFinal?.rssKiB,
        daemonPeakRssKiB: rssFinal?.hwmKiB,
        wireguardGoRssKiB: wgGoMem?.rssKiB ?? null,
      },
      applyCountFromMetrics: applyHist ? Number(applyHist) : null,
      rawWireguardGoPid: setup.wireguardGoPid,
    });
    await daemon.stop();
    daemon = undefined;
    // What the daemon logged during the measured phase (log volume is part of the apply cost).
    await summarizeDaemonLog(a.logFile, results);

    if (cfg.profile) results.profile = await profileApplies(cfg, { mesh, a, pub, self, peers });
  } finally {
    if (daemon) await daemon.stop().catch(() => undefined);
    if (worker) await worker.stop();
    await mesh.destroy();
    await rawNet.destroy();
    rmSync(`/var/run/wireguard/${rawIf}.sock`, { force: true });
  }
}

/**
 * Counts the daemon's JSON log lines by message (top 8 into `results.logLines`) and records the
 * largest `applied route change` add count as `results.maxRoutesAdded`.
 */
async function summarizeDaemonLog(logFile, results) {
  const logText = await readFile(logFile, 'utf8').catch(() => '');
  const byMsg = new Map();
  for (const l of logText.split('\n')) {
    if (!l) continue;
    try {
      const r = JSON.parse(l);
      const k = `${r.level >= 40 ? 'WARN ' : ''}${r.msg}`;
      byMsg.set(k, (byMsg.get(k) ?? 0) + 1);
      // routes a full apply installs: 2000 host routes, or a few covering routes (routesByAllowedIps)
      if (r.msg === 'applied route change' && typeof r.added === 'number')
        results.maxRoutesAdded = Math.max(results.maxRoutesAdded ?? 0, r.added);
    } catch {
      /* not JSON */
    }
  }
  results.logLines = [...byMsg.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 8)
    .map(([msg, count]) => ({ msg, count }));
}
