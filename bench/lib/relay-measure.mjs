// Measuring helpers of bench/relay-throughput.mjs: the relay host's link counters, machine-wide
// kernel CPU (/proc/stat), the processes whose CPU is sampled, one iperf3 run with both sampled
// around it, and the a <-> b paths the daemons report.
import { readFile } from 'node:fs/promises';
import { meshProcessPids, runIperf3 } from './iperf-bench.mjs';
import { commOf, findPids } from './proc.mjs';

/** rx/tx packets and bytes of `dev` in `host`'s namespace (ip -s -j link show). */
export async function linkStats(host, dev = 'eth0') {
  const r = await host.exec('ip', ['-s', '-j', 'link', 'show', 'dev', dev]);
  const s = JSON.parse(r.stdout)[0].stats64;
  return { rxPackets: s.rx.packets, rxBytes: s.rx.bytes, txPackets: s.tx.packets, txBytes: s.tx.bytes };
}

/** Machine-wide CPU jiffies from /proc/stat: system + softirq (kernel forwarding runs there), and all busy time. */
async function procStat() {
  const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return { kernel: f[2] + f[5] + f[6], busy: f[0] + f[1] + f[2] + f[5] + f[6] + f[7] };
}

/** The processes whose CPU is read during each run: name -> pid (the relay server first). */
export function watchedPids(m) {
  const relay = findPids(['relay', 'serve', m.relayNetmapFile]).filter((p) => commOf(p) === 'node');
  if (relay.length !== 1) throw new Error(`relay server process not found (${relay.length} candidates)`);
  return { 'relay server': relay[0], ...meshProcessPids(m) };
}

/**
 * One iperf3 TCP run (bench/lib/iperf-bench.mjs) of `seconds` on `port` while CPU time of `pids`
 * and the relay host's eth0 counters (plus /proc/stat, as `cpu_kernel`/`cpu_busy`) are sampled
 * before and after.
 * @returns { gbps, retransmits, wallS, cpu: {name: {seconds, share}}, relayLink: {...} }
 */
export async function relayIperf(server, client, addr, pids, relayHost, { port, seconds }) {
  const r = await runIperf3({
    server,
    client,
    addr,
    port,
    seconds,
    pids,
    around: {
      sample: async () => ({
        ...(await linkStats(relayHost)),
        ...Object.fromEntries(Object.entries(await procStat()).map(([k, v]) => [`cpu_${k}`, v])),
      }),
      diff: (l0, l1) => Object.fromEntries(Object.keys(l1).map((k) => [k, l1[k] - l0[k]])),
    },
  });
  const { extra, ...rest } = r;
  return { ...rest, relayLink: extra };
}

/** The path (`direct`, `relay`, ...) each of a and b reports for the other. */
export async function pathsOf(m) {
  const out = {};
  for (const [x, y] of [
    ['a', 'b'],
    ['b', 'a'],
  ])
    out[`${x}->${y}`] = (await m.status(x)).peers.find((p) => p.id === y)?.path ?? 'missing';
  return out;
}
