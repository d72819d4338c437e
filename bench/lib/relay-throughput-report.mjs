// The summary of bench/relay-throughput.mjs: medians, ratios (fast/direct target >= 0.8x), the
// relay's CPU cost per Gbit and per datagram, CPU shares, added to the `--json` object, and the
// text report.
import { CLK_TCK, median } from './iperf-bench.mjs';
import { fmt, ratio } from './stats.mjs';
import { renderTable } from './table.mjs';
import { machineLine } from './machine.mjs';

const costOf = (r) => {
  const c = r.cpu['relay server']?.seconds ?? NaN;
  const gbitForwarded = (r.relayLink.txBytes * 8) / 1e9;
  return {
    cpuShare: r.cpu['relay server']?.share ?? NaN,
    cpuSecondsPerGbit: c / gbitForwarded,
    cpuMicrosPerDatagram: (c * 1e6) / r.relayLink.rxPackets,
    datagramsPerSecond: r.relayLink.rxPackets / r.wallS,
    avgDatagramBytes: r.relayLink.rxBytes / Math.max(1, r.relayLink.rxPackets),
    // Machine-wide kernel time (system + irq + softirq, all CPUs, every namespace): kernel forwarding
    // has no process to charge, so the fast path's cost shows here (compare with the direct runs).
    machineKernelCpuSeconds: r.relayLink.cpu_kernel / CLK_TCK,
    machineKernelCpuSecondsPerGbit: r.relayLink.cpu_kernel / CLK_TCK / (r.gbps * r.wallS),
    daemonCpuShare: (r.cpu['rustynetd a']?.share ?? NaN) + (r.cpu['rustynetd b']?.share ?? NaN),
  };
};
const COST_KEYS = [
  'cpuShare',
  'cpuSecondsPerGbit',
  'cpuMicrosPerDatagram',
  'datagramsPerSecond',
  'avgDatagramBytes',
  'machineKernelCpuSeconds',
  'machineKernelCpuSecondsPerGbit',
  'daemonCpuShare',
];
const costSummary = (out, kind) => {
  const runs = out.samples[kind].map(costOf);
  return { runs, median: Object.fromEntries(COST_KEYS.map((k) => [k, median(runs.map((x) => x[k]))])) };
};

/**
 * Adds medianGbps, the ratios, target, relayCost, fastCost, directCost and cpuShareMedian to
 * `out` (in that order) and returns the text report.
 * @param out the bench's result object (samples, switches, load, error)
 * @param ctx { name, seconds, rounds, machine, failed }
 * @returns {string}
 */
