/**
 * `rustynet status`, `rustynet up`, `rustynet down`: the node's state over the local API.
 */
import type { Command } from 'commander';
import type { DaemonStatus } from '../api-client.js';
import { formatAge, formatBytes, table } from '../format.js';
import { ExitStatus } from '../errors.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';

interface ApiOpts {
  socket?: string;
  json?: boolean;
}

/** Human rendering of a status document (header lines + peer table). */
export function renderStatus(s: DaemonStatus, now: number = Date.now()): string {
  const lines: string[] = [];
  lines.push(`node ${s.node}: ${s.state}`);
  if (s.addresses !== undefined) lines.push(`addresses ${s.addresses.length > 0 ? s.addresses.join(', ') : '- (no netmap applied)'}`);
  if (s.backend) {
    const ifs = s.backend.interfaces?.length ? s.backend.interfaces.join(',') : '-';
    lines.push(
      `backend ${s.backend.name} ${s.backend.version} (API ${s.backend.apiVersion}), interfaces ${ifs}, listen port ${s.backend.listenPort ?? '-'}`,
    );
  }
  if (s.netmap) {
    lines.push(
      `netmap version ${s.netmap.version}, applied ${formatAge(s.netmap.appliedAt, now)}, expires ${formatAge(s.netmap.expiresAt, now)} (${s.netmap.expiresAt})`,
    );
    if (s.netmap.expired) lines.push('netmap EXPIRED: failed closed (tunnel removed) until a fresh netmap arrives');
  } else {
    lines.push('netmap none applied');
  }
  const dp = s.dataPlane;
  if (dp && (dp.state !== 'ok' || dp.restores.ok + dp.restores.failed > 0)) {
    const why = dp.reason ? `: ${dp.reason.code} ${formatAge(dp.reason.at, now)}: ${dp.reason.message}` : '';
    lines.push(`data plane ${dp.state}${why} (restores: ${dp.restores.ok} ok, ${dp.restores.failed} failed)`);
  }
  const ex = s.exit;
  if (ex) {
    if (ex.serving) lines.push('exit node: serving (forwarding and NAT for the peers)');
    if (ex.node !== null) {
      const ks = ex.killSwitch === 'blocking' ? 'BLOCKING (exit unreachable: traffic dropped, not leaked)' : ex.killSwitch;
      lines.push(
        `exit via ${ex.node}: kill switch ${ks}, LAN access ${ex.lanAccess ? 'on' : 'off'}, handshake ${formatAge(ex.lastHandshakeAt, now)}`,
      );
    }
  }
  if (s.audit && !s.audit.ok) {
    const where = s.audit.brokenAt !== undefined ? ` at record ${s.audit.brokenAt}` : '';
    lines.push(
      `audit log FAILED its start-up check ${formatAge(s.audit.checkedAt, now)}${where}: ${s.audit.reason ?? 'no reason given'} (broken log moved aside; see \`rustynet audit status\`)`,
    );
  }
  const refusal = s.control?.refusal;
  if (refusal) {
    const what = { 'node-key-expired': 'node key EXPIRED', 'node-expired': 'node EXPIRED by an admin', 'node-removed': 'node REMOVED' }[
      refusal.reason
    ];
    lines.push(`control plane refuses this node (${refusal.reason}) ${formatAge(refusal.since, now)}: ${what}: ${refusal.message}`);
    lines.push(`  what to do: ${refusal.action}`);
  }
  if (s.lastRejection) {
    lines.push(`last rejected netmap: ${s.lastRejection.code} ${formatAge(s.lastRejection.at, now)}: ${s.lastRejection.message}`);
  }
  let out = lines.join('\n') + '\n';
  const peers = s.peers ?? [];
  if (peers.length === 0) return out + '\nno peers\n';
  out += '\n';
  out += table(
    ['PEER', 'ENDPOINT', 'PATH', 'HANDSHAKE', 'RX', 'TX', 'ALLOWED IPS'],
    peers.map((p) => [
      p.id,
      p.endpoint ?? '-',
      p.path,
      formatAge(p.lastHandshakeAt, now),
      formatBytes(p.rxBytes),
      formatBytes(p.txBytes),
      (p.allowedIps ?? []).join(','),
    ]),
  );
  return out;
}

function stateOf(body: unknown): string | undefined {
  if (body && typeof body === 'object' && typeof (body as { state?: unknown }).state === 'string') {
    return (body as { state: string }).state;
  }
  return undefined;
}

/** `rustynet status` exit status when the daemon answered but the node is not `up`. */
export const EXIT_NOT_UP = 3;

/** Registers `status`, `up` and `down`. */
export function register(program: Command): void {
  const status = program.command('status').description("show this node's state, netmap and peers (from rustynetd's local API)");
  addSocketOption(addJsonOption(status));
  status.addHelpText(
    'after',
    `
Status exit codes (for scripts and health checks):
  0  the node is up (tunnel running with an applied netmap)
  1  rustynetd did not answer (not running, wrong --socket, no permission)
  3  rustynetd answered but the node is not up (down, starting, expired or failed); the status
     is printed as usual`,
  );
  addExamples(status, [
    'rustynet status',
    'rustynet status --json | jq .peers',
    'RUSTYNET_SOCKET=/run/rustynet/a.sock rustynet status',
    'rustynet status >/dev/null || echo "node not up"',
  ]);
  status.action(async (opts: ApiOpts) => {
    const s = await apiClient(opts).status();
    if (opts.json) printJson(s);
    else io().out(renderStatus(s));
    if (s.state !== 'up') throw new ExitStatus(EXIT_NOT_UP);
  });

  const up = program.command('up').description('bring the mesh up: create the tunnel and apply the current netmap');
  addSocketOption(addJsonOption(up));
  addExamples(up, ['rustynet up', 'rustynet up --socket /run/rustynet/a.sock']);
  up.action(async (opts: ApiOpts) => {
    const body = await apiClient(opts).up();
    if (opts.json) printJson(body ?? { ok: true });
    else io().out(`rustynet: up${stateOf(body) ? ` (state ${stateOf(body)})` : ''}\n`);
  });

  const down = program.command('down').description('take the mesh down: remove peers and the tunnel; the daemon keeps running');
  addSocketOption(addJsonOption(down));
  addExamples(down, ['rustynet down', 'rustynet down --json']);
  down.action(async (opts: ApiOpts) => {
    const body = await apiClient(opts).down();
    if (opts.json) printJson(body ?? { ok: true });
    else io().out(`rustynet: down${stateOf(body) ? ` (state ${stateOf(body)})` : ''}\n`);
  });
}
