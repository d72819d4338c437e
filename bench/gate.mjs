#!/usr/bin/env node
// CI regression gate: a fast subset of the benches, ratios only, against a recorded baseline.
//
//   node bench/gate.mjs                      run the gated benches, compare with bench/gate-baseline.json
//   node bench/gate.mjs --record             run them and write their ratios as the new baseline
//   node bench/gate.mjs --only daemon-wireguard
//   node bench/gate.mjs --slow-apply-ms 25   demonstration: every child process rustynetd spawns
//                                            (wg, ip, ...) starts 25 ms late, so the apply path is
//                                            slower and the gate must fail
//   node bench/gate.mjs --json               one JSON document on stdout (progress on stderr)
//
// Each gated figure is a ratio measured side by side with the raw tool in the same run (e.g. a
// full apply through rustynetd vs `wg setconf`), so it travels between machines better than a
// time. A figure regresses when it is worse than its baseline by more than the threshold (25 %:
// lower-is-better ratios above baseline x 1.25, higher-is-better below baseline / 1.25). When
// any figure regresses, the benches with a regressed figure run a second time; the gate fails
// only for a figure that regressed in both runs, and prints both runs. Before it starts, the
// gate waits up to 2 minutes for the 1-minute load average to fall below half the CPU count.
//
// Exit code: 0 passed (or recorded), 1 a figure regressed twice or a bench failed, 2 bad
// arguments or baseline file, 77 skipped (prerequisites missing: root, tools or a build).
// Needs what the gated benches need (root, wireguard-tools, wireguard-go, iperf3, nft, a build).
// Each bench cleans up its own network namespaces; SIGINT/SIGTERM reach the running bench first.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { SKIP_EXIT_CODE } from './lib/prereq.mjs';
import { renderTable } from './lib/table.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const here = dirname(fileURLToPath(import.meta.url));
const BASELINE_FILE = join(here, 'gate-baseline.json');

const USAGE = `usage: node bench/gate.mjs [--record] [--only <bench,...>] [--slow-apply-ms <ms>] [--json] [--help]

  --record            write the measured ratios to bench/gate-baseline.json
  --only <list>       gate only these benches (names from the baseline file)
  --slow-apply-ms <n> delay every child process rustynetd spawns by n ms (shows the gate fails)
  --json              one JSON document on stdout; progress goes to stderr`;

