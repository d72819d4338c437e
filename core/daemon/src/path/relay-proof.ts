import type { NetmapNode, NodeId } from '@rustynet/plugin-api';
import type { PathProber } from './path-types.js';
import { RELAY_PROBE_PORT } from './relay-probe-transport.js';

interface Proof {
  /** A relayed PING is outstanding (sent, not yet scored). */
  sent: boolean;
  /** Rounds since it was sent. */
  rounds: number;
  /** The last scored relayed PING was answered (`undefined`: none scored yet). */
  answered: boolean | undefined;
}

/**
 * Proof of the relay path, per peer: while a direct peer's direct probes fail, the controller
 * also sends a PING through the relay (the relay prober, `channel: 'relay'`, to the peer's daemon
 * via its relay client). A peer moves to the relay only when the last relayed PING scored was
 * answered; otherwise neither path is known to work and it stays where it is.
 *
 * A relayed PING is scored each round: answered → proven; none yet and younger than `maxRounds`
 * rounds → pending (kept, no new one sent); older → unanswered. A late answer counts as proven
 * (a slow relay is a working relay).
 */
export class RelayProof {
  private proofs = new Map<NodeId, Proof>();

  constructor(
    private readonly prober: PathProber,
    private readonly maxRounds: number,
  ) {}

  /** Tells the relay prober every other node (all are addressed by node id through the relay). */
  setPeers(others: readonly NetmapNode[]): void {
    this.prober.setPeers(others.map((n) => ({ id: n.id, identityKey: n.identityKey, target: { host: n.id, port: RELAY_PROBE_PORT } })));
    for (const id of this.proofs.keys()) if (!others.some((n) => n.id === id)) this.proofs.delete(id);
  }

  /** Scores `id`'s outstanding relayed PING (start of a round). */
  score(id: NodeId): void {
    const p = this.proofs.get(id);
    if (!p?.sent) return;
    p.rounds++;
    const r = this.prober.takeResult(id, p.rounds < this.maxRounds);
    if (r.result === 'reply' || r.lateRttMs !== undefined) p.answered = true;
    else if (r.result === 'miss') p.answered = false;
    if (r.result !== 'pending') p.sent = false;
  }

  /** Sends a relayed PING to `id` unless one is pending (end of a round). */
  ping(id: NodeId): void {
    let p = this.proofs.get(id);
    if (!p) {
      p = { sent: false, rounds: 0, answered: undefined };
      this.proofs.set(id, p);
    }
    if (!p.sent && this.prober.ping(id)) {
      p.sent = true;
      p.rounds = 0;
    }
  }

  /** True when the last relayed PING to `id` that was scored was answered. */
  proven(id: NodeId): boolean {
    return this.proofs.get(id)?.answered === true;
  }

  /** What is known of `id`'s relay path: `answered`, `unanswered`, or undefined (not probed). */
  state(id: NodeId): 'answered' | 'unanswered' | undefined {
    const a = this.proofs.get(id)?.answered;
    return a === undefined ? undefined : a ? 'answered' : 'unanswered';
  }

  /** Stops proving `id`'s relay path (its direct probes are answered again, or it is relayed). */
  forget(id: NodeId): void {
    this.proofs.delete(id);
  }

  /** Forgets every peer and outstanding PING. */
  clear(): void {
    this.proofs.clear();
    this.prober.clear();
  }
}
