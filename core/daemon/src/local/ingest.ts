import { performance } from 'node:perf_hooks';
import { RustynetError, type Clock, type Logger } from '@rustynet/plugin-api';
import type { AuditLog } from '../audit/audit-log.js';
import type { DaemonHooks } from '../hooks/daemon-hooks.js';
import type { NetmapSource } from '../netmap/source.js';
import type { NetmapTrust, TrustedNetmap } from '../trust/netmap-trust.js';
import { isDeltaEnvelope } from '../netmap/delta.js';
import { toRustynetError } from '../util/errors.js';
import { ingestDelta } from './delta-ingest.js';
import type { DataPlane } from './data-plane.js';
import type { DaemonMetrics } from './metrics.js';
import { scheduleMemoryTrim } from './memory-trim.js';
import { checkSelfProbe } from './path-probing.js';
import type { DaemonState, StatusError } from './status-types.js';

/** Result of processing one netmap (reload, poll, up). */
export interface IngestResult {
  result: 'applied' | 'unchanged' | 'rejected' | 'deferred' | 'failed' | 'none';
  version?: number;
  error?: Record<string, unknown>;
}

/** The node's netmap state: what is applied, what waits, what was last refused. */
export class NodeState {
  /** Life-cycle state reported in status. */
  state: DaemonState = 'starting';
  /** The applied netmap and when it was applied (ms since the epoch). */
  current: { trusted: TrustedNetmap; appliedAt: number } | undefined;
  /** A verified netmap received while down, applied by `up`. */
  pending: TrustedNetmap | undefined;
  /** The last rejected netmap or failed apply. */
  lastRejection: StatusError | null = null;
}

/** The parts ingest drives. */
export interface IngestDeps {
  node: string;
  /** `pathProbe.port` when probing is configured (checked against this node's netmap entry). */
  probePort: number | undefined;
  /** The node's identity public key (throws when none is loaded). */
  identityKey: () => string;
  state: NodeState;
  trust: NetmapTrust;
  source: NetmapSource;
  hooks: DaemonHooks;
  dataPlane: DataPlane;
  audit: AuditLog;
  metrics: DaemonMetrics;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
}

/**
 * The netmap's way in, as one straight walk: source -> trust (schema, signature, expiry,
 * watermark) -> own entry -> `netmapAccepted` veto -> data plane apply (plan, peers -> routes ->
 * policy -> dns) -> commit (watermark, last good) -> state, metrics, audit, `applied` hook.
 * Every method must run inside the daemon's serialiser.
 */
export class Ingest {
  constructor(private readonly d: IngestDeps) {}

  /** Reads the source (`force`: even if unchanged) and ingests what it returns. */
  async pollOnce(force: boolean): Promise<IngestResult> {
    let fetched;
    try {
      fetched = await this.d.source.fetch(force);
    } catch (err) {
      await this.reject(toRustynetError(err, 'NETMAP_INVALID'));
      return { result: 'rejected', error: toRustynetError(err).toJSON() };
    }
    if (!fetched.changed) return { result: 'none' };
    if (isDeltaEnvelope(fetched.value)) return ingestDelta(this, this.d, fetched.value);
    return this.ingest(fetched.value, fetched.text);
  }

  /**
   * Trust checks, then apply (or defer while down).
   * @param text the JSON text `input` was parsed from, if known (persisted as is).
   */
  async ingest(input: unknown, text?: string): Promise<IngestResult> {
    let trusted: TrustedNetmap;
    try {
      trusted = await this.d.trust.check(input, text);
    } catch (err) {
      const e = toRustynetError(err, 'NETMAP_INVALID');
      const version = input !== null && typeof input === 'object' && 'netmap' in input ? versionOf(input.netmap) : undefined;
      await this.reject(e, version);
      return { result: 'rejected', error: e.toJSON() };
    }
    if (this.d.state.state === 'down') {
      this.d.state.pending = trusted;
      return { result: 'deferred', version: trusted.netmap.version };
    }
    return this.applyTrusted(trusted, 'source');
  }

