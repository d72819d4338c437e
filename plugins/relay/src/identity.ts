/**
 * Relay identity (docs/relay.md, "Relay identity"): the messages by which a relay proves the
 * Ed25519 key the signed netmap lists for it (`relays[].identityKey`), and their signatures.
 *
 * A node that knows the relay's key registers with the identity variants of the version-1
 * messages (new type bytes, same version byte, so a relay without a key and nodes without one
 * keep working):
 *
 * ```
 * HELLO_ID       | 01 | 0a | client nonce (32) | padding (>= 126 bytes, zero)          | >= 160
 * CHALLENGE_ID   | 01 | 0b | challenge body (68) | sig (64)                            |    134
 * REGISTER_ID    | 01 | 0c | as REGISTER (challenge body, len, node id, node sig)    |
 * REGISTERED_ID  | 01 | 0d | session timeout ms (u32) | keepalive ms (u32) | sig (64)  |     74
 * REJECT_ID      | 01 | 0e | reason (u8) | sig (64)                                  |     67
 * ```
 *
 * Signature inputs (Ed25519 by the relay's identity key, RFC 8032, `node:crypto`):
 * - CHALLENGE_ID: `"rustynet-relay-challenge-v1\0" ‖ client nonce ‖ challenge body ‖ len(relay id) ‖ relay id`
 * - REGISTERED_ID / REJECT_ID: `"rustynet-relay-reply-v1\0" ‖ type ‖ challenge body ‖ len(node id) ‖ node id ‖ len(relay id) ‖ relay id ‖ reply fields`
 *
 * The client nonce makes the signed challenge fresh; the replies bind that (fresh) challenge
 * body, so neither can be replayed by someone without the relay's key. Decoders never throw.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import {
  CHALLENGE_BODY_SIZE,
  HEADER_SIZE,
  NONCE_SIZE,
  PROTOCOL_VERSION,
  REGISTERED_SIZE,
  REJECT_SIZE,
  SIGNATURE_SIZE,
  hasValidHeader,
  type Challenge,
} from './protocol.js';

/** Message types of the identity variants (byte 1). */
export const IdentityMessageType = {
  HELLO_ID: 0x0a,
  CHALLENGE_ID: 0x0b,
  REGISTER_ID: 0x0c,
  REGISTERED_ID: 0x0d,
  REJECT_ID: 0x0e,
} as const;

/** Smallest HELLO_ID: larger than CHALLENGE_ID, so answering it never amplifies. */
export const HELLO_ID_MIN_SIZE = 160;
/** CHALLENGE_ID: header + challenge body + signature (134 bytes). */
export const CHALLENGE_ID_SIZE = HEADER_SIZE + CHALLENGE_BODY_SIZE + SIGNATURE_SIZE;
/** REGISTERED_ID: REGISTERED + signature (74 bytes). */
export const REGISTERED_ID_SIZE = REGISTERED_SIZE + SIGNATURE_SIZE;
/** REJECT_ID: REJECT + signature (67 bytes). */
export const REJECT_ID_SIZE = REJECT_SIZE + SIGNATURE_SIZE;
/** Domain-separation prefix of the CHALLENGE_ID signature input. */
export const CHALLENGE_SIGNATURE_CONTEXT = 'rustynet-relay-challenge-v1\0';
/** Domain-separation prefix of the REGISTERED_ID / REJECT_ID signature input. */
export const REPLY_SIGNATURE_CONTEXT = 'rustynet-relay-reply-v1\0';

function idBytes(id: string): Buffer {
  const b = Buffer.from(id, 'utf8');
  if (b.length > 255) throw new RangeError('id longer than 255 bytes');
  return Buffer.concat([Buffer.of(b.length), b]);
}

/** What the relay signs in a CHALLENGE_ID. */
export function challengeSignatureInput(clientNonce: Uint8Array, challengeBody: Uint8Array, relayId: string): Buffer {
  return Buffer.concat([
    Buffer.from(CHALLENGE_SIGNATURE_CONTEXT, 'latin1'),
    clientNonce.subarray(0, NONCE_SIZE),
    challengeBody.subarray(0, CHALLENGE_BODY_SIZE),
    idBytes(relayId),
  ]);
}

/** What the relay signs in a REGISTERED_ID or REJECT_ID (`fields`: the reply's bytes after its header). */
export function replySignatureInput(type: number, challengeBody: Uint8Array, nodeId: string, relayId: string, fields: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from(REPLY_SIGNATURE_CONTEXT, 'latin1'),
    Buffer.of(type & 0xff),
    challengeBody.subarray(0, CHALLENGE_BODY_SIZE),
    idBytes(nodeId),
    idBytes(relayId),
    fields,
  ]);
}

/** Builds a HELLO_ID carrying `clientNonce` (32 bytes), zero-padded to `size` (at least {@link HELLO_ID_MIN_SIZE}). */
export function encodeHelloId(clientNonce: Uint8Array, size: number = HELLO_ID_MIN_SIZE): Buffer {
  const b = Buffer.alloc(Math.max(size, HELLO_ID_MIN_SIZE));
  b[0] = PROTOCOL_VERSION;
  b[1] = IdentityMessageType.HELLO_ID;
  b.set(clientNonce.subarray(0, NONCE_SIZE), HEADER_SIZE);
  return b;
}

