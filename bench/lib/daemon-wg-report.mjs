// The report of bench/daemon-wireguard.mjs: table of daemon vs raw figures, notes, log-line
// counts and CPU profile sections as text, and the same figures as the `--json` object.
import { fmt, ratio, summarize } from './stats.mjs';
import { renderTable } from './table.mjs';
import { machineLine } from './machine.mjs';

/**
 * Builds the text table and the `--json` object from the phases' `results`.
 * `params`: { peers, runs, changeRuns, startRuns, nodeArgs }.
 * @returns {{ text: string, json: object }}
 */
export function report(results, machine, params) {
  const { peers: N, runs: RUNS, changeRuns: CHANGE_RUNS, startRuns: START_RUNS, nodeArgs: NODE_ARGS } = params;
  const rows = [['figure', 'daemon median', 'daemon p95', 'raw median', 'raw p95', 'ratio (median)', 'target']];
  const pair = (name, d, r, target) => {
    const sd = summarize(d);
    const sr = r ? summarize(r) : null;
    rows.push([
      name,
      `${fmt(sd.median)} ms`,
      `${fmt(sd.p95)} ms`,
      sr ? `${fmt(sr.median)} ms` : '-',
      sr ? `${fmt(sr.p95)} ms` : '-',
      sr ? `${ratio(sd.median, sr.median).toFixed(2)}x` : '-',
      target,
    ]);
    return sr ? ratio(sd.median, sr.median) : null;
  };
  const rawOnly = (name, r) => {
    const sr = summarize(r);
    rows.push([name, '-', '-', `${fmt(sr.median)} ms`, `${fmt(sr.p95)} ms`, '-', '']);
  };
  const out = {
    bench: 'daemon-wireguard',
    machine,
    params: { peers: N, runs: RUNS, changeRuns: CHANGE_RUNS, startRuns: START_RUNS, nodeArgs: NODE_ARGS },
    load: results.load,
    figures: {},
  };
  const f = results.full;
  if (f) {
    out.figures.fullApply = {
      daemonMs: summarize(f.daemon),
      daemonFirstApplyAfterStartMs: f.firstDaemon,
      daemonReconcileMs: summarize(f.reconcile),
      rawWgSetconfMs: summarize(f.setconf),
      rawWgSetMs: summarize(f.wgset),
      rawIpBatchRoutesMs: summarize(f.routes),
      rawWgSetPlusRoutesMs: summarize(f.rawTotal),
      ratioVsSetconf: pair(`full apply, ${N} peers  vs  wg setconf`, f.daemon, f.setconf, '<= 1.2x'),
      ratioVsWgSetPlusRoutes: pair(`full apply, ${N} peers  vs  wg set + ip -batch routes`, f.daemon, f.rawTotal, '(same work)'),
      target: 1.5,
    };
    pair('  daemon reconcile part (audit durationMs)', f.reconcile, null, '');
    rawOnly('  raw alone: wg set, all peers, one process', f.wgset);
    rawOnly(`  raw alone: ip -batch, ${2 * N} routes`, f.routes);
  }
  if (results.change?.daemon.length) {
    const c = results.change;
    out.figures.onePeerChange = {
      kind: 'endpoint of one existing peer changes in a new signed netmap',
      daemonMs: summarize(c.daemon),
      daemonReconcileMs: summarize(c.reconcile),
      rawWgSetMs: summarize(c.raw),
      ratio: pair('one-peer change (endpoint)  vs  wg set <if> peer ...', c.daemon, c.raw, '<= 3x'),
      target: 3,
    };
    pair('  daemon reconcile part (audit durationMs)', c.reconcile, null, '');
    const dl = results.delta;
    if (dl?.daemon.length) {
      out.figures.onePeerChangeDelta = {
        kind: 'endpoint of one existing peer changes in a signed netmap delta (netmap.deltaFile)',
        daemonMs: summarize(dl.daemon),
        daemonReconcileMs: summarize(dl.reconcile),
        rawWgSetMs: summarize(dl.raw),
        ratio: pair('one-peer change by signed delta  vs  wg set <if> peer ...', dl.daemon, dl.raw, '<= 2x'),
        target: 2,
      };
      pair('  daemon reconcile part (audit durationMs)', dl.reconcile, null, '');
    }
    const a = results.add;
    out.figures.onePeerAdd = {
      kind: 'one new peer (2 allowed IPs, 2 routes) in a new signed netmap',
      daemonMs: summarize(a.daemon),
      daemonReconcileMs: summarize(a.reconcile),
      rawWgSetMs: summarize(a.rawWg),
      rawIpBatchRoutesMs: summarize(a.rawRoutes),
      rawTotalMs: summarize(a.rawTotal),
      ratio: pair('one-peer add  vs  wg set + ip -batch routes', a.daemon, a.rawTotal, '(info)'),
    };
  }
  if (results.start) {
    const st = results.start;
    out.figures.startToFirstPing = {
      nodes: 2,
      bothStartTogether: { toFirstPingMs: summarize(st.both.toPing), bothUpMs: summarize(st.both.toUp) },
      joinRunningPeer: { toFirstPingMs: summarize(st.join.toPing), upMs: summarize(st.join.toUp) },
    };
    pair('start -> first ping, a joins running b', st.join.toPing, null, '(none)');
    pair('  start -> daemon reports up', st.join.toUp, null, '');
    pair('start -> first ping, a and b start together', st.both.toPing, null, '(none)');
    pair('  start -> both report up', st.both.toUp, null, '');
  }
  out.samples = {
    note: 'ms, except full.rss in KiB',
    full: results.full,
    change: results.change,
    add: results.add,
    delta: results.delta,
    start: results.start,
  };
  if (results.memory) {
    const m = results.memory;
    // Issue 15: at most 80 MB (= 76.3 MiB) with 1000 peers (issue 2 had 100 MB).
    out.figures.memory = { ...m, targetMiB: 76.3 };
    const mib = (k) => (k === undefined || k === null ? 'n/a' : `${(k / 1024).toFixed(1)} MiB`);
    rows.push([
      `daemon RSS after ${N}-peer apply`,
      mib(m.daemonRssAfterApplyKiB.median),
      mib(m.daemonRssAfterApplyKiB.max) + ' (max)',
      '-',
      '-',
      '-',
      '<= 80 MB = 76.3 MiB',
    ]);
    rows.push(['  daemon RSS idle (self only) / peak (VmHWM)', mib(m.daemonIdleRssKiB), mib(m.daemonPeakRssKiB), '-', '-', '-', '']);
    rows.push(['  wireguard-go RSS (data plane, not counted)', mib(m.wireguardGoRssKiB), '-', '-', '-', '-', '']);
  }
  const lines = [];
  lines.push(`Rustynet daemon vs raw tools: WireGuard backend (wireguard-go), ${N} peers`);
  lines.push(machineLine(machine));
  lines.push(`tools: ${machine.tools.wg ?? 'wg ?'}; ${machine.tools.wireguardGo ?? 'wireguard-go ?'}; ${machine.tools.ip ?? 'ip ?'}`);
  if (NODE_ARGS.length > 0) lines.push(`rustynetd node flags: ${NODE_ARGS.join(' ')} (experiment, not the default)`);
  if (results.load)
    lines.push(
      `load average (1 min) at start ${results.load.start.toFixed(2)}, at end ${results.load.end.toFixed(2)} on ${machine.nproc} CPUs${results.load.start > machine.nproc / 2 || results.load.end > machine.nproc / 2 ? '  WARNING: the machine was busy; figures are noisy' : ''}`,
    );
  const runsText = [
    f && `full apply ${RUNS}`,
    results.change?.daemon.length && `one-peer ${CHANGE_RUNS}`,
    results.start && `start ${START_RUNS}`,
  ].filter(Boolean);
  lines.push(`runs: ${runsText.join(', ')} (each after 1 warm-up run, not counted); p95 = nearest rank`);
  lines.push('');
  lines.push(renderTable(rows));
  lines.push('');
  lines.push('daemon   = real rustynetd in its own netns; POST /v1/netmap/reload request -> response (file read, JSON parse, schema,');
  lines.push('           Ed25519 signature over RFC 8785 JSON, expiry, watermark, hooks, key validation, diff, one `wg set`,');
  lines.push('           one `ip -batch`, last-good + audit persisted). "reconcile part" = the daemon\'s own apply durationMs.');
  lines.push('raw      = the same peers by the tools alone, spawned from a node process inside a second netns, spawn -> exit.');
  lines.push('start    = spawn of rustynetd (node a; or a and b together) -> first ICMP echo reply a->b over the mesh (ping -D every');
  lines.push("           10 ms; empty state dir). When both start together, a's first handshake can reach b before b listens and");
  lines.push('           WireGuard retries only after REKEY_TIMEOUT (5 s), so that figure is bimodal: see min/max in --json.');
  if (f) lines.push(`first full apply after daemon start (cold JIT, not in the table): ${fmt(f.firstDaemon)} ms`);
  if (results.maxRoutesAdded !== undefined) {
    out.maxRoutesAdded = results.maxRoutesAdded;
    lines.push(`routes installed by one full apply (largest applyRoutes add, backend log): ${results.maxRoutesAdded}`);
  }
  if (results.logLines) {
    out.daemonLogLines = results.logLines;
    const reps = RUNS + 1;
    lines.push(
      `daemon log lines during phase 1 (${reps} clear + ${reps} full applies${results.change?.daemon.length ? `, ${2 * (CHANGE_RUNS + 1)} one-peer changes` : ''}), by message:`,
    );
    for (const l of results.logLines) lines.push(`  ${String(l.count).padStart(7)}  ${l.msg}`);
  }
  if (results.profile) {
    const p = results.profile;
    out.profile = p;
    lines.push('');
    lines.push(`CPU profile of rustynetd (node --cpu-prof; ${p.file}), samples inside the timed reload windows only:`);
    const section = (title, s, perOp) => {
      if (!s) return;
      lines.push('');
      lines.push(
        `${title}: window ${fmt(s.wallMs)} ms total (${fmt(perOp)} ms median per op under the profiler); on-CPU ${fmt(s.busyMs)} ms, idle (waiting on wg/ip/fs) ${fmt(s.idleMs)} ms, GC ${fmt(s.gcMs)} ms`,
      );
      lines.push('  self time by package:');
      for (const b of s.buckets.slice(0, 12)) lines.push(`    ${fmt(b.ms).padStart(8)} ms  ${b.name}`);
      lines.push('  self time by function:');
      for (const b of s.self.slice(0, 15)) lines.push(`    ${fmt(b.ms).padStart(8)} ms  ${b.name}`);
      lines.push('  inclusive time, project functions:');
      for (const b of s.inclusive.slice(0, 22)) lines.push(`    ${fmt(b.ms).padStart(8)} ms  ${b.name}`);
    };
    section(`${RUNS} full applies of ${N} peers`, p.fullApply, p.fullApplyMs.median);
    section(`${CHANGE_RUNS} one-peer changes`, p.change, p.changeMs.median);
    if (p.delta) section(`${CHANGE_RUNS} one-peer changes by signed delta`, p.delta, p.deltaMs.median);
  }
  return { text: lines.join('\n'), json: out };
}