export function summarizeRelayThroughput(out, { name: NAME, seconds: SECONDS, rounds: ROUNDS, machine, failed }) {
  const med = Object.fromEntries(Object.entries(out.samples).map(([k, v]) => [k, median(v.map((x) => x.gbps))]));
  out.medianGbps = med;
  out.ratioRelayDirect = ratio(med.relay, med.direct);
  out.ratioFastDirect = ratio(med.fast, med.direct);
  out.ratioDirectUnderlay = ratio(med.direct, med.underlay);
  out.ratioTlsRelay = ratio(med.tls, med.relay);
  out.ratioTlsDirect = ratio(med.tls, med.direct);
  out.target = { ratioFastDirect: 0.8, met: out.ratioFastDirect >= 0.8 };
  out.relayCost = costSummary(out, 'relay');
  out.fastCost = costSummary(out, 'fast');
  out.directCost = costSummary(out, 'direct');
  const cpuMedian = (kind) => {
    const names = Object.keys(out.samples[kind][0]?.cpu ?? {});
    return Object.fromEntries(names.map((n) => [n, median(out.samples[kind].map((r) => r.cpu[n]?.share ?? NaN))]));
  };
  out.cpuShareMedian = { direct: cpuMedian('direct'), fast: cpuMedian('fast'), relay: cpuMedian('relay') };

  const rows = [['Path', 'Runs (Gbit/s)', 'Median Gbit/s', 'Retransmits (median)']];
  const label = {
    direct: 'WireGuard, direct path',
    fast: 'WireGuard, relay kernel fast path',
    relay: 'WireGuard, through the relay (UDP, userspace)',
    tls: 'WireGuard, through the relay (TLS carrier)',
    underlay: 'underlay (no tunnel)',
  };
  for (const k of ['direct', 'fast', 'relay', 'tls', 'underlay']) {
    const s = out.samples[k];
    rows.push([
      label[k],
      s.map((x) => fmt(x.gbps)).join(', ') || '-',
      fmt(med[k]),
      s.length ? String(median(s.map((x) => x.retransmits ?? NaN))) : '-',
    ]);
  }
  const cpuRows = [['Process (CPU share of one core, median)', 'direct', 'fast path', 'userspace relay']];
  for (const n of Object.keys(out.cpuShareMedian.relay)) {
    const pct = (v) => `${fmt((v ?? NaN) * 100)}%`;
    cpuRows.push([n, pct(out.cpuShareMedian.direct[n]), pct(out.cpuShareMedian.fast[n]), pct(out.cpuShareMedian.relay[n])]);
  }
  const rc = out.relayCost.median;
  const fc = out.fastCost.median;
  const dc = out.directCost.median;
  return [
    `${NAME}: iperf3 TCP b -> a, ${SECONDS} s x ${ROUNDS} rounds per path, alternating; real rustynetd + wireguard-go + rustynet relay serve`,
    machineLine(machine),
    `load average: ${out.load.start.toFixed(2)} at start, ${out.load.end.toFixed(2)} at end`,
    '',
    renderTable(rows),
    '',
    `ratio fast path / direct (medians): ${fmt(out.ratioFastDirect)}x   target >= 0.8x: ${Number.isNaN(out.ratioFastDirect) ? 'n/a' : out.target.met ? 'met' : 'MISSED'}`,
    `ratio userspace relay / direct (medians): ${fmt(out.ratioRelayDirect)}x`,
    `direct tunnel / underlay: ${fmt(out.ratioDirectUnderlay)}x`,
    `TLS carrier / UDP relay: ${fmt(out.ratioTlsRelay)}x   TLS carrier / direct: ${fmt(out.ratioTlsDirect)}x`,
    '',
    renderTable(cpuRows),
    '',
    `fast path (medians): relay server process ${fmt(fc.cpuShare * 100)}% of one core, ${fmt(fc.cpuSecondsPerGbit)} CPU s per Gbit; ` +
      `machine-wide kernel CPU ${fmt(fc.machineKernelCpuSecondsPerGbit)} s per Gbit (direct: ${fmt(dc.machineKernelCpuSecondsPerGbit)}); both daemons ${fmt(fc.daemonCpuShare * 100)}% of one core`,
    `userspace relay: both daemons ${fmt(rc.daemonCpuShare * 100)}% of one core; machine-wide kernel CPU ${fmt(rc.machineKernelCpuSecondsPerGbit)} s per Gbit`,
    `relay server while relaying in userspace (medians): ${fmt(rc.datagramsPerSecond)} datagrams/s in (avg ${fmt(rc.avgDatagramBytes)} B on the wire), ` +
      `CPU ${fmt(rc.cpuShare * 100)}% of one core, ${fmt(rc.cpuMicrosPerDatagram)} us CPU per datagram, ${fmt(rc.cpuSecondsPerGbit)} CPU s per Gbit forwarded`,
    `path switches: ${out.switches.map((s) => `block->relay ${s.blockToRelayStatusMs} ms, unblock->direct ${s.unblockToDirectStatusMs} ms`).join('; ') || 'none'}`,
    ...(failed ? ['', `FAILED: ${out.error.split('\n')[0]}`] : []),
  ].join('\n');
}
