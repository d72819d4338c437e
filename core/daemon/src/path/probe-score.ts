import type { NodeId } from '@rustynet/plugin-api';
import type { PathProber, PeerState } from './path-types.js';

/**
 * Scores `id`'s last direct-path PING against its adaptive time-out (in whole rounds of
 * `intervalMs`: one round, the old fixed rule, until RTT and jitter say more): a reply counts a
 * success and clears the misses; a miss counts a miss and clears the successes; a late reply (a
 * slow path, not a broken one) is an RTT sample and clears the misses; pending counts nothing.
 */
export function scoreProbe(prober: PathProber, id: NodeId, s: PeerState, intervalMs: number): void {
  const rounds = Math.max(1, Math.ceil(s.rtt.timeoutMs() / intervalMs));
  s.probeRounds = (s.probeRounds ?? 0) + 1;
  const r = prober.takeResult(id, s.probeRounds < rounds);
  s.probePending = r.result === 'pending';
  if (r.lateRttMs !== undefined) {
    s.rtt.sample(r.lateRttMs);
    s.misses = 0;
  }
  if (r.result === 'reply') {
    s.successes++;
    s.misses = 0;
    if (r.rttMs !== undefined) {
      s.lastRttMs = r.rttMs;
      s.rtt.sample(r.rttMs);
    }
  } else if (r.result === 'miss') {
    s.misses++;
    s.successes = 0;
  }
}
