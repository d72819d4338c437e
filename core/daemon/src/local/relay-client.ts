import type { CallOptions, Clock, Logger, NetmapRelay, RelayPlugin } from '@rustynet/plugin-api';
import type { PathController } from '../path/path-controller.js';
import { toRustynetError } from '../util/errors.js';
import type { KindPlugin } from './plugin-set.js';

/** First wait before a failed relay start is tried again, ms (doubles up to 60 s). */
export const RELAY_RETRY_INITIAL_MS = 5_000;
/** Longest wait between relay start retries, ms. */
export const RELAY_RETRY_MAX_MS = 60_000;
/** Deadline of a relay start retry, ms (it runs in the daemon's serialiser). */
export const RELAY_RETRY_TIMEOUT_MS = 5_000;

/** Options of {@link RelayClient}. */
export interface RelayClientOptions {
  nodeId: string;
  /** Signs the relay's challenges with the node's identity key. */
  sign: (challenge: Uint8Array) => Uint8Array;
  /** The path controller, told when switching becomes possible or impossible. */
  path: PathController | undefined;
  /** Why switching is impossible whatever the relay does (no relay plugin, backend caps). */
  switchingUnsupported: string | undefined;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
  callOptions: () => CallOptions;
}

/**
 * The relay plugin's life cycle inside the data plane. A netmap without relays, or a relay that
 * cannot be reached, does not stop the mesh: the direct paths keep working and path switching is
 * disabled (logged) until a start succeeds; a failed start is retried with back-off
 * ({@link RELAY_RETRY_INITIAL_MS} doubling to {@link RELAY_RETRY_MAX_MS}).
 */
export class RelayClient {
  /** Set while the relay client failed to start: when to try again. */
  private retry: { at: number; delayMs: number } | undefined;

  constructor(
    private readonly relay: KindPlugin<RelayPlugin>,
    private readonly opts: RelayClientOptions,
  ) {}

  /** True when a failed start is due to be retried now. */
  retryDue(): boolean {
    return this.retry !== undefined && this.opts.clock.now() >= this.retry.at;
  }

  /** Starts the relay client with `relays`; never throws (a failure schedules a retry). */
  async start(relays: NetmapRelay[], timeoutMs?: number): Promise<void> {
    this.retry = undefined;
    const path = this.opts.path;
    if (relays.length === 0) {
      path?.setDisabled(this.opts.switchingUnsupported ?? 'the netmap lists no relays');
      return;
    }
    try {
      await this.relay.instance.start(
        { nodeId: this.opts.nodeId, relays, sign: (challenge) => Promise.resolve(this.opts.sign(challenge)) },
        timeoutMs !== undefined ? { timeoutMs } : this.opts.callOptions(),
      );
      path?.setDisabled(this.opts.switchingUnsupported);
    } catch (err) {
      const e = toRustynetError(err, 'RELAY_FAILED');
      this.opts.logger.error(
        { plugin: this.relay.loaded.manifest.name, code: e.code, err: e.message },
        'relay start failed; peers stay on the direct path, retrying',
      );
      this.retry = { at: this.opts.clock.now() + RELAY_RETRY_INITIAL_MS, delayMs: RELAY_RETRY_INITIAL_MS };
      path?.setDisabled(this.opts.switchingUnsupported ?? `relay start failed: ${e.code}`);
    }
  }

  /** Restarts with a new relay set, then re-opens the relayed peers' paths (or returns them to direct). */
  async restart(relays: NetmapRelay[]): Promise<void> {
    await this.relay.instance
      .stop(this.opts.callOptions())
      .catch((e: unknown) => this.opts.logger.warn({ err: String(e) }, 'relay stop failed'));
    await this.start(relays);
    await this.opts.path?.reopenRelayed();
  }

  /**
   * Tries a failed start again (deadline `min(callTimeoutMs, RELAY_RETRY_TIMEOUT_MS)`); another
   * failure doubles the wait. With no relays to start, the retry is dropped.
   */
  async retryStart(relays: NetmapRelay[] | undefined, callTimeoutMs: number): Promise<void> {
    const retry = this.retry;
    if (!retry || !relays || relays.length === 0) {
      this.retry = undefined;
      return;
    }
    await this.relay.instance.stop(this.opts.callOptions()).catch(() => undefined);
    await this.start(relays, Math.min(callTimeoutMs, RELAY_RETRY_TIMEOUT_MS));
    if (this.retry) {
      const delayMs = Math.min(retry.delayMs * 2, RELAY_RETRY_MAX_MS);
      this.retry = { at: this.opts.clock.now() + delayMs, delayMs };
    }
  }

  /** Stops the relay plugin and forgets a pending retry. @throws what the plugin's stop throws. */
  async stop(): Promise<void> {
    this.retry = undefined;
    await this.relay.instance.stop(this.opts.callOptions());
  }
}