  /** Applies a verified netmap: own entry, veto, data plane, commit, record. */
  async applyTrusted(trusted: TrustedNetmap, origin: string): Promise<IngestResult> {
    const { state, dataPlane } = this.d;
    const netmap = trusted.netmap;
    if (dataPlane.running && state.current?.trusted.digest === trusted.digest && trusted.status === 'unchanged') {
      return { result: 'unchanged', version: netmap.version };
    }
    const self = netmap.nodes.find((n) => n.id === this.d.node);
    if (!self) {
      const e = new RustynetError('NETMAP_INVALID', `netmap version ${netmap.version} does not contain this node (${this.d.node})`, {
        field: 'nodes',
      });
      await this.reject(e, netmap.version);
      return { result: 'rejected', error: e.toJSON() };
    }
    const veto = await this.d.hooks.runNetmapAccepted(netmap);
    if (veto) {
      const e = new RustynetError('NETMAP_VETOED', `netmap version ${netmap.version} vetoed by ${veto.tap}: ${veto.reason}`, {
        plugin: veto.plugin,
      });
      await this.reject(e, netmap.version);
      return { result: 'rejected', error: e.toJSON() };
    }

    // Crash consistency: the intent is durable before the data plane changes, so a restart never
    // re-applies a map older than what the data plane may hold. No intent, no change.
    try {
      await this.d.trust.recordIntent(trusted);
    } catch (err) {
      return this.applyFailed(
        toRustynetError(err, 'STATE_WRITE_FAILED'),
        netmap.version,
        origin,
        'apply intent not recorded; nothing changed',
      );
    }
    const previous = state.current;
    const t0 = performance.now();
    let result;
    try {
      result = await dataPlane.apply(netmap, self, () => checkSelfProbe(self, this.d.probePort, this.d.identityKey, this.d.logger));
    } catch (err) {
      await this.clearIntent();
      const e = toRustynetError(err, 'BACKEND_FAILED');
      if (e.code === 'INVALID_INPUT') {
        await this.reject(e, netmap.version);
        return { result: 'rejected', error: e.toJSON() };
      }
      return this.applyFailed(e, netmap.version, origin, 'netmap apply failed; keeping the last good state');
    }
    try {
      await this.d.trust.commit(trusted);
    } catch (err) {
      const e = toRustynetError(err, 'STATE_WRITE_FAILED');
      const rolledBack = await this.rollback(previous?.trusted);
      await this.clearIntent();
      return this.applyFailed(
        e,
        netmap.version,
        origin,
        rolledBack
          ? 'netmap applied but not recorded; rolled back to the last good state'
          : 'netmap not recorded and the rollback failed; data plane stopped',
        { rolledBack, ...(previous && { restoredVersion: previous.trusted.netmap.version }) },
      );
    }
    await this.clearIntent();
    const durationMs = performance.now() - t0;
    state.current = { trusted, appliedAt: this.d.clock.now() };
    state.pending = undefined;
    state.state = 'up';
    const plan = result.plan;
    this.d.metrics.applies.inc({ result: result.noop ? 'noop' : 'applied' });
    this.d.metrics.applyDuration.observe(durationMs / 1000);
    this.d.metrics.netmapVersion.set(netmap.version);
    this.d.metrics.peers.set(result.peers);
    const summary = {
      netmapVersion: netmap.version,
      peersUpserted: plan.peers.upsert.length,
      peersRemoved: plan.peers.remove.length,
      routesAdded: plan.routes.add.length,
      routesRemoved: plan.routes.remove.length,
      durationMs,
    };
    this.d.logger.info({ ...summary, steps: result.steps, origin }, 'netmap applied');
    // Queued together: the audit log signs its head once for both records (one durable write),
    // after they are in the log and off the answer's path.
    await Promise.all([
      this.d.audit.appendHeadLater('netmap.accepted', { version: netmap.version, digest: trusted.digest, origin }),
      this.d.audit.appendHeadLater('apply', { ...summary, steps: result.steps }),
    ]);
    await this.d.hooks.runApplied(summary);
    scheduleMemoryTrim(summary.peersUpserted + summary.peersRemoved);
    return { result: 'applied', version: netmap.version };
  }

