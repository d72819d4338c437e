#!/usr/bin/env node
import { runDaemonCli } from '../rustynetd.js';

const status = await runDaemonCli(process.argv);
const code = process.exitCode === undefined || process.exitCode === 0 ? status : Number(process.exitCode);
process.exitCode = code;
// After a clean stop nothing should keep the process alive; do not hang if a plugin left a handle.
setTimeout(() => process.exit(code), 2_000).unref();
