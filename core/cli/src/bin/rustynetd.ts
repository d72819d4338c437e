#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=100 --no-concurrent-recompilation
// V8 heap sizing for a long-running daemon whose live heap is small (docs/performance.md,
// "Memory"). By default V8 sizes the heap for throughput: the young generation grows to
// 2 x 16 MiB and the old generation may grow to about 4x the live data before a full GC, which
// shows as RSS the daemon never uses. Run directly, the shebang caps a semi-space at 2 MiB and
// lets the old generation grow to 2x the live data between full GCs. Run as `node rustynetd.js`
// (tests, benches, service units), `--max-semi-space-size` can no longer be set (the heap exists),
// so the young generation is kept at its initial size instead (`--semi-space-growth-factor=1`,
// read whenever V8 considers growing it); `--heap-growing-percent` is read after every full GC.
// Both are set here before the daemon's modules are loaded (dynamic import below), and only
// when the operator did not choose a value (node arguments or NODE_OPTIONS).
// `--no-concurrent-recompilation` (RUSTYNETD_NODE_FLAGS, see node-flags.ts) only takes effect on
// node's command line: the shebang, the installed service unit and the testbed put it there.
import { setFlagsFromString } from 'node:v8';
import { handleBrokenPipe } from '../broken-pipe.js';

// `rustynetd --help | head`: when the reader of our output goes away, drop the rest of it quietly
// instead of dying on an unhandled EPIPE; a one-shot command ends with its own status. Not
// process.exit: a serving daemon that logs to stdout keeps the mesh up rather than leaving its
// tunnel behind without a clean stop (write logs to log.file to keep them).
handleBrokenPipe(() => undefined);

// V8 accepts `_` for `-` in flag names.
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((a) => a.split('=')[0].replaceAll('_', '-'));
const has = (flag: string): boolean => given.includes(flag);
if (!has('--max-semi-space-size') && !has('--semi-space-growth-factor')) setFlagsFromString('--semi-space-growth-factor=1');
if (!has('--heap-growing-percent')) setFlagsFromString('--heap-growing-percent=100');

const { runDaemonCli } = await import('../rustynetd.js');

const status = await runDaemonCli(process.argv);
const code = process.exitCode === undefined || process.exitCode === 0 ? status : Number(process.exitCode);
process.exitCode = code;
// After a clean stop nothing should keep the process alive; do not hang if a plugin left a handle.
setTimeout(() => process.exit(code), 2_000).unref();
