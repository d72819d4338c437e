/**
 * Builds `wg set` argument lists (wg(8), wireguard-tools). Syntax used:
 *   wg set <interface> [listen-port <port>] [private-key <file path>]
 *          [peer <base64 public key> [remove] [endpoint <ip>:<port>]
 *           [persistent-keepalive <seconds>|off] [allowed-ips <ip>/<cidr>[,...]] ]...
 * `allowed-ips` replaces the peer's whole list. Private keys are passed only as file paths.
 */
import { formatEndpoint, type PeerConfig } from '@rustynet/plugin-api';
import type { PeerPlan } from './validate.js';

/**
 * Largest argument list (sum of argument bytes) put on one `wg` command line. Linux allows
 * about 2 MiB for argv plus environment; staying well below leaves room for the environment.
 * A 1000-peer batch needs about 150 KiB, so it is always one process.
 */
export const MAX_ARGV_BYTES = 512 * 1024;

/** The `wg set` arguments for one peer's full config (after `set <if>`). */
export function peerArgs(p: PeerConfig): string[] {
  const args = ['peer', p.publicKey];
  if (p.endpoint) args.push('endpoint', formatEndpoint(p.endpoint));
  args.push('persistent-keepalive', p.persistentKeepalive ? String(p.persistentKeepalive) : 'off');
  args.push('allowed-ips', p.allowedIps.join(','));
  return args;
}

/** The `wg set` arguments that remove the peer with `publicKey`. */
export function removeArgs(publicKey: string): string[] {
  return ['peer', publicKey, 'remove'];
}

/**
 * Turns a validated batch into peer clauses, removals first. A peer whose key changed is removed
 * under its old key. A peer that had an endpoint and now has none is removed and added again,
 * because `wg` cannot clear an endpoint.
 * @returns one clause (argument group) per peer operation, in order.
 */
export function planClauses(plan: PeerPlan): string[][] {
  const removes: string[][] = plan.removals.map((r) => removeArgs(r.publicKey));
  const upserts: string[][] = [];
  for (const { config, previous } of plan.upserts) {
    if (previous && (previous.publicKey !== config.publicKey || (previous.endpoint && !config.endpoint))) {
      removes.push(removeArgs(previous.publicKey));
    }
    upserts.push(peerArgs(config));
  }
  return [...removes, ...upserts];
}

/**
 * Clauses that undo `plan` (best effort after a failed apply): drop every key the plan added,
 * then restore every peer it removed or replaced.
 */
export function rollbackClauses(plan: PeerPlan): string[][] {
  const removes: string[][] = plan.upserts.map((u) => removeArgs(u.config.publicKey));
  const restores: string[][] = [];
  for (const r of plan.removals) restores.push(peerArgs(r));
  for (const u of plan.upserts) if (u.previous) restores.push(peerArgs(u.previous));
  return [...removes, ...restores];
}

/**
 * Packs clauses into as few `wg set <if> ...` argument lists as fit {@link MAX_ARGV_BYTES}
 * each; one list in every realistic case (up to several thousand peers).
 */
export function packWgSet(interfaceName: string, clauses: string[][], maxBytes = MAX_ARGV_BYTES): string[][] {
  const head = ['set', interfaceName];
  const size = (args: string[]): number => args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  const out: string[][] = [];
  let cur = [...head];
  let curSize = size(cur);
  for (const clause of clauses) {
    const s = size(clause);
    if (cur.length > head.length && curSize + s > maxBytes) {
      out.push(cur);
      cur = [...head];
      curSize = size(cur);
    }
    cur.push(...clause);
    curSize += s;
  }
  if (cur.length > head.length) out.push(cur);
  return out;
}
