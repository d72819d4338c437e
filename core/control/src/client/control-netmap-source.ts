/**
 * `ControlNetmapSource`: the daemon's `NetmapSource` (see @rustynet/daemon) backed by the
 * control plane. A background loop long-polls with {@link ControlClient.poll} and keeps the
 * newest signed netmap; the daemon's own poll loop calls {@link fetch}, which never blocks on
 * the network. `onUpdate` fires when a new map arrives, so the daemon can ingest at once
 * instead of waiting for its next tick. Maps are passed on unverified: the daemon's trust
 * checks signature, schema, expiry and watermark.
 *
 * The daemon never imports this package (it would be a cycle: control depends on daemon);
 * the binary that builds the daemon (core/cli's rustynetd) constructs this source and hands it
 * to the daemon as its NetmapSource.
 */
import type { ControlRefusal, ControlStatus, NetmapFetch, NetmapSource } from '@rustynet/daemon';
import { isRustynetError, type RustynetError, type SignedNetmap, type SignedNetmapDelta } from '@rustynet/plugin-api';
import type { ControlClient } from './control-client.js';

/** Options of {@link ControlNetmapSource}. */
export interface ControlNetmapSourceOptions {
  /** Long-poll hold asked of the server (ms); default 25 s. */
  waitMs?: number;
  /** First retry delay after an error (ms); doubles up to `maxRetryMs`. Default 1 s. */
  minRetryMs?: number;
  /** Longest retry delay (ms); default 30 s. */
  maxRetryMs?: number;
  /**
   * Ask for signed deltas (`delta=1`; default false): the server may then answer a poll with the
   * delta from the last version received; the daemon applies it, or calls {@link ControlNetmapSource.fetchFull}.
   */
  deltas?: boolean;
  /** Called after a new signed netmap arrived. */
  onUpdate?: () => void;
  /** Called on each failed poll (for logs). Never given secrets. */
  onError?: (err: RustynetError | Error) => void;
}

/** A NetmapSource fed by long-polls to the control plane. */
export class ControlNetmapSource implements NetmapSource {
  private latest: { version: number; text: string } | undefined;
  private deliveredVersion = 0;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  /** Set when the control plane refused this node for good (`UNKNOWN_PEER`: removed). */
  revoked: RustynetError | undefined;
  private refusal: ControlRefusal | null = null;

  constructor(
    private readonly client: ControlClient,
    private readonly opts: ControlNetmapSourceOptions = {},
  ) {}

  get description(): string {
    return `control plane (node ${this.client.identityKey})`;
  }

  /** Starts the background long-poll loop (idempotent). */
  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /** Stops the loop and waits for it to end. */
  async stop(): Promise<void> {
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const min = this.opts.minRetryMs ?? 1_000;
    const max = this.opts.maxRetryMs ?? 30_000;
    let delay = min;
    while (!signal.aborted) {
      try {
        const signed = await this.client.poll(this.latest?.version ?? 0, {
          waitMs: this.opts.waitMs ?? 25_000,
          signal,
          delta: this.opts.deltas ?? false,
        });
        delay = min;
        this.refusal = null;
        const version = signed ? versionOf(signed) : undefined;
        if (signed && version !== undefined && (this.latest === undefined || version > this.latest.version)) {
          this.latest = { version, text: JSON.stringify(signed) };
          this.opts.onUpdate?.();
        }
      } catch (err) {
        if (signal.aborted) break;
        const e = err instanceof Error ? err : new Error(String(err));
        this.refusal = refusalOf(e, this.refusal);
        this.opts.onError?.(e);
        if (isRustynetError(err, 'UNKNOWN_PEER')) {
          this.revoked = err;
          break;
        }
        // Full jitter: spread reconnects of many daemons after a control-plane restart.
        await sleep(Math.floor(Math.random() * delay), signal);
        delay = Math.min(max, delay * 2);
      }
    }
  }

  /**
   * This node's standing: the refusal while the control plane refuses its polls (keys expired,
   * expired or removed by an admin; cleared by the next successful poll), else null.
   */
  controlStatus(): ControlStatus {
    return { refusal: this.refusal };
  }

  /** The newest map when it is newer than the last one returned (or any with `force`). Never blocks on the network. */
  fetch(force = false): Promise<NetmapFetch> {
    const l = this.latest;
    if (!l || (!force && l.version <= this.deliveredVersion)) return Promise.resolve({ changed: false });
    this.deliveredVersion = l.version;
    return Promise.resolve({ changed: true, value: JSON.parse(l.text) as unknown, text: l.text });
  }

  /**
   * Fetches the full signed netmap now (one poll from version 0 that the server answers at once),
   * after a delta the daemon could not apply. Blocks on the network.
   * @throws RustynetError as `ControlClient.poll`.
   */
  async fetchFull(): Promise<NetmapFetch> {
    const signed = await this.client.poll(0, { waitMs: 0 });
    if (!signed) return { changed: false };
    const text = JSON.stringify(signed);
    return { changed: true, value: JSON.parse(text) as unknown, text };
  }

  /** Makes the next fetch return the newest map again (after a failed apply). */
  invalidate(): void {
    this.deliveredVersion = 0;
  }
}

/** The version a polled signed netmap or signed delta brings (unverified; the daemon checks it). */
function versionOf(signed: SignedNetmap | SignedNetmapDelta): number | undefined {
  const v = 'delta' in signed ? (signed.delta as Partial<SignedNetmapDelta['delta']> | undefined)?.version : signed.netmap?.version;
  return typeof v === 'number' ? v : undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** What the operator does for each refusal (docs/operations/key-rotation.md, "Node key expiry"). */
export const REFUSAL_ACTIONS: Readonly<Record<ControlRefusal['reason'], string>> = {
  'node-key-expired':
    're-authenticate: on the control host `rustynet control keys create --expires 1h > authkey`, then on this node ' +
    '`install -m 0600 authkey <netmap.control.authKeyFile>`; rustynetd re-enrols by itself (same node id and addresses). ' +
    'Next time run `rustynet rotate-keys` before the keys expire',
  'node-expired':
    'enrol again: on the control host `rustynet control keys create --expires 1h > authkey`, then on this node ' +
    '`install -m 0600 authkey <netmap.control.authKeyFile>`; rustynetd re-enrols by itself',
  'node-removed':
    'the node was removed from the control plane: enrol it anew with a new pre-auth key (remove the enrolment record ' +
    'control-enrolment.json from the state directory and restart rustynetd)',
};

/**
 * The refusal a failed poll means, or null when the error is not a refusal of this node (the
 * control plane away, a bad answer, ...: the previous refusal then stays). `since` is kept while
 * the reason stays the same.
 */
export function refusalOf(err: Error, previous: ControlRefusal | null): ControlRefusal | null {
  let reason: ControlRefusal['reason'] | undefined;
  if (isRustynetError(err, 'UNKNOWN_PEER')) reason = 'node-removed';
  else if (isRustynetError(err, 'AUTH_FAILED')) {
    const r = err.details?.['reason'];
    if (r === 'node-key-expired' || r === 'node-expired') reason = r;
  }
  if (reason === undefined) return previous;
  return {
    reason,
    message: err.message,
    since: previous?.reason === reason ? previous.since : new Date().toISOString(),
    action: REFUSAL_ACTIONS[reason],
  };
}
