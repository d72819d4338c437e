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
  /** Also collect Node process metrics (`rustynet_process_*`, `rustynet_nodejs_*`). Default true. */
  processMetrics?: boolean;
}

/**
 * Registers Node's process metrics on `registry` (prom-client `collectDefaultMetrics`), named
 * `<prefix>process_*` and `<prefix>nodejs_*` (prefix `rustynet_` in the daemon, so
 * `rustynet_process_cpu_seconds_total`).
 */
export function collectProcessMetrics(registry: Registry, prefix = 'rustynet_'): void {
  collectDefaultMetrics({ register: registry, prefix });
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
  if (opts.processMetrics !== false) collectProcessMetrics(registry);
  return {
    logger,
    runner: new ExecaCommandRunner(logger.child({ component: 'runner' })),
    metrics: new PromMetrics(registry),
    clock: new SystemClock(),
    stateDir: resolve(opts.stateDir),
  };
}
