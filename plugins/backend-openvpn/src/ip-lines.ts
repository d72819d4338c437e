/**
 * The `ip` command lines and instance configs of the OpenVPN backend: pure functions of the
 * running state, so the batches they form are easy to test and read.
 */
import { join } from 'node:path';
import type { InstanceConfig } from './config.js';
import type { OpenVpnOptions } from './options.js';
import { localPort, sendPort, tlsRole } from './rules.js';
import type { Running } from './running.js';
import type { ValidPeer } from './validate.js';

/** The openvpn config of peer `p` on `device`. */
export function instanceConfig(opts: OpenVpnOptions, run: Running, p: ValidPeer, device: string): InstanceConfig {
  const { v } = run;
  const span = opts.portSpan;
  const keepalive = p.config.persistentKeepalive;
  const pingS = keepalive && keepalive > 0 ? keepalive : opts.pingIntervalS;
  return {
    device,
    role: tlsRole(v.nodeId, p.config.id),
    localPort: localPort(v.basePort, p.overlayV4Value, span),
    ...(p.config.endpoint ? { remote: { host: p.config.endpoint.host, port: sendPort(p.config.endpoint, v.localV4Value, span) } } : {}),
    certFile: run.keys.certFile,
    keyFile: run.keys.keyFile,
    peerFingerprint: p.config.publicKey,
    localV4: v.localV4,
    peerV4: p.overlayV4,
    mtu: v.mtu,
    pingS,
    pingRestartS: Math.max(opts.pingRestartS, pingS * 2),
    handWindowS: opts.handWindowS,
    mark: opts.exitTable,
    dataCiphers: opts.dataCiphers,
    managementSocket: join(run.socketDir, `${device}.sock`),
    verb: opts.verb,
  };
}

/** `ip` lines that create a device with its addresses and the routes to the peer's overlay addresses. */
export function deviceLines(run: Running, p: ValidPeer, device: string): string[] {
  return [`tuntap add dev ${device} mode tun`, `link set dev ${device} mtu ${run.v.mtu} addrgenmode none`, ...addressLines(run, p, device)];
}

/** `ip` lines that put this node's addresses on `device` and route the peer's overlay addresses to it. */
export function addressLines(run: Running, p: ValidPeer, device: string): string[] {
  const lines = [
    `addr add ${run.v.localV4}/32 dev ${device}`,
    `link set dev ${device} up`,
    `route replace ${p.overlayV4}/32 dev ${device}`,
  ];
  if (run.v.localV6) lines.push(`addr add ${run.v.localV6}/128 dev ${device} nodad`);
  if (p.overlayV6) lines.push(`route replace ${p.overlayV6}/128 dev ${device}`);
  return lines;
}

/** One route line; exit (default) routes go to the exit table. */
export function routeLine(opts: OpenVpnOptions, op: 'replace' | 'del', dest: string, device: string, exit: boolean): string {
  return `route ${op} ${dest} dev ${device}${exit ? ` table ${opts.exitTable}` : ''}`;
}

/** The `route replace` lines of every tracked route via `peerId`. */
export function routeLinesFor(opts: OpenVpnOptions, run: Running, peerId: string, device: string): string[] {
  return [...run.routes].filter(([, r]) => r.peer === peerId).map(([dest, r]) => routeLine(opts, 'replace', dest, device, r.exit));
}

/**
 * Policy rules for exit routes (as wg-quick does it): packets without the instances' fwmark
 * consult the exit table, after the main table minus its default routes
 * (`suppress_prefixlength 0`), so overlay, LAN and underlay routes still win.
 */
export function exitRuleLines(opts: OpenVpnOptions, op: 'add' | 'del'): string[] {
  const t = opts.exitTable;
  return [`rule ${op} table main suppress_prefixlength 0 pref ${t}`, `rule ${op} not fwmark ${t} table ${t} pref ${t + 1}`];
}
