import { resolve } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { HostServices } from '../container/containers.js';
import { SystemClock } from './clock.js';
import { ExecaCommandRunner } from './command-runner.js';
import { createLogger } from './logger.js';
import { PromMetrics } from './metrics.js';

/** Options of {@link createHostServices}. */
export interface HostServicesOptions {
  stateDir: string;
  /** pino level (default `info`). */
  logLevel?: string;
  /** Log file (JSON lines); stdout when absent. */
  logFile?: string;
  pretty?: boolean;
  /** Also collect Node process metrics (`rustynet_process_*`). Default true. */
  processMetrics?: boolean;
}

/**
 * Creates the host services: a redacting pino logger, the execa command runner, prom-client
 * metrics on a fresh registry, the system clock, and the absolute state directory.
 */
export function createHostServices(opts: HostServicesOptions): HostServices {
  const logger = createLogger({
    ...(opts.logLevel !== undefined && { level: opts.logLevel }),
    ...(opts.logFile !== undefined && { file: opts.logFile }),
    ...(opts.pretty !== undefined && { pretty: opts.pretty }),
  });
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'rustynet_process_' });
  return {
    logger,
    runner: new ExecaCommandRunner(logger.child({ component: 'runner' })),
    metrics: new PromMetrics(registry),
    clock: new SystemClock(),
    stateDir: resolve(opts.stateDir),
  };
}
