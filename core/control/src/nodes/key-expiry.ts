/**
 * Node key expiry: with a node key lifetime set (`rustynet control serve --node-key-lifetime 90d`),
 * a node's keys expire `lifetime` after it last proved them (enrolment, re-enrolment with a
 * pre-auth key, or `rustynet rotate-keys`). A version's netmaps leave out every node whose keys
 * expired at or before that version's `issuedAt`, so all instances on one database build the
 * same maps; {@link KeyExpiryWatch} issues a new version as soon as a key expires, so the
 * expired node drops out of the other nodes' maps within one check period.
 */
import type { Logger, RustynetError } from '@rustynet/plugin-api';
import { authFailed } from '../errors.js';
import type { ControlNode, Snapshot } from '../store/types.js';

/** Longest check period of {@link KeyExpiryWatch} (ms). */
export const KEY_EXPIRY_CHECK_MS = 1_000;

/**
 * The snapshot as netmaps see it: each node gets `keyExpiresAt`, and nodes whose keys expired at
 * or before `s.issuedAt` get `expiredAt` (= the key expiry) and `expiredBy: 'key-lifetime'`.
 * Without a lifetime `s` comes back unchanged.
 */
export function applyKeyExpiry(s: Snapshot, lifetimeMs: number | undefined): Snapshot {
  if (lifetimeMs === undefined) return s;
  const nodes = s.nodes.map((n): ControlNode => {
    const keyExpiresAt = n.keyIssuedAt + lifetimeMs;
    if (n.expiredAt === null && keyExpiresAt <= s.issuedAt)
      return { ...n, keyExpiresAt, expiredAt: keyExpiresAt, expiredBy: 'key-lifetime' };
    return { ...n, keyExpiresAt };
  });
  return { ...s, nodes };
}

/** True when some node still in the maps of `s` has keys expired by `now`. */
export function keyExpiryDue(s: Snapshot, now: number): boolean {
  return s.nodes.some((n) => n.expiredAt === null && n.keyExpiresAt !== undefined && n.keyExpiresAt <= now);
}

/**
 * The error an expired node gets on each request, telling the operator how to bring it back.
 * @returns RustynetError `AUTH_FAILED` with `details.reason` `node-key-expired` or `node-expired`.
 */
export function expiredNodeError(n: ControlNode): RustynetError {
  const at = new Date(n.expiredAt ?? 0).toISOString();
  if (n.expiredBy === 'key-lifetime') {
    return authFailed(
      'node-key-expired',
      `node ${n.id}: its keys expired at ${at} (node key lifetime); re-authenticate: write a new pre-auth key to netmap.control.authKeyFile (the daemon re-enrols by itself), or run \`rustynet rotate-keys\` before expiry next time`,
    );
  }
  return authFailed('node-expired', `node ${n.id} was expired by an admin at ${at}; enrol again with a new pre-auth key`);
}

/** Issues a new version when a key expires (the caller's `bump` does it and refreshes). */
export class KeyExpiryWatch {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly current: () => Snapshot,
    private readonly bump: (now: number) => Promise<unknown>,
    private readonly logger: Logger,
    private readonly periodMs = KEY_EXPIRY_CHECK_MS,
  ) {}

  /** Checks now; issues a new version when due. Returns true if it did. */
  async check(now = Date.now()): Promise<boolean> {
    if (this.busy || !keyExpiryDue(this.current(), now)) return false;
    this.busy = true;
    try {
      const expired = this.current().nodes.filter((n) => n.expiredAt === null && n.keyExpiresAt !== undefined && n.keyExpiresAt <= now);
      await this.bump(now);
      this.logger.warn({ nodes: expired.map((n) => n.id) }, 'node keys expired: nodes left out of netmaps until they re-authenticate');
      return true;
    } finally {
      this.busy = false;
    }
  }

  /** Starts the periodic check. */
  start(): void {
    this.timer = setInterval(() => {
      this.check().catch((err: unknown) => this.logger.error({ err: String(err) }, 'node key expiry check failed'));
    }, this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
