/**
 * What the executables do when the reader of their output goes away (`rustynetd --help | head`):
 * a write to the closed pipe fails with `EPIPE` (Node ignores SIGPIPE), and an `error` event
 * nobody handles would crash the process with a stack trace. Standard Unix tools stop quietly
 * instead. Entry points only: library users keep Node's default.
 */

/**
 * Handles `EPIPE` on `streams` (default: standard output and standard error) with `onBrokenPipe`;
 * any other stream error is rethrown as before.
 * @param onBrokenPipe e.g. `() => process.exit(0)`; when it returns, the process runs on and
 *   further writes to the closed stream are dropped (Node emits a stream's error only once).
 */
export function handleBrokenPipe(onBrokenPipe: () => void, streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      onBrokenPipe();
    });
  }
}
