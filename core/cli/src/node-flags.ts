/**
 * Node flags `rustynetd` is started with wherever Rustynet starts it (the installed systemd unit,
 * the testbed); its shebang carries them too. They must be on node's command line: V8 reads them
 * when the process starts, so the launcher cannot set them itself.
 *
 * `--no-concurrent-recompilation`: optimised code is compiled on the main thread instead of a V8
 * background thread, whose memory stays resident; it lowered the daemon's RSS after a 1000-peer
 * apply by 5-9 MiB with no measurable change of the apply's time (docs/performance.md, "Memory").
 */
export const RUSTYNETD_NODE_FLAGS: readonly string[] = ['--no-concurrent-recompilation'];