/** The client nonce of a HELLO_ID; `undefined` when it is not one or is shorter than {@link HELLO_ID_MIN_SIZE}. */
export function decodeHelloId(buf: Buffer): Buffer | undefined {
  if (buf.length < HELLO_ID_MIN_SIZE || !hasValidHeader(buf) || buf[1] !== IdentityMessageType.HELLO_ID) return undefined;
  return buf.subarray(HEADER_SIZE, HEADER_SIZE + NONCE_SIZE);
}

/** Builds a CHALLENGE_ID from the challenge body and the relay's signature. */
export function encodeChallengeId(body: Uint8Array, signature: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(CHALLENGE_ID_SIZE);
  b[0] = PROTOCOL_VERSION;
  b[1] = IdentityMessageType.CHALLENGE_ID;
  b.set(body.subarray(0, CHALLENGE_BODY_SIZE), HEADER_SIZE);
  b.set(signature.subarray(0, SIGNATURE_SIZE), HEADER_SIZE + CHALLENGE_BODY_SIZE);
  return b;
}

/** Decodes a CHALLENGE_ID: the challenge and the signature; `undefined` when malformed. */
export function decodeChallengeId(buf: Buffer): { challenge: Challenge; signature: Buffer } | undefined {
  if (buf.length !== CHALLENGE_ID_SIZE || !hasValidHeader(buf) || buf[1] !== IdentityMessageType.CHALLENGE_ID) return undefined;
  const body = Buffer.from(buf.subarray(HEADER_SIZE, HEADER_SIZE + CHALLENGE_BODY_SIZE));
  return {
    challenge: { nonce: body.subarray(0, NONCE_SIZE), bucket: body.readUInt32BE(NONCE_SIZE), mac: body.subarray(NONCE_SIZE + 4), body },
    signature: Buffer.from(buf.subarray(HEADER_SIZE + CHALLENGE_BODY_SIZE)),
  };
}

/** A decoded signed reply: REGISTERED_ID or REJECT_ID. */
export type SignedReply =
  | { type: 'registered'; sessionTimeoutMs: number; keepaliveIntervalMs: number; fields: Buffer; signature: Buffer }
  | { type: 'reject'; reason: number; fields: Buffer; signature: Buffer };

/** Appends the relay's signature over {@link replySignatureInput} to a REGISTERED or REJECT message, making it REGISTERED_ID / REJECT_ID. */
export function signReply(reply: Buffer, challengeBody: Uint8Array, nodeId: string, relayId: string, key: KeyObject): Buffer {
  const type = reply[1] === 0x04 ? IdentityMessageType.REGISTERED_ID : IdentityMessageType.REJECT_ID;
  const fields = reply.subarray(HEADER_SIZE);
  const sig = sign(null, replySignatureInput(type, challengeBody, nodeId, relayId, fields), key);
  const out = Buffer.concat([reply, sig]);
  out[1] = type;
  return out;
}

/** Decodes REGISTERED_ID / REJECT_ID; `undefined` for anything else or a wrong length. */
export function decodeSignedReply(buf: Buffer): SignedReply | undefined {
  if (!hasValidHeader(buf)) return undefined;
  if (buf[1] === IdentityMessageType.REGISTERED_ID && buf.length === REGISTERED_ID_SIZE) {
    return {
      type: 'registered',
      sessionTimeoutMs: buf.readUInt32BE(2),
      keepaliveIntervalMs: buf.readUInt32BE(6),
      fields: buf.subarray(HEADER_SIZE, REGISTERED_SIZE),
      signature: buf.subarray(REGISTERED_SIZE),
    };
  }
  if (buf[1] === IdentityMessageType.REJECT_ID && buf.length === REJECT_ID_SIZE) {
    return { type: 'reject', reason: buf[2], fields: buf.subarray(HEADER_SIZE, REJECT_SIZE), signature: buf.subarray(REJECT_SIZE) };
  }
  return undefined;
}

/** Verifies an Ed25519 signature; false (never throws) for a malformed key or signature. */
export function verifySignature(data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_SIZE) return false;
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

/**
 * Parses a relay identity key as the netmap carries it (raw 32-byte Ed25519 public key, base64).
 * @throws Error with a reason (the caller names the field).
 */
export function parseRelayIdentityKey(b64: unknown): KeyObject {
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(b64)) throw new Error('must be a raw 32-byte Ed25519 public key in base64');
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32) throw new Error('must be a raw 32-byte Ed25519 public key in base64');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** The raw 32-byte public key of an Ed25519 key object, in base64 (the netmap's form). */
export function publicKeyB64(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const x = (pub.export({ format: 'jwk' }) as { x?: string }).x;
  if (x === undefined) throw new Error('not an Ed25519 key');
  return Buffer.from(x, 'base64url').toString('base64');
}
