/**
 * The full-apply measurement shared by `daemon-wireguard.mjs` and `scale-curve.mjs`: `runs` + 1
 * rounds (the first a warm-up) of "raw worker applies every peer; the daemon's netmap is cleared
 * (not timed), then the full map is published and its reload timed". Checks the peer count and
 * the audit record of every apply. Times in ms, RSS in KiB.
 */
import { statSync } from 'node:fs';
import { fmt } from './stats.mjs';
import { memoryOf } from './proc.mjs';
import { lastAudit, timedReload, wgPeerCount } from './daemon.mjs';

/**
 * @param {object} o
 * @param {number} o.runs timed rounds after the warm-up
 * @param {object} o.self the node's own netmap entry
 * @param {object[]} o.peers the synthetic peers
 * @param {{ publish(nodes: object[]): Promise<number> }} o.pub the netmap publisher
 * @param {{ pid: number }} o.daemon the running daemon
 * @param {{ cmd(c: object, timeoutMs?: number): Promise<any> }} o.worker the raw-tool worker
 * @param {object} o.node the testbed node the daemon runs as
 * @param {string} o.protocol the audit protocol name
 * @param {number} [o.timeoutMs] the raw worker's per-command timeout
 * @param {(round: number, line: string) => void} o.log one progress line per round
 * @returns {Promise<{ daemon: number[], reconcile: number[], setconf: number[], wgset: number[], routes: number[],
 *   rawTotal: number[], rss: number[], first: number, netmapBytes: number }>}
 * @throws Error when the daemon applied another number of peers, or wrote no audit record.
 */
export async function measureFullApplies(o) {
  const s = { daemon: [], reconcile: [], setconf: [], wgset: [], routes: [], rawTotal: [], rss: [], first: NaN, netmapBytes: 0 };
  for (let r = 0; r <= o.runs; r++) {
    const raw = await o.worker.cmd({ op: 'full' }, o.timeoutMs);
    let v = await o.pub.publish([o.self]);
    await timedReload(o.daemon, v); // clear: every peer and route removed (not timed)
    if ((await wgPeerCount(o.node)) !== 0) throw new Error('daemon left peers after clearing');
    v = await o.pub.publish([o.self, ...o.peers]);
    s.netmapBytes = statSync(o.node.netmapFile).size;
    const ms = await timedReload(o.daemon, v);
    const audit = await lastAudit(o.node, o.protocol, 'apply');
    const count = await wgPeerCount(o.node);
    if (count !== o.peers.length) throw new Error(`daemon applied ${count} peers, want ${o.peers.length}`);
    if (audit?.data?.netmapVersion !== v) throw new Error(`no audit record for version ${v}`);
    const mem = memoryOf(o.daemon.pid);
    o.log(
      r,
      `daemon ${fmt(ms)} ms (reconcile ${fmt(audit.data.durationMs)} ms); raw setconf ${fmt(raw.setconf)} ms, wg set ${fmt(raw.wgset)} ms + ip -batch ${fmt(raw.routes)} ms; RSS ${fmt(mem.rssKiB / 1024)} MiB`,
    );
    if (r === 0) {
      s.first = ms;
      continue;
    }
    s.daemon.push(ms);
    s.reconcile.push(audit.data.durationMs);
    s.setconf.push(raw.setconf);
    s.wgset.push(raw.wgset);
    s.routes.push(raw.routes);
    s.rawTotal.push(raw.wgset + raw.routes);
    s.rss.push(mem.rssKiB);
  }
  return s;
}