let opt;
try {
  ({ values: opt } = parseArgs({
    options: {
      record: { type: 'boolean', default: false },
      only: { type: 'string' },
      'slow-apply-ms': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  console.error(`rustynet: CONFIG_INVALID: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
const slowMs = opt['slow-apply-ms'] === undefined ? 0 : Number(opt['slow-apply-ms']);
if (!Number.isInteger(slowMs) || slowMs < 0 || slowMs > 10_000) {
  console.error('rustynet: CONFIG_INVALID: --slow-apply-ms: expected an integer of milliseconds, 0-10000');
  process.exit(2);
}

/** Reads and checks the baseline file; exits 2 naming the field on a bad one. */
function loadBaseline() {
  let doc;
  try {
    doc = JSON.parse(readFileSync(BASELINE_FILE, 'utf8'));
  } catch (err) {
    console.error(`rustynet: CONFIG_INVALID: ${BASELINE_FILE}: ${err.message}`);
    process.exit(2);
  }
  const bad = (field, what) => {
    console.error(`rustynet: CONFIG_INVALID: ${BASELINE_FILE}: ${field}: ${what}`);
    process.exit(2);
  };
  if (typeof doc.threshold !== 'number' || doc.threshold <= 0 || doc.threshold >= 10) bad('threshold', 'expected a number in (0, 10)');
  if (typeof doc.benches !== 'object' || doc.benches === null) bad('benches', 'expected an object');
  for (const [name, b] of Object.entries(doc.benches)) {
    if (!/^[a-z0-9-]+$/.test(name)) bad(`benches.${name}`, 'expected a bench name');
    if (!Array.isArray(b.args) || !b.args.every((a) => typeof a === 'string')) bad(`benches.${name}.args`, 'expected strings');
    for (const [path, f] of Object.entries(b.figures ?? {})) {
      const at = `benches.${name}.figures.${path}`;
      if (f.better !== 'lower' && f.better !== 'higher') bad(`${at}.better`, 'expected "lower" or "higher"');
      if (f.baseline !== null && !(typeof f.baseline === 'number' && f.baseline > 0))
        bad(`${at}.baseline`, 'expected a positive number or null');
    }
  }
  return doc;
}

/** The value at a dotted path of an object, or undefined. */
function at(obj, path) {
  return path.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

const log = (msg) => process.stderr.write(`gate: ${msg}\n`);

/** A preload that delays every child_process spawn of the process by `ms` (busy wait). */
function slowPreload(ms) {
  const dir = mkdtempSync(join(tmpdir(), 'rustynet-gate-'));
  const file = join(dir, 'slow-spawn.mjs');
  writeFileSync(
    file,
    `import cp from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
const orig = cp.spawn;
cp.spawn = function (...args) { const end = Date.now() + ${ms}; while (Date.now() < end); return orig.apply(this, args); };
syncBuiltinESMExports();
`,
  );
  return { file, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

let current;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (current && current.exitCode === null) current.kill(sig);
    else process.exit(130);
  });
}

/** Runs one bench with `--json`; resolves { code, json, stderrTail }. */
function runBench(name, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, `${name}.mjs`), ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let out = '';
    const errLines = [];
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      for (const l of String(d).split('\n').filter(Boolean)) {
        errLines.push(l);
        if (errLines.length > 40) errLines.shift();
      }
    });
    child.on('close', (code) => {
      let json;
      try {
        json = JSON.parse(out);
      } catch {
        json = undefined;
      }
      resolve({ code, json, stderrTail: errLines });
    });
  });
}

/** Runs the benches and returns { [bench]: { code, values: { path: number|undefined } } }. */
async function runAll(doc, names, preload) {
  const res = {};
  for (const name of names) {
    const b = doc.benches[name];
    const args = [...b.args];
    if (preload && b.slowable) args.push(`--node-args=--import=${pathToFileURL(preload).href}`);
    log(`running ${name} ${args.join(' ')} (load ${loadavg()[0].toFixed(2)})`);
    const t0 = Date.now();
    const r = await runBench(name, args);
    const values = {};
    for (const path of Object.keys(b.figures)) {
      const v = at(r.json, path);
      values[path] = typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    }
    log(`${name}: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (r.code !== 0) for (const l of r.stderrTail.slice(-15)) log(`  | ${l}`);
    res[name] = { code: r.code, values };
  }
  return res;
}

/** Compares one run with the baseline: rows and the set of regressed "bench figure" keys. */
function compare(doc, run) {
  const rows = [];
  const regressed = new Set();
  for (const [name, r] of Object.entries(run)) {
    for (const [path, f] of Object.entries(doc.benches[name].figures)) {
      const v = r.values[path];
      const limit = f.baseline === null ? null : f.better === 'lower' ? f.baseline * (1 + doc.threshold) : f.baseline / (1 + doc.threshold);
      let verdict;
      if (r.code === SKIP_EXIT_CODE) verdict = 'skipped';
      else if (v === undefined) verdict = 'FAILED (no figure)';
      else if (limit === null) verdict = 'no baseline';
      else if (f.better === 'lower' ? v > limit : v < limit) verdict = 'REGRESSED';
      else verdict = 'ok';
      if (verdict.startsWith('REGRESSED') || verdict.startsWith('FAILED')) regressed.add(`${name} ${path}`);
      rows.push([
        `${name} ${path}`,
        v === undefined ? '-' : `${v.toFixed(3)}x`,
        f.baseline === null ? '-' : `${f.baseline.toFixed(3)}x`,
        limit === null ? '-' : `${f.better === 'lower' ? '<=' : '>='} ${limit.toFixed(3)}x`,
        verdict,
      ]);
    }
  }
  return { rows, regressed };
}

const doc = loadBaseline();
let names = Object.keys(doc.benches);
if (opt.only) {
  const want = opt.only.split(',').filter(Boolean);
  const unknown = want.filter((w) => !names.includes(w));
  if (unknown.length > 0) {
    console.error(`rustynet: CONFIG_INVALID: --only: no gated bench named ${unknown.join(', ')} (gated: ${names.join(', ')})`);
    process.exit(2);
  }
  names = want;
}
const machine = machineInfo();
log(machineLine(machine));
// Ratios hold across machines, but not across load: wait (up to 2 min) for a quiet machine.
for (let waited = 0; loadavg()[0] > machine.nproc / 2 && waited < 120; waited += 5) {
  if (waited % 30 === 0) log(`waiting for the load average (${loadavg()[0].toFixed(2)}) to fall below ${machine.nproc / 2}`);
  await new Promise((r) => setTimeout(r, 5000));
}
if (loadavg()[0] > machine.nproc / 2) log(`warning: load average ${loadavg()[0].toFixed(2)}: figures will be noisy`);
const preload = slowMs > 0 ? slowPreload(slowMs) : undefined;
if (preload) log(`demonstration: every child process rustynetd spawns starts ${slowMs} ms late`);
const header = ['figure', 'measured', 'baseline', 'limit', 'verdict'];
const report = { bench: 'gate', machine, threshold: doc.threshold, slowApplyMs: slowMs, runs: [] };
let exitCode = 0;
try {
  const first = await runAll(doc, names, preload?.file);
  const c1 = compare(doc, first);
  report.runs.push({ results: first, regressed: [...c1.regressed] });
  log(`run 1:\n${renderTable([header, ...c1.rows])}`);
  if (Object.values(first).every((r) => r.code === SKIP_EXIT_CODE)) {
    log('skipped: every gated bench lacks its prerequisites');
    exitCode = SKIP_EXIT_CODE;
  } else if (opt.record) {
    for (const [name, r] of Object.entries(first)) {
      for (const [path, v] of Object.entries(r.values))
        if (v !== undefined) doc.benches[name].figures[path].baseline = Number(v.toFixed(4));
    }
    doc.recorded = { at: new Date().toISOString(), machine: machineLine(machine), load: loadavg()[0] };
    writeFileSync(BASELINE_FILE, `${JSON.stringify(doc, null, 2)}\n`);
    log(`recorded the baseline in ${BASELINE_FILE}`);
  } else if (c1.regressed.size > 0) {
    const again = [...new Set([...c1.regressed].map((k) => k.split(' ')[0]))];
    log(`regressed in run 1: ${[...c1.regressed].join('; ')}; running ${again.join(', ')} again`);
    const second = await runAll(doc, again, preload?.file);
    const c2 = compare(doc, second);
    report.runs.push({ results: second, regressed: [...c2.regressed] });
    log(`run 2:\n${renderTable([header, ...c2.rows])}`);
    const twice = [...c1.regressed].filter((k) => c2.regressed.has(k));
    report.failed = twice;
    if (twice.length > 0) {
      log(`FAILED: regressed by more than ${doc.threshold * 100} % in both runs: ${twice.join('; ')}`);
      exitCode = 1;
    } else log('passed: run 2 did not confirm the regression');
  } else log('passed: no figure regressed');
} finally {
  preload?.dispose();
}
if (opt.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exit(exitCode);
