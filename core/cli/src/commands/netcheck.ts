/**
 * `rustynet netcheck`: what the underlay lets through, in the manner of `tailscale netcheck`:
 * each relay's reachability and round trip (relay HELLO/CHALLENGE), each peer endpoint's (the
 * path prober's signed PING/PONG, sent by the daemon), whether UDP gets out at all, and the
 * nearest relay.
 */
import type { Command } from 'commander';
import { formatEndpoint } from '@rustynet/plugin-api';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';
import { intOption } from '../diag/options.js';
import { loadRelayProtocol, probeRelay } from '../diag/relay-probe.js';

interface NetcheckOpts {
  socket?: string;
  json?: boolean;
  timeout: number;
}

/** The report `rustynet netcheck --json` prints. */
export interface NetcheckReport {
  node: string;
  /** True when any relay or peer endpoint answered over UDP; false when none did; null: nothing to probe. */
  udp: boolean | null;
  nearestRelay: { id: string; rttMs: number } | null;
  relays: Array<{ id: string; endpoint: string; reachable: boolean; rttMs?: number; sent: number; received: number }>;
  peers: Array<{ peer: string; endpoint: string | null; reachable: boolean | null; rttMs?: number; note?: string }>;
}

const TRIES = 3;

/** Human rendering of a report. */
export function renderNetcheck(r: NetcheckReport): string {
  const lines = ['Report:', `  * UDP: ${r.udp === null ? 'unknown (no relay or peer to probe)' : r.udp}`];
  lines.push(`  * Nearest relay: ${r.nearestRelay ? `${r.nearestRelay.id} (${r.nearestRelay.rttMs}ms)` : '-'}`);
  lines.push('  * Relay latency:');
  if (r.relays.length === 0) lines.push('      (no relays in the netmap)');
  for (const x of r.relays) lines.push(`      - ${x.id} ${x.endpoint}: ${x.reachable ? `${x.rttMs}ms` : `no reply (${x.sent} tries)`}`);
  lines.push('  * Peer endpoints (direct probe):');
  if (r.peers.length === 0) lines.push('      (no peers)');
  for (const p of r.peers) {
    const state =
      p.reachable === null ? `not probed: ${p.note ?? ''}` : p.reachable ? `${p.rttMs}ms` : `no reply${p.note ? `: ${p.note}` : ''}`;
    lines.push(`      - ${p.peer} ${p.endpoint ?? '-'}: ${state}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Registers `netcheck`. */
export function register(program: Command): void {
  const cmd = program
    .command('netcheck')
    .description('check the underlay: reachability and latency of each relay and peer endpoint, whether UDP is blocked')
    .option('--timeout <ms>', 'time-out of each probe, ms (1..30000)', intOption('--timeout', 1, 30_000), 1_000);
  addSocketOption(addJsonOption(cmd));
  addExamples(cmd, ['rustynet netcheck', 'rustynet netcheck --json | jq .udp']);
  cmd.addHelpText('after', '\nRun it on the node (same network namespace as rustynetd): relays are probed from this process.');
  cmd.action(async (opts: NetcheckOpts) => {
    const client = apiClient({ ...(opts.socket !== undefined && { socket: opts.socket }) }); // --timeout is per probe, not the API call
    const report = await client.netmap();
    const nm = report.netmap;
    const relays = nm?.relays ?? [];
    const proto = relays.length ? await loadRelayProtocol() : undefined;
    const relayResults = proto
      ? await Promise.all(
          relays.map(async (r) => ({
            id: r.id,
            endpoint: formatEndpoint(r.endpoint),
            ...(await probeRelay(proto, r.endpoint, TRIES, opts.timeout)),
          })),
        )
      : [];
    const others = (nm?.nodes ?? []).filter((n) => n.id !== report.node);
    const peers = await Promise.all(
      others.map(async (n): Promise<NetcheckReport['peers'][number]> => {
        const host = n.endpoints[0]?.host;
        if (n.probePort === undefined || host === undefined) {
          return { peer: n.id, endpoint: null, reachable: null, note: host === undefined ? 'no endpoint' : 'no probePort' };
        }
        const endpoint = formatEndpoint({ host, port: n.probePort });
        let last: Awaited<ReturnType<typeof client.ping>> | undefined;
        for (let i = 0; i < TRIES; i++) {
          last = await client.ping(n.id, opts.timeout, { directOnly: true });
          if (last.reply) return { peer: n.id, endpoint, reachable: true, ...(last.rttMs !== undefined && { rttMs: last.rttMs }) };
          if (!last.via) break; // not probed at all (no pathProbe on this node)
        }
        return { peer: n.id, endpoint, reachable: last?.via ? false : null, ...(last?.note !== undefined && { note: last.note }) };
      }),
    );
    const answered = [...relayResults.map((r) => r.reachable), ...peers.filter((p) => p.reachable !== null).map((p) => p.reachable)];
    const timed = relayResults.flatMap((r) => (r.rttMs !== undefined ? [{ id: r.id, rttMs: r.rttMs }] : []));
    const nearest = timed.sort((a, b) => a.rttMs - b.rttMs)[0];
    const out: NetcheckReport = {
      node: report.node,
      udp: answered.length === 0 ? null : answered.some(Boolean),
      nearestRelay: nearest ?? null,
      relays: relayResults,
      peers,
    };
    if (opts.json) printJson(out);
    else io().out(renderNetcheck(out));
  });
}
