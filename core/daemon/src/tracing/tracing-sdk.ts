/**
 * Turns on OpenTelemetry tracing for a process (`rustynetd`, `rustynet relay serve`) when it is
 * configured, and only then: the SDK (`@opentelemetry/sdk-trace-node`) and the OTLP/HTTP
 * exporter are loaded with a dynamic import, so a process without tracing never loads them and
 * its spans stay the API's no-ops. See docs/operations/tracing.md.
 *
 * Sources, first match wins: `OTEL_SDK_DISABLED=true` (off); the config's `tracing` block;
 * `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`); `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` set (OTLP). The exporter reads the other standard `OTEL_EXPORTER_OTLP_*`
 * variables itself (headers, timeout); headers (which may hold a token) are never logged.
 */
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { RustynetError, type Logger } from '@rustynet/plugin-api';

/** `DaemonConfig.tracing`: where the daemon's spans go. */
export interface TracingConfig {
  /**
   * `otlp`: OTLP over HTTP with JSON bodies (`POST <endpoint>`) to a collector, Jaeger or Tempo;
   * `console`: one record per span on stdout; `none`: off, even when `OTEL_*` variables are set.
   */
  exporter: 'otlp' | 'console' | 'none';
  /**
   * With `otlp`: the collector's URL, `http(s)://host:port` (then `/v1/traces` is appended) or the
   * full traces URL. Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`,
   * else `http://localhost:4318/v1/traces`. Never put credentials in it: use `OTEL_EXPORTER_OTLP_HEADERS`.
   */
  endpoint?: string;
  /** Resource attribute `service.name` (default `OTEL_SERVICE_NAME`, else the program's name). */
  serviceName?: string;
}

/** JSON Schema of {@link TracingConfig} (part of the daemon config schema). */
export const tracingConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['exporter'],
  properties: {
    exporter: { enum: ['otlp', 'console', 'none'] },
    endpoint: { type: 'string', pattern: '^https?://[^\\s@/?#]+(/[^\\s?#]*)?$', maxLength: 2048 },
    serviceName: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;

/** What {@link resolveTracing} decided: an exporter to start. */
export interface ResolvedTracing {
  exporter: 'otlp' | 'console';
  /** Traces URL for `otlp`; undefined: the exporter's own default (from `OTEL_*` or localhost). */
  url?: string;
  serviceName: string;
  /** Where the decision came from, for the start-up log line. */
  source: 'config' | 'env';
}

/** Environment variables read here. */
export type TracingEnv = Readonly<Record<string, string | undefined>>;

/** `endpoint` as a traces URL: a bare `scheme://host:port[/]` gets `/v1/traces`. */
export function tracesUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/traces';
  return u.toString();
}

/**
 * Decides whether and where to export (see the file comment for the order).
 * @returns undefined when tracing stays off.
 * @throws RustynetError `CONFIG_INVALID` naming `OTEL_TRACES_EXPORTER` for a value other than
 *   `otlp`, `console` or `none` (a list is accepted when it names only those).
 */
