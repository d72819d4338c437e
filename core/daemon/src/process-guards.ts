import type { Logger } from '@rustynet/plugin-api';

/**
 * Keeps a stray promise rejection (e.g. from a plugin's floating promise) from killing the
 * daemon: logs it instead. Returns a function that removes the handler.
 */
export function installProcessGuards(logger: Logger): () => void {
  const onRejection = (reason: unknown): void => {
    logger.error(
      { err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) },
      'unhandled promise rejection (ignored)',
    );
  };
  process.on('unhandledRejection', onRejection);
  return () => process.off('unhandledRejection', onRejection);
}

/**
 * Stops `daemon` once on SIGINT or SIGTERM, then calls `exit` (default `process.exit`) with 0,
 * or 1 when stopping failed. A second signal exits at once with 130. Returns an uninstaller.
 * For the `rustynetd` CLI.
 */
export function installSignalHandlers(
  daemon: { stop(): Promise<void> },
  opts: { logger?: Logger; exit?: (code: number) => void } = {},
): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      exit(130);
      return;
    }
    stopping = true;
    opts.logger?.info({ signal }, 'signal received, stopping');
    daemon.stop().then(
      () => exit(0),
      (err: unknown) => {
        opts.logger?.error({ err: String(err) }, 'stop failed');
        exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
