/**
 * Routes into the tunnel, applied with one `ip -force -batch -` per change (ip(8): commands read
 * from stdin, one per line; `-force` runs every line and reports failed ones as
 * `Command failed -:<line>`). Each route is `<prefix> dev <interface>` in the main table of the
 * network namespace the daemon runs in; WireGuard's allowed IPs then pick the peer.
 */
import type { ValidRoute } from './validate.js';

/** One line of an `ip -batch` script and what it does. */
export interface RouteOp {
  op: 'del' | 'replace';
  route: ValidRoute;
  line: string;
}

/**
 * Computes the `ip` batch for a change: removals first (only of routes this backend installed
 * and that are not added again), then `route replace` for each addition (idempotent).
 * @param installed routes this backend installed, by `ParsedCidr.key`.
 */
export function routeOps(
  interfaceName: string,
  add: ValidRoute[],
  remove: ValidRoute[],
  installed: ReadonlyMap<string, ValidRoute>,
): RouteOp[] {
  const adding = new Set(add.map((r) => r.parsed.key));
  const ops: RouteOp[] = [];
  const removing = new Set<string>();
  for (const r of remove) {
    const key = r.parsed.key;
    if (adding.has(key) || removing.has(key) || !installed.has(key)) continue;
    removing.add(key);
    ops.push({ op: 'del', route: r, line: `route del ${r.destination} dev ${interfaceName}` });
  }
  for (const r of add) ops.push({ op: 'replace', route: r, line: `route replace ${r.destination} dev ${interfaceName}` });
  return ops;
}

/** The stdin script of `ip -batch -` for `ops`. */
export function batchScript(ops: RouteOp[]): string {
  return ops.map((o) => `${o.line}\n`).join('');
}

/**
 * Line numbers (1-based) that `ip -force -batch -` reported as failed (`Command failed -:<n>`).
 */
export function failedBatchLines(stderr: string): number[] {
  const out: number[] = [];
  for (const m of stderr.matchAll(/Command failed -:(\d+)/g)) out.push(Number(m[1]));
  return out;
}

/**
 * `ip -4|-6 -batch` lines for a default route (`0.0.0.0/0` or `::/0`, an exit node) through the
 * tunnel, done with policy routing as wg-quick(8) does, so the tunnel's own UDP packets (marked
 * with `fwmark <table>` by `wg set <if> fwmark <table>`) still leave by the main table:
 * - `route replace default dev <if> table <table>`
 * - `rule add not fwmark <table> table <table>`: unmarked traffic uses that table;
 * - `rule add table main suppress_prefixlength 0`: ...except where the main table has a more
 *   specific route than a default (LAN, underlay, overlay host routes). Added last, so it gets
 *   the smaller priority number and is tried first.
 * Removal runs the reverse. The rules survive a link deletion, so `stop` removes them explicitly.
 */
export function exitRouteLines(interfaceName: string, table: number, op: 'add' | 'del'): string[] {
  if (op === 'add') {
    return [
      `route replace default dev ${interfaceName} table ${table}`,
      `rule add not fwmark ${table} table ${table}`,
      `rule add table main suppress_prefixlength 0`,
    ];
  }
  return [
    `rule del table main suppress_prefixlength 0`,
    `rule del not fwmark ${table} table ${table}`,
    `route del default dev ${interfaceName} table ${table}`,
  ];
}
