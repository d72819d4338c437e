/**
 * One-time enrolment challenges: random 32-byte values the server hands out and a node signs.
 * Each is consumed by its first use (replay protection) and expires after {@link CHALLENGE_TTL_MS}.
 */
import { randomBytes } from 'node:crypto';
import { authFailed } from '../errors.js';

/** Lifetime of a challenge (ms). */
export const CHALLENGE_TTL_MS = 60_000;

/** Outstanding challenges (in memory; a restart invalidates them, nodes just ask again). */
export class ChallengeStore {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly ttlMs = CHALLENGE_TTL_MS,
    private readonly max = 100_000,
  ) {}

  /** Issues a challenge (base64url) and its expiry (Unix ms). */
  issue(now = Date.now()): { challenge: string; expiresAt: number } {
    if (this.open.size >= this.max) this.prune(now);
    if (this.open.size >= this.max) {
      const oldest = this.open.keys().next();
      if (!oldest.done) this.open.delete(oldest.value);
    }
    const challenge = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttlMs;
    this.open.set(challenge, expiresAt);
    return { challenge, expiresAt };
  }

  /**
   * Consumes a challenge.
   * @throws RustynetError `AUTH_FAILED` (`challenge-unknown` for unknown or already used,
   *   `challenge-expired`).
   */
  consume(challenge: string, now = Date.now()): void {
    const exp = this.open.get(challenge);
    if (exp === undefined) throw authFailed('challenge-unknown', 'unknown or already used enrolment challenge');
    this.open.delete(challenge);
    if (exp <= now) throw authFailed('challenge-expired', 'enrolment challenge has expired; ask for a new one');
  }

  private prune(now: number): void {
    for (const [k, exp] of this.open) if (exp <= now) this.open.delete(k);
  }
}
