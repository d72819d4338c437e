/**
 * The client side of relay identity (docs/relay.md, "Relay identity"): registration with a relay
 * whose netmap entry lists an `identityKey`. The relay must sign its CHALLENGE (over a fresh
 * client nonce) and its REGISTERED / REJECT answer; an unsigned answer, or a signature that does
 * not verify against the netmap key, is a definite refusal of that relay (RELAY_FAILED,
 * `details.reason` `RELAY_IDENTITY`): the node sends it no REGISTER (or, after a bad reply,
 * forwards nothing through it).
 */
import { randomBytes } from 'node:crypto';
import { RustynetError, type NetmapRelay, type NodeId } from '@rustynet/plugin-api';
import {
  NONCE_SIZE,
  RejectReason,
  decodeChallenge,
  decodeRegistered,
  decodeReject,
  encodeHello,
  encodeRegister,
  registerSignatureInput,
  type Challenge,
} from '../protocol.js';
import {
  IdentityMessageType,
  challengeSignatureInput,
  decodeChallengeId,
  decodeSignedReply,
  encodeHelloId,
  parseRelayIdentityKey,
  replySignatureInput,
  verifySignature,
} from '../identity.js';

/** `details.reason` of a relay that failed its identity check. */
export const RELAY_IDENTITY_REASON = 'RELAY_IDENTITY';

/** Sends `msg` to the relay and waits for an answer `accept` maps to a value (the link's exchange). */
export type Exchange = <T>(msg: Buffer, accept: (m: Buffer) => T | undefined) => Promise<T>;

/** The answer to a REGISTER_ID, verified. */
export type IdentityAnswer = { ok: true; keepaliveMs: number } | { ok: false; reason: number };

type Checked<T> = { value: T } | { bad: string };

/** The RELAY_FAILED error of a relay that failed its identity check, naming the relay and why. */
export function identityRefusal(relay: NetmapRelay, nodeId: NodeId, why: string): RustynetError {
  return new RustynetError(
    'RELAY_FAILED',
    `relay ${relay.id} (${relay.endpoint.host}:${relay.endpoint.port}) failed its identity check: ${why}; not registering with it`,
    { details: { relay: relay.id, node: nodeId, reason: RELAY_IDENTITY_REASON, definite: true } },
  );
}

/**
 * Registers `nodeId` with `relay` (which has `relay.identityKey`) through `exchange`:
 * HELLO_ID, verified CHALLENGE_ID, REGISTER_ID signed by `sign`, verified REGISTERED_ID / REJECT_ID.
 * @throws RustynetError RELAY_FAILED (identity refusal, see {@link identityRefusal}); what `exchange` and `sign` throw.
 */
export async function registerWithIdentity(
  relay: NetmapRelay,
  nodeId: NodeId,
  sign: (data: Uint8Array) => Promise<Uint8Array>,
  exchange: Exchange,
): Promise<{ answer: IdentityAnswer; signature: Uint8Array }> {
  const key = parseRelayIdentityKey(relay.identityKey);
  const clientNonce = randomBytes(NONCE_SIZE);
  const c = await exchange<Checked<Challenge>>(encodeHelloId(clientNonce), (m) => {
    const signed = decodeChallengeId(m);
    if (signed !== undefined) {
      return verifySignature(challengeSignatureInput(clientNonce, signed.challenge.body, relay.id), key, signed.signature)
        ? { value: signed.challenge }
        : { bad: "its CHALLENGE signature does not verify against the netmap's identityKey" };
    }
    return decodeChallenge(m) !== undefined ? { bad: 'it answered with an unsigned CHALLENGE (no relay identity key)' } : undefined;
  });
  if ('bad' in c) throw identityRefusal(relay, nodeId, c.bad);
  const body = c.value.body;
  const signature = await sign(registerSignatureInput(body, nodeId, relay.id));
  const msg = encodeRegister(body, nodeId, signature);
  msg[1] = IdentityMessageType.REGISTER_ID;
  const a = await exchange<Checked<IdentityAnswer>>(msg, (m) => {
    const r = decodeSignedReply(m);
    if (r !== undefined) {
      const type = r.type === 'registered' ? IdentityMessageType.REGISTERED_ID : IdentityMessageType.REJECT_ID;
      if (!verifySignature(replySignatureInput(type, body, nodeId, relay.id, r.fields), key, r.signature)) {
        return {
          bad: `its ${r.type === 'registered' ? 'REGISTERED' : 'REJECT'} signature does not verify against the netmap's identityKey`,
        };
      }
      return { value: r.type === 'registered' ? { ok: true, keepaliveMs: r.keepaliveIntervalMs } : { ok: false, reason: r.reason } };
    }
    if (decodeRegistered(m) !== undefined) return { bad: 'it answered with an unsigned REGISTERED' };
    const j = decodeReject(m);
    if (j === undefined || j === RejectReason.NOT_REGISTERED) return undefined;
    return { bad: 'it answered with an unsigned REJECT' };
  });
  if ('bad' in a) throw identityRefusal(relay, nodeId, a.bad);
  return { answer: a.value, signature };
}

/**
 * Protocol v1 registration with a relay the netmap lists without an identity key: HELLO,
 * CHALLENGE, REGISTER, REGISTERED / REJECT (unauthenticated relay).
 */
export async function registerWithoutIdentity(
  relay: NetmapRelay,
  nodeId: NodeId,
  sign: (data: Uint8Array) => Promise<Uint8Array>,
  exchange: Exchange,
): Promise<IdentityAnswer> {
  const challenge = await exchange<Challenge>(encodeHello(), (m) => decodeChallenge(m));
  const sig = await sign(registerSignatureInput(challenge.body, nodeId, relay.id));
  return exchange<IdentityAnswer>(encodeRegister(challenge.body, nodeId, sig), (m) => {
    const r = decodeRegistered(m);
    if (r) return { ok: true, keepaliveMs: r.keepaliveIntervalMs };
    const j = decodeReject(m);
    return j === undefined || j === RejectReason.NOT_REGISTERED ? undefined : { ok: false, reason: j };
  });
}
