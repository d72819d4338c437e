/**
 * Applying a validated route change to the kernel: main-table routes with one
 * `ip -force -batch -`, exit-node (default) routes with policy routing (see {@link exitRouteLines}).
 */
import { RustynetError } from '@rustynet/plugin-api';
import type { CallScope } from '@rustynet/plugin-kit';
import { batchScript, exitRouteLines, failedBatchLines, routeOps } from './routes.js';
import type { BackendDeps, RunningState } from './running-state.js';
import type { ValidRoute } from './validate.js';

/** A route change as `validateRouteChange` returns it. */
export interface ValidRouteChange {
  add: ValidRoute[];
  remove: ValidRoute[];
}

/** True for a default route (`0.0.0.0/0`, `::/0`), which goes through policy routing. */
function isExit(r: ValidRoute): boolean {
  return r.parsed.prefixLength === 0;
}

/**
 * Applies `v` (removals first) and records the result in `st`.
 * @returns how many routes were removed (for the log).
 * @throws RustynetError `BACKEND_FAILED`, `TIMEOUT`, `ABORTED`; additions that did succeed are undone.
 */
export async function applyRouteChange(deps: BackendDeps, st: RunningState, v: ValidRouteChange, scope: CallScope): Promise<number> {
  const exitAdd = v.add.filter(isExit);
  const exitRemove = v.remove.filter(
    (r) => isExit(r) && st.exitRoutes.has(r.parsed.family) && !exitAdd.some((a) => a.parsed.family === r.parsed.family),
  );
  for (const r of exitRemove) await exitRoute(deps, st, r, 'del', scope);
  const ops = routeOps(
    st.config.interfaceName,
    v.add.filter((r) => !isExit(r)),
    v.remove.filter((r) => !isExit(r)),
    st.routes,
  );
  if (ops.length > 0) await mainTableRoutes(deps, st, ops, scope);
  for (const r of exitAdd) await exitRoute(deps, st, r, 'add', scope);
  return ops.filter((o) => o.op === 'del').length + exitRemove.length;
}

/** Adds or removes an exit-node (default) route with policy routing (see {@link exitRouteLines}). */
async function exitRoute(deps: BackendDeps, st: RunningState, route: ValidRoute, op: 'add' | 'del', scope: CallScope): Promise<void> {
  const { tools, logger } = deps;
  const family = route.parsed.family;
  const ifname = st.config.interfaceName;
  const table = deps.options.exitNodeTable;
  if (op === 'add' && st.exitRoutes.has(family)) {
    st.exitRoutes.set(family, route);
    return;
  }
  if (op === 'add' && !st.fwmarkSet) {
    await tools.wg(['set', ifname, 'fwmark', String(table)], scope);
    st.fwmarkSet = true;
  }
  const script = exitRouteLines(ifname, table, op)
    .map((l) => `${l}\n`)
    .join('');
  if (op === 'del') {
    const r = await tools.ip([`-${family}`, '-force', '-batch', '-'], scope, { input: script, reject: false });
    st.exitRoutes.delete(family);
    if (r.exitCode !== 0) logger.warn({ family, stderr: r.stderr.trim() }, 'exit-node route removal reported errors');
    return;
  }
  try {
    await tools.ip([`-${family}`, '-batch', '-'], scope, { input: script });
  } catch (err) {
    const undo = exitRouteLines(ifname, table, 'del')
      .map((l) => `${l}\n`)
      .join('');
    await tools.ip([`-${family}`, '-force', '-batch', '-'], deps.cleanupScope(), { input: undo, reject: false }).catch(() => undefined);
    throw err;
  }
  st.exitRoutes.set(family, route);
}

/** Applies main-table route operations with one `ip -force -batch -`. */
async function mainTableRoutes(deps: BackendDeps, st: RunningState, ops: ReturnType<typeof routeOps>, scope: CallScope): Promise<void> {
  const { tools } = deps;
  const ifname = st.config.interfaceName;
  const installedBefore = new Set(st.routes.keys());
  const r = await tools.ip(['-force', '-batch', '-'], scope, { input: batchScript(ops), reject: false });
  const failed = new Set(failedBatchLines(r.stderr));
  if (r.exitCode !== 0 && failed.size === 0) {
    throw new RustynetError('BACKEND_FAILED', `ip -batch failed: ${r.stderr.trim()}`, {
      details: { command: 'ip -batch', exitCode: r.exitCode, stderr: r.stderr.slice(-4096) },
    });
  }
  // A `route del` of a route the kernel already dropped is fine; a failed `replace` is not.
  const hardFailures = ops.filter((o, i) => failed.has(i + 1) && o.op === 'replace');
  ops.forEach((o, i) => {
    const key = o.route.parsed.key;
    if (o.op === 'del') st.routes.delete(key);
    else if (!failed.has(i + 1)) st.routes.set(key, o.route);
  });
  if (hardFailures.length > 0) {
    // Undo the additions that did succeed so the change is all or nothing for additions.
    const undo = ops
      .filter((o, i) => o.op === 'replace' && !failed.has(i + 1) && !installedBefore.has(o.route.parsed.key))
      .map((o) => ({ ...o, op: 'del' as const, line: `route del ${o.route.destination} dev ${ifname}` }));
    if (undo.length > 0) {
      await tools.ip(['-force', '-batch', '-'], deps.cleanupScope(), { input: batchScript(undo), reject: false }).catch(() => undefined);
      for (const o of undo) st.routes.delete(o.route.parsed.key);
    }
    throw new RustynetError(
      'BACKEND_FAILED',
      `ip route replace failed for ${hardFailures.map((o) => o.route.destination).join(', ')}: ${r.stderr.trim()}`,
      {
        details: { command: 'ip -batch', exitCode: r.exitCode, stderr: r.stderr.slice(-4096) },
      },
    );
  }
}

/**
 * Removes every route this backend installed (at stop): exit-node rules first (policy rules
 * outlive the link), then main-table routes. Routes already gone are logged, not failed.
 */
export async function removeAllRoutes(deps: BackendDeps, st: RunningState, scope: CallScope): Promise<void> {
  const { tools, logger } = deps;
  const ifname = st.config.interfaceName;
  for (const family of [...st.exitRoutes.keys()]) {
    const lines = exitRouteLines(ifname, deps.options.exitNodeTable, 'del');
    const r = await tools.ip([`-${family}`, '-force', '-batch', '-'], scope, { input: lines.map((l) => `${l}\n`).join(''), reject: false });
    if (r.exitCode !== 0) logger.warn({ family, stderr: r.stderr.trim() }, 'some exit-node rules were gone already');
    st.exitRoutes.delete(family);
  }
  if (st.routes.size > 0) {
    const ops = routeOps(ifname, [], [...st.routes.values()], st.routes);
    const r = await tools.ip(['-force', '-batch', '-'], scope, { input: batchScript(ops), reject: false });
    if (r.exitCode !== 0) logger.debug({ stderr: r.stderr.trim() }, 'some routes were gone already');
  }
}
