/**
 * Starts OpenTelemetry tracing for `rustynetd` and `rustynet relay serve` when configured (the
 * daemon's `startTracing`: config `tracing` block or the `OTEL_*` environment; nothing is loaded
 * otherwise), logging to stderr. See docs/operations/tracing.md.
 */
import type { Logger } from '@rustynet/plugin-api';
import type { DaemonModule } from './daemon-api.js';
import { io } from './io.js';

type TracingHandle = Awaited<ReturnType<DaemonModule['startTracing']>>;

/** A logger printing `<program>: <msg> <fields as JSON>` lines on stderr (warn and above, and info). */
function stderrLines(program: string): Logger {
  const line =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      const fields = typeof obj === 'string' ? '' : JSON.stringify(obj);
      const text = typeof obj === 'string' ? obj : fields === '{}' ? (msg ?? '') : `${msg ?? ''} ${fields}`;
      io().err(`${program}: ${level === 'info' ? '' : `${level}: `}${text}\n`);
    };
  const quiet = (): void => undefined;
  const logger: Logger = { trace: quiet, debug: quiet, info: line('info'), warn: line('warn'), error: line('error'), child: () => logger };
  return logger;
}

/**
 * Starts tracing for `program` (see the daemon's `startTracing`).
 * @returns the handle to shut it down (flushes buffered spans), or undefined when off.
 * @throws RustynetError `CONFIG_INVALID` for a bad `OTEL_TRACES_EXPORTER`.
 */
export function startProgramTracing(
  d: DaemonModule,
  program: string,
  config: Parameters<DaemonModule['startTracing']>[0],
  serviceName: string,
  instanceId?: string,
): Promise<TracingHandle> {
  return d.startTracing(config, io().env, {
    serviceName,
    ...(instanceId !== undefined && { instanceId }),
    logger: stderrLines(program),
  });
}
