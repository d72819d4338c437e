/**
 * Which REJECT answers to a registration are definite refusals (retrying cannot help) and the
 * error a refused registration throws (docs/relay.md, "Refusals").
 */
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import { RejectReason, type RejectReasonName } from '../protocol.js';

/**
 * REJECT reasons that are a definite refusal of this node's registration: retrying with the same
 * node id and signing key cannot change the answer (only a new netmap at the relay can), so `start`
 * does not wait for its deadline. Every other failure (no answer, an expired or lost token, `BUSY`,
 * `SESSION_LIMIT`) is transient and retried with back-off. Values explain the reason to an operator.
 */
export const DEFINITE_REFUSALS: Readonly<Partial<Record<RejectReasonName, string>>> = Object.freeze({
  BAD_SIGNATURE: "the node's identity key does not match the netmap",
  UNKNOWN_NODE: "the node is not in the relay's netmap",
});

/** Name of a REJECT reason code (`reason <n>` for codes this version does not know). */
function rejectReasonName(code: number): string {
  return Object.entries(RejectReason).find(([, v]) => v === code)?.[0] ?? `reason ${code}`;
}

/** True when `err` is a definite refusal thrown by a registration attempt (see {@link DEFINITE_REFUSALS}). */
export function isDefiniteRefusal(err: unknown): err is RustynetError {
  return isRustynetError(err, 'RELAY_FAILED') && (err.details as { definite?: unknown } | undefined)?.definite === true;
}

/**
 * The error of a registration that relay `relay` refused with REJECT `code` for node `node`:
 * `RELAY_FAILED` with `details` `{ relay, node, reason, definite }` (`definite`: see
 * {@link DEFINITE_REFUSALS}).
 */
export function refusalError(relay: string, node: string, code: number): RustynetError {
  const name = rejectReasonName(code);
  const why = DEFINITE_REFUSALS[name as RejectReasonName];
  return new RustynetError('RELAY_FAILED', `relay ${relay} refused registration of node ${node}: ${name}${why ? ` (${why})` : ''}`, {
    details: { relay, node, reason: name, definite: why !== undefined },
  });
}
