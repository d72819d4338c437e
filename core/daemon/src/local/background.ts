/**
 * What the daemon does between operations, outside any API call: the start-time restore of the
 * newest recorded state, the poll loop (source, drift, relay retry), the watchdog's health loop,
 * and failing closed when the applied netmap expires. The {@link Daemon} shell owns the timers'
 * lifetime and the serialiser; these functions own the logic.
 */
import type { ExpiryTarget } from './expiry.js';
import type { NodeState } from './ingest.js';
import type { Session } from './session.js';
import type { TrustedNetmap } from '../trust/netmap-trust.js';
import { toRustynetError } from '../util/errors.js';

/** Runs `fn` after every earlier state-changing operation of the daemon finished. */
export type Serial = <T>(fn: () => Promise<T>) => Promise<T>;

/** Interval of the watchdog's health read (`stats()`), ms. */
export const HEALTH_INTERVAL_MS = 1000;

/**
 * Sleeps `ms` on the session's clock, then runs `tick`, until `signal` fires. A failing tick is
 * logged as `what failed` and the loop goes on.
 */
async function every(s: Session, ms: () => number, signal: AbortSignal, tick: () => Promise<void>): Promise<void> {
  while (!signal.aborted) {
    try {
      await s.components.clock.sleep(ms(), signal);
    } catch {
      break;
    }
    if (signal.aborted) break;
    await tick();
  }
}

/**
 * Every {@link HEALTH_INTERVAL_MS} while running: one watchdog health read inside the serialiser,
 * so it never sees an apply half-way. Faults the backend reports reach the watchdog at once,
 * without waiting for this loop.
 */
export function runHealthLoop(s: Session, signal: AbortSignal, serial: Serial): Promise<void> {
  return every(
    s,
    () => HEALTH_INTERVAL_MS,
    signal,
    () => serial(() => s.watchdog.check()).catch((err: unknown) => s.logger.error({ err: String(err) }, 'health check failed')),
  );
}

/** Drift sync of the applied netmap while up (see `DataPlane.syncDrift`). */
export async function syncDrift(s: Session, node: NodeState): Promise<void> {
  const current = node.current;
  if (!current || node.state !== 'up') return;
  await s.dataPlane.syncDrift(current.trusted.netmap);
}

/**
 * Every `intervalMs` while not down: polls the source; unless that applied (or failed to apply)
 * a netmap, checks the data plane for drift; calls `afterPoll` (the expiry guard follows the
 * applied map); retries a failed relay start when due.
 */
export function runPollLoop(
  s: Session,
  node: NodeState,
  opts: { intervalMs: number; signal: AbortSignal; serial: Serial; afterPoll: () => void },
): Promise<void> {
  const { serial } = opts;
  return every(
    s,
    () => opts.intervalMs,
    opts.signal,
    async () => {
      if (node.state === 'down') return;
      const polled = await serial(() => s.ingest.pollOnce(false)).catch((err: unknown) => {
        s.logger.error({ err: String(err) }, 'netmap poll failed');
        return undefined;
      });
      // An apply just synced policy interfaces and DNS; otherwise check for drift now.
      if (polled?.result !== 'applied' && polled?.result !== 'failed') {
        await serial(() => syncDrift(s, node)).catch((err: unknown) => s.logger.error({ err: String(err) }, 'data-plane sync failed'));
      }
      opts.afterPoll();
      if (s.dataPlane.relayRetryDue()) {
        await serial(() => s.dataPlane.retryRelay()).catch((err: unknown) => s.logger.error({ err: String(err) }, 'relay retry failed'));
      }
    },
  );
}

/**
 * The first netmap after start, newest first, so a restart never re-applies a state older than
 * what the data plane had: an apply intent a dead predecessor recorded (newer than the
 * watermark), then the source, and only when the source brought nothing applicable the last good
 * netmap. An intent that no longer verifies blocks the last good map (fail closed).
 */
export async function restoreRecorded(session: Session, node: NodeState): Promise<void> {
  const intent = await session.trust.recordedIntent();
  if (intent?.kind === 'newer') {
    session.logger.warn({ version: intent.trusted.netmap.version }, 'found an unfinished apply; applying its netmap first');
    await session.ingest.applyTrusted(intent.trusted, 'intent');
  } else if (intent?.kind === 'unverifiable') {
    session.logger.warn(
      { reason: intent.reason },
      'found an unfinished apply that no longer verifies; not re-applying the older last good netmap',
    );
  }
  const polled = await session.ingest.pollOnce(true);
  if (intent || polled.result === 'applied' || node.current) return;
  let lastGood: TrustedNetmap | undefined;
  try {
    lastGood = await session.trust.lastGood();
  } catch (err) {
    session.logger.warn(
      { code: toRustynetError(err).code, err: toRustynetError(err).message },
      'last good netmap no longer verifies; waiting for a new one',
    );
  }
  if (lastGood) await session.ingest.applyTrusted(lastGood, 'last-good');
}

/** What the expiry guard should watch: the applied netmap, or nothing. */
export function expiryTargetOf(node: NodeState): ExpiryTarget | undefined {
  const current = node.current;
  return (
    current && {
      version: current.trusted.netmap.version,
      digest: current.trusted.digest,
      expiresAtMs: Date.parse(current.trusted.netmap.expiresAt),
    }
  );
}

/**
 * Fails closed when the applied netmap expired with no fresher one (docs/operations/faults.md,
 * "Netmap expiry while running"): the data plane stops (relay, DNS, policy, backend: no tunnel,
 * no peers, so nothing passes), state `expired`, an audit record. The source is polled on; a
 * fresh verified map starts everything again. Run it in the serialiser; a no-op when a fresher
 * map was applied meanwhile or the tunnel is down.
 */
export async function failClosedAtExpiry(s: Session, node: NodeState, t: ExpiryTarget): Promise<void> {
  const current = node.current;
  if (!current || current.trusted.digest !== t.digest) return;
  if (node.state === 'down' || node.state === 'expired') return;
  s.logger.error(
    { version: t.version, expiresAt: new Date(t.expiresAtMs).toISOString() },
    'netmap expired and no fresher one arrived: failing closed (tunnel removed) until a fresh netmap arrives',
  );
  await s.dataPlane.stop();
  node.state = 'expired';
  s.source.invalidate();
  await s.audit.append('netmap.expired', { version: t.version }).catch(() => undefined);
}
