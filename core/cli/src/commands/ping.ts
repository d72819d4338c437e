/**
 * `rustynet ping <peer>`: round trips to a peer and the path they took (direct or relay), through
 * the daemon's path prober, in the manner of `tailscale ping`.
 */
import type { Command } from 'commander';
import { RustynetError } from '@rustynet/plugin-api';
import type { PingResult } from '../api-client.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';
import { intOption } from '../diag/options.js';

interface PingOpts {
  socket?: string;
  json?: boolean;
  count: number;
  timeout: number;
  interval: number;
}

/** The summary `rustynet ping --json` prints. */
export interface PingSummary {
  peer: string;
  sent: number;
  received: number;
  minRttMs: number | null;
  avgRttMs: number | null;
  maxRttMs: number | null;
  replies: PingResult[];
}

/** One human line per ping, as `tailscale ping` prints them. */
export function renderPing(r: PingResult, timeoutMs: number): string {
  const who = `${r.name}${r.address ? ` (${r.address})` : ''}`;
  if (!r.reply) return `no reply from ${who} within ${timeoutMs} ms${r.note ? `: ${r.note}` : ''}\n`;
  const note = r.path === 'relay' && r.note ? ` (direct: ${r.note})` : '';
  return `pong from ${who} via ${r.via ?? '-'} (${r.path ?? '?'}) in ${formatRtt(r.rttMs)}${note}\n`;
}

function formatRtt(ms: number | undefined): string {
  return ms === undefined ? '-' : `${Number.isInteger(ms) ? ms : ms.toFixed(2)}ms`;
}

/** Summary of a run. */
export function summarise(peer: string, replies: PingResult[]): PingSummary {
  const rtts = replies.flatMap((r) => (r.reply && r.rttMs !== undefined ? [r.rttMs] : []));
  const avg = rtts.length ? Math.round((rtts.reduce((a, b) => a + b, 0) / rtts.length) * 100) / 100 : null;
  return {
    peer,
    sent: replies.length,
    received: rtts.length,
    minRttMs: rtts.length ? Math.min(...rtts) : null,
    avgRttMs: avg,
    maxRttMs: rtts.length ? Math.max(...rtts) : null,
    replies,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Registers `ping`. */
export function register(program: Command): void {
  const cmd = program
    .command('ping')
    .description('ping a peer through the path prober and show the path (direct or relay) and round trip')
    .argument('<peer>', 'node id, name, overlay IP or key of the peer')
    .option('-c, --count <n>', 'number of pings (1..1000)', intOption('--count', 1, 1000), 4)
    .option('--timeout <ms>', 'time-out of each ping, ms (1..30000)', intOption('--timeout', 1, 30_000), 2_000)
    .option('--interval <ms>', 'pause between pings, ms (0..60000)', intOption('--interval', 0, 60_000), 1_000);
  addSocketOption(addJsonOption(cmd));
  addExamples(cmd, ['rustynet ping b', 'rustynet ping 100.64.0.2 -c 1 --timeout 500', 'rustynet ping b --json | jq .replies[0].path']);
  cmd.addHelpText('after', '\nExits 1 with PEER_UNREACHABLE when no ping was answered.');
  cmd.action(async (peer: string, opts: PingOpts) => {
    const client = apiClient({ ...(opts.socket !== undefined && { socket: opts.socket }) }); // --timeout is per probe, not the API call
    const replies: PingResult[] = [];
    for (let i = 0; i < opts.count; i++) {
      if (i > 0 && opts.interval > 0) await sleep(opts.interval);
      const r = await client.ping(peer, opts.timeout);
      replies.push(r);
      if (!opts.json) io().out(renderPing(r, opts.timeout));
    }
    const summary = summarise(replies[0]?.peer ?? peer, replies);
    if (opts.json) printJson(summary);
    else {
      io().out(
        `--- ${summary.peer}: ${summary.sent} sent, ${summary.received} received` +
          (summary.received ? `, rtt min/avg/max ${summary.minRttMs}/${summary.avgRttMs}/${summary.maxRttMs} ms` : '') +
          ' ---\n',
      );
    }
    if (summary.received === 0) {
      throw new RustynetError('PEER_UNREACHABLE', `no reply from ${summary.peer} to ${summary.sent} ping(s)`, {
        details: { peer: summary.peer },
      });
    }
  });
}
