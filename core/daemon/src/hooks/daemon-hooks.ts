import { performance } from 'node:perf_hooks';
import { AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook } from 'tapable';
import {
  RustynetError,
  isRustynetError,
  type ApplySummary,
  type Endpoint,
  type Logger,
  type Netmap,
  type PeerEndpointContext,
  type PluginHooks,
  type TappableHook,
} from '@rustynet/plugin-api';
import { DEFAULT_HOOK_DEADLINE_MS, withDeadline } from './deadline.js';
import { HookTimeline, type HookName, type HookTimelineEntry } from './timeline-interceptor.js';

/** Extra tap options the daemon records on every tap. */
interface TapExtra {
  plugin?: string;
}

/** A tap that threw or passed its deadline. */
export interface HookFailure {
  hook: HookName;
  tap: string;
  plugin: string;
  /** `HOOK_FAILED` error naming the plugin; `details.timedOut` tells a timeout from a throw. */
  error: RustynetError;
}

/** Options of {@link DaemonHooks}. */
export interface DaemonHooksOptions {
  logger?: Logger;
  /** Deadline of each tap in ms (default {@link DEFAULT_HOOK_DEADLINE_MS}). */
  deadlineMs?: number;
  /** Entries kept on the timeline (default 1000). */
  timelineSize?: number;
  /** Called for every failing tap (the daemon counts `rustynet_hook_failures_total`). */
  onFailure?: (failure: HookFailure) => void;
}

/** Result of {@link DaemonHooks.runNetmapAccepted} when a tap vetoed. */
export interface NetmapVeto {
  tap: string;
  plugin: string;
  reason: string;
}

function isEndpoint(v: unknown): v is Endpoint {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Endpoint;
  return typeof e.host === 'string' && e.host.length > 0 && Number.isInteger(e.port) && e.port >= 1 && e.port <= 65535;
}

/**
 * The daemon's hooks, on tapable:
 * - `netmapAccepted` (AsyncSeriesBailHook): a tap resolving to a string vetoes the map; a tap that
 *   throws or passes its deadline also vetoes (fail closed).
 * - `resolvePeerEndpoint` (AsyncSeriesWaterfallHook): each tap may return another endpoint; a
 *   tap that throws, times out or returns a malformed endpoint is skipped.
 * - `applied`, `shutdown` (AsyncSeriesHook): failures are logged and reported, never thrown.
 *
 * Every tap is wrapped when registered (tapable `register` interceptor): it runs under the
 * deadline, is recorded on the {@link timeline}, and its failures are reported as `HOOK_FAILED`
 * naming the plugin. Nothing a tap does can reject the hook call.
 */
export class DaemonHooks {
  readonly netmapAccepted = new AsyncSeriesBailHook<[Netmap], string | undefined, TapExtra>(['netmap']);
  readonly resolvePeerEndpoint = new AsyncSeriesWaterfallHook<[Endpoint | undefined, PeerEndpointContext], Endpoint | undefined, TapExtra>([
    'endpoint',
    'context',
  ]);
  readonly applied = new AsyncSeriesHook<[ApplySummary], TapExtra>(['summary']);
  readonly shutdown = new AsyncSeriesHook<[], TapExtra>([]);
  /** The newest tap calls. */
  readonly timeline: HookTimeline;
  readonly deadlineMs: number;
  private readonly logger: Logger | undefined;
  private readonly onFailure: ((f: HookFailure) => void) | undefined;
  private lastVeto: NetmapVeto | undefined;

  constructor(opts: DaemonHooksOptions = {}) {
    this.logger = opts.logger;
    this.onFailure = opts.onFailure;
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_HOOK_DEADLINE_MS;
    this.timeline = new HookTimeline(opts.timelineSize);
    this.wrap(this.netmapAccepted, 'netmapAccepted');
    this.wrap(this.resolvePeerEndpoint, 'resolvePeerEndpoint');
    this.wrap(this.applied, 'applied');
    this.wrap(this.shutdown, 'shutdown');
  }

