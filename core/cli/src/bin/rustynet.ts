#!/usr/bin/env node
import { runCli } from '../rustynet.js';

const status = await runCli(process.argv);
process.exitCode = status;
// A plugin loaded by `keygen` may leave handles open; never hang after the command is done.
setTimeout(() => process.exit(status), 2_000).unref();