export function resolveTracing(
  config: TracingConfig | undefined,
  env: TracingEnv,
  defaultServiceName: string,
): ResolvedTracing | undefined {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined;
  const serviceName = config?.serviceName ?? (env['OTEL_SERVICE_NAME']?.trim() || defaultServiceName);
  if (config !== undefined) {
    if (config.exporter === 'none') return undefined;
    return {
      exporter: config.exporter,
      ...(config.exporter === 'otlp' && config.endpoint !== undefined && { url: tracesUrl(config.endpoint) }),
      serviceName,
      source: 'config',
    };
  }
  const listed = (env['OTEL_TRACES_EXPORTER'] ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const unknown = listed.filter((s) => s !== 'otlp' && s !== 'console' && s !== 'none');
  if (unknown.length > 0) {
    throw new RustynetError('CONFIG_INVALID', `OTEL_TRACES_EXPORTER: unsupported exporter "${unknown[0]}" (otlp, console or none)`, {
      field: 'OTEL_TRACES_EXPORTER',
    });
  }
  if (listed.includes('none')) return undefined;
  if (listed.includes('otlp')) return { exporter: 'otlp', serviceName, source: 'env' };
  if (listed.includes('console')) return { exporter: 'console', serviceName, source: 'env' };
  if (env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_ENDPOINT'])
    return { exporter: 'otlp', serviceName, source: 'env' };
  return undefined;
}

/** A started tracing SDK. */
export interface TracingHandle {
  /** What was started (logged at start-up). */
  readonly settings: ResolvedTracing;
  /** Exports the spans still buffered. */
  forceFlush(): Promise<void>;
  /**
   * Exports what is buffered (waiting at most the shutdown time-out; an unreachable collector is
   * logged, never thrown) and unregisters the SDK; the API is a no-op again afterwards.
   */
  shutdown(): Promise<void>;
}

/** Options of {@link startTracing}. */
export interface StartTracingOptions {
  /** `service.name` when neither the config nor `OTEL_SERVICE_NAME` give one (`rustynetd`, `rustynet-relay`). */
  serviceName: string;
  /** `service.instance.id`: the node id or relay id. */
  instanceId?: string;
  /** Receives export failures (OpenTelemetry's diagnostics at warn level and above) and the start-up line. */
  logger?: Logger;
  /** Longest wait for the last export at shutdown, ms (default {@link TRACING_SHUTDOWN_TIMEOUT_MS}). */
  shutdownTimeoutMs?: number;
}

/** How long `shutdown` waits for the last spans to be exported before it gives them up, ms. */
export const TRACING_SHUTDOWN_TIMEOUT_MS = 2_000;

/** `url` without user info and query (for logs). */
function printable(url: string | undefined): string {
  if (url === undefined) return '(OTEL_EXPORTER_OTLP_* or http://localhost:4318/v1/traces)';
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * Registers the OpenTelemetry SDK globally (a `NodeTracerProvider` with a batch span processor)
 * when {@link resolveTracing} says so; otherwise loads nothing.
 * @returns the handle to flush and shut it down, or undefined when tracing is off.
 * @throws RustynetError `CONFIG_INVALID` (see {@link resolveTracing}).
 */
export async function startTracing(
  config: TracingConfig | undefined,
  env: TracingEnv,
  opts: StartTracingOptions,
): Promise<TracingHandle | undefined> {
  const settings = resolveTracing(config, env, opts.serviceName);
  if (settings === undefined) return undefined;
  const [api, node, base, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  const log = opts.logger;
  if (log) {
    const warn = (msg: string, ...args: unknown[]): void =>
      log.warn({ detail: args.map((a) => String(a)).join(' ') || undefined }, `tracing: ${diagText(msg)}`);
    const quiet = (): void => undefined;
    api.diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, api.DiagLogLevel.WARN);
  }
  let exporter: SpanExporter;
  if (settings.exporter === 'otlp') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    exporter = new OTLPTraceExporter(settings.url !== undefined ? { url: settings.url } : {});
  } else {
    exporter = new base.ConsoleSpanExporter();
  }
  const provider = new node.NodeTracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': settings.serviceName,
      ...(opts.instanceId !== undefined && { 'service.instance.id': opts.instanceId }),
    }),
    spanProcessors: [new base.BatchSpanProcessor(exporter)],
  });
  provider.register();
  log?.info(
    { exporter: settings.exporter, endpoint: settings.exporter === 'otlp' ? printable(settings.url) : undefined, source: settings.source },
    'tracing on',
  );
  let down: Promise<void> | undefined;
  const limitMs = opts.shutdownTimeoutMs ?? TRACING_SHUTDOWN_TIMEOUT_MS;
  return {
    settings,
    forceFlush: () => provider.forceFlush(),
    shutdown: () => {
      down ??= shutdownWithin(provider, limitMs, log).finally(() => {
        api.trace.disable();
        api.context.disable();
        api.propagation.disable();
        api.diag.disable();
      });
      return down;
    },
  };
}

/**
 * `provider.shutdown()`, waited for at most `limitMs`: an unreachable collector (the exporter
 * retries for many seconds) must not hold up a stop. Failures and the time-out are logged.
 */
async function shutdownWithin(provider: { shutdown(): Promise<void> }, limitMs: number, log: Logger | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log?.warn({ timeoutMs: limitMs }, 'tracing: spans not exported by the stop deadline are dropped');
      resolve();
    }, limitMs).unref();
  });
  const flushed = provider.shutdown().catch((err: unknown) => {
    log?.warn({ err: (err as Error).message }, 'tracing: the last spans could not be exported');
  });
  try {
    await Promise.race([flushed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** OpenTelemetry's diagnostic text, shortened: a serialised exception becomes its message. */
function diagText(msg: string): string {
  try {
    const e = JSON.parse(msg) as { message?: unknown };
    if (typeof e.message === 'string') return `export failed: ${e.message}`;
  } catch {
    // not JSON: the text itself
  }
  return msg.length > 300 ? `${msg.slice(0, 300)}...` : msg;
}