  private wrap(hook: { intercept(i: never): void }, hookName: HookName): void {
    const register = (tap: { name: string; plugin?: string; fn: (...args: unknown[]) => unknown; type: string }) => {
      const original = tap.fn;
      const plugin = tap.plugin ?? 'daemon';
      const name = tap.name;
      const fn = async (...args: unknown[]): Promise<unknown> => {
        const start = Date.now();
        const t0 = performance.now();
        const record = (outcome: HookTimelineEntry['outcome'], detail?: string): void => {
          const entry: HookTimelineEntry = {
            tap: name,
            plugin,
            hook: hookName,
            start,
            durationMs: performance.now() - t0,
            outcome,
            ...(detail !== undefined && { detail }),
          };
          this.timeline.record(entry);
          this.logger?.debug(entry, 'hook tap');
        };
        try {
          const result = await withDeadline(() => original(...args), this.deadlineMs, `hook ${hookName} tap ${name}`);
          if (hookName === 'netmapAccepted') {
            if (typeof result === 'string') {
              const reason = result || 'vetoed';
              record('veto', reason);
              this.lastVeto = { tap: name, plugin, reason };
              return reason;
            }
            record('ok');
            return undefined;
          }
          if (hookName === 'resolvePeerEndpoint') {
            if (result !== undefined && !isEndpoint(result)) {
              throw new RustynetError('INVALID_INPUT', `returned a malformed endpoint ${JSON.stringify(result)}`);
            }
            record('ok');
            return result;
          }
          record('ok');
          return undefined;
        } catch (err) {
          const timedOut = isRustynetError(err, 'TIMEOUT');
          const message = err instanceof Error ? err.message : String(err);
          const error = new RustynetError(
            'HOOK_FAILED',
            `plugin ${plugin}: hook ${hookName} tap ${name} ${timedOut ? 'timed out' : 'failed'}: ${message}`,
            {
              plugin,
              cause: err,
              details: { hook: hookName, tap: name, timedOut, ...(timedOut && { deadlineMs: this.deadlineMs }) },
            },
          );
          record(timedOut ? 'timeout' : 'error', message);
          this.report({ hook: hookName, tap: name, plugin, error });
          // netmapAccepted: a failing tap vetoes (fail closed). Others: the tap is skipped.
          if (hookName === 'netmapAccepted') {
            const reason = `tap ${name} failed: ${message}`;
            this.lastVeto = { tap: name, plugin, reason };
            return reason;
          }
          return undefined;
        }
      };
      return { ...tap, fn };
    };
    hook.intercept({ register } as never);
  }

  private report(failure: HookFailure): void {
    this.logger?.warn(
      { hook: failure.hook, tap: failure.tap, plugin: failure.plugin, code: 'HOOK_FAILED', err: failure.error.message },
      'hook tap failed',
    );
    try {
      this.onFailure?.(failure);
    } catch {
      /* a reporting callback never breaks the hook */
    }
  }

  /**
   * Calls `netmapAccepted`.
   * @returns the first veto (tap and reason), or `undefined` when every tap accepted.
   */
  async runNetmapAccepted(netmap: Netmap): Promise<NetmapVeto | undefined> {
    this.lastVeto = undefined;
    const reason = await this.netmapAccepted.promise(netmap);
    if (reason === undefined) return undefined;
    const veto = this.lastVeto ?? { tap: 'unknown', plugin: 'unknown', reason };
    this.lastVeto = undefined;
    return veto;
  }

  /** Calls `resolvePeerEndpoint`; returns the (possibly substituted) endpoint. */
  async runResolvePeerEndpoint(endpoint: Endpoint | undefined, context: PeerEndpointContext): Promise<Endpoint | undefined> {
    if (this.resolvePeerEndpoint.taps.length === 0) return endpoint;
    return this.resolvePeerEndpoint.promise(endpoint, context);
  }

  /** Calls `applied`; never throws. */
  async runApplied(summary: ApplySummary): Promise<void> {
    await this.applied.promise(summary).catch((err: unknown) => this.logger?.error({ err }, 'applied hook failed'));
  }

  /** Calls `shutdown`; never throws. */
  async runShutdown(): Promise<void> {
    await this.shutdown.promise().catch((err: unknown) => this.logger?.error({ err }, 'shutdown hook failed'));
  }

  /**
   * The {@link PluginHooks} view given to a plugin: every tap it registers is named
   * `<pluginName>/<tap>` and attributed to the plugin in the timeline and failure reports.
   */
  forPlugin(pluginName: string): PluginHooks {
    const view = <A extends unknown[], R>(hook: {
      tapPromise(options: { name: string; plugin: string }, fn: (...args: A) => Promise<R>): void;
    }): TappableHook<A, R> => ({
      tapPromise(name: string, fn: (...args: A) => Promise<R>): void {
        if (typeof name !== 'string' || name.length === 0)
          throw new RustynetError('INVALID_INPUT', 'tap name must be a non-empty string', { field: 'name', plugin: pluginName });
        if (typeof fn !== 'function')
          throw new RustynetError('INVALID_INPUT', 'tap must be a function', { field: 'fn', plugin: pluginName });
        hook.tapPromise({ name: `${pluginName}/${name}`, plugin: pluginName }, fn);
      },
    });
    return {
      netmapAccepted: view(this.netmapAccepted as never),
      resolvePeerEndpoint: view(this.resolvePeerEndpoint as never),
      applied: view(this.applied as never),
      shutdown: view(this.shutdown as never),
    };
  }
}
