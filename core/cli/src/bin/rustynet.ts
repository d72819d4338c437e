#!/usr/bin/env node
import { runCli } from '../rustynet.js';
import { handleBrokenPipe } from '../broken-pipe.js';

// `rustynet status | head`: when the reader of our output goes away, stop quietly with status 0
// (as standard Unix tools do) instead of dying on an unhandled EPIPE.
handleBrokenPipe(() => process.exit(0));

const status = await runCli(process.argv);
process.exitCode = status;
// A plugin loaded by `keygen` may leave handles open; never hang after the command is done.
setTimeout(() => process.exit(status), 2_000).unref();