  /**
   * Re-runs the reconciler on the applied netmap (see `Daemon.reapply`). Never throws: a failure
   * is logged, counted and returned as `failed`; the last good state stays.
   */
  async reapply(): Promise<IngestResult> {
    const current = this.d.state.current;
    if (!this.d.dataPlane.running || !current) return { result: 'none' };
    const version = current.trusted.netmap.version;
    try {
      const r = await this.d.dataPlane.reapply(current.trusted.netmap);
      this.d.metrics.applies.inc({ result: r.noop ? 'noop' : 'applied' });
      return { result: r.noop ? 'unchanged' : 'applied', version };
    } catch (err) {
      const e = toRustynetError(err, 'BACKEND_FAILED');
      this.d.metrics.applies.inc({ result: 'failed' });
      this.d.logger.error({ code: e.code, err: e.message }, 're-apply failed; keeping the last good state');
      return { result: 'failed', version, error: e.toJSON() };
    }
  }

  /**
   * Puts the data plane back to `previous` (the last good map) after a failed commit; with none,
   * or when that fails too, stops it (fail closed).
   * @returns true when `previous` is applied again.
   */
  private async rollback(previous: TrustedNetmap | undefined): Promise<boolean> {
    const self = previous?.netmap.nodes.find((n) => n.id === this.d.node);
    if (previous && self) {
      try {
        await this.d.dataPlane.apply(previous.netmap, self);
        return true;
      } catch (err) {
        this.d.logger.error({ err: toRustynetError(err).message }, 'rollback to the last good netmap failed; stopping the data plane');
      }
    }
    await this.d.dataPlane.stop();
    this.d.state.current = undefined;
    return false;
  }

  /** Deletes the apply intent; a failure is logged (a stale intent is only ever newer). */
  private async clearIntent(): Promise<void> {
    const err = await this.d.trust.clearIntent();
    if (err !== undefined) this.d.logger.warn({ err: toRustynetError(err).message }, 'could not delete the apply intent');
  }

  /** Records a failed apply (status, metric, log, audit where the disk allows) and answers `failed`. */
  private async applyFailed(
    e: RustynetError,
    version: number,
    origin: string,
    what: string,
    extra: Record<string, unknown> = {},
  ): Promise<IngestResult> {
    const { state, dataPlane } = this.d;
    this.d.metrics.applies.inc({ result: 'failed' });
    state.lastRejection = { code: e.code, message: e.message, at: new Date(this.d.clock.now()).toISOString() };
    this.d.logger.error({ code: e.code, err: e.message, version, origin, ...extra }, what);
    await this.d.audit
      .append('apply.failed', { version, code: e.code, message: e.message, ...extra })
      .catch((err: unknown) => this.d.logger.error({ err: String(err) }, 'audit append failed'));
    this.d.source.invalidate();
    if (!dataPlane.running) state.state = 'failed';
    return { result: 'failed', version, error: e.toJSON() };
  }

  /**
   * Restores the whole desired state after a data-plane fault (the watchdog's restore): stops the
   * data plane, then applies the applied netmap again from scratch (start, peers, routes, policy,
   * DNS). Nothing is committed: the recorded state does not change. No-op without a netmap.
   * @throws RustynetError the failing start or apply step's error (the data plane is then stopped
   *   or rolled back; the watchdog retries).
   */
  async restore(): Promise<void> {
    const current = this.d.state.current;
    const self = current?.trusted.netmap.nodes.find((n) => n.id === this.d.node);
    if (!current || !self) return;
    await this.d.dataPlane.stop();
    const r = await this.d.dataPlane.apply(current.trusted.netmap, self);
    this.d.metrics.peers.set(r.peers);
  }

  /** Records a rejected netmap: status, metric, log, audit. Never throws. */
  async reject(err: RustynetError, version?: unknown): Promise<void> {
    this.d.state.lastRejection = { code: err.code, message: err.message, at: new Date(this.d.clock.now()).toISOString() };
    this.d.metrics.rejected.inc({ code: err.code });
    this.d.logger.warn({ code: err.code, field: err.field, err: err.message, version }, 'netmap rejected; keeping the last good state');
    await this.d.audit
      .append('netmap.rejected', { code: err.code, message: err.message, ...(typeof version === 'number' && { version }) })
      .catch((e: unknown) => this.d.logger.error({ err: String(e) }, 'audit append failed'));
  }
}

/** `netmap.version` of an unverified input, if there is one. */
function versionOf(netmap: unknown): unknown {
  return netmap !== null && typeof netmap === 'object' && 'version' in netmap ? netmap.version : undefined;
}
