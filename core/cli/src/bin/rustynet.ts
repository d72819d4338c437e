#!/usr/bin/env node
import { runCli } from '../rustynet.js';

// `rustynet status | head`: when the reader of our output goes away, stop quietly with status 0
// (as standard Unix tools do) instead of dying on an unhandled EPIPE. Entry point only: the
// daemon and library users keep Node's default.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const status = await runCli(process.argv);
process.exitCode = status;
// A plugin loaded by `keygen` may leave handles open; never hang after the command is done.
setTimeout(() => process.exit(status), 2_000).unref();
